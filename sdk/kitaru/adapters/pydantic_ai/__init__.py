"""Kitaru under PydanticAI (``pip install 'kitaru[pydantic-ai]'``; PydanticAI 2.x).

```python
from pydantic_ai import Agent
from kitaru import flow
from kitaru.adapters.pydantic_ai import KitaruAgent

support = KitaruAgent(Agent("openai:gpt-5", name="support", tools=[...]))

@flow
def answer(question: str) -> str:
    return support.run_sync(question).output
```

Built on PydanticAI's own durable-engine API (:class:`KitaruDurability`): PydanticAI
decides what a durable unit is and names it; Kitaru stores each as a checkpoint.
Tested against ``pydantic-ai-slim`` 2.68.
"""

from kitaru.adapters.approvals import ToolDecision
from kitaru.adapters.pydantic_ai._agent import KitaruAgent, KitaruRunResult, TurnResult
from kitaru.adapters.pydantic_ai._durability import KitaruDurability

__all__ = ["KitaruAgent", "KitaruDurability", "KitaruRunResult", "ToolDecision", "TurnResult"]
