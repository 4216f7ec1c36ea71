"""Kitaru under the OpenAI Agents SDK (``pip install 'kitaru[openai-agents]'``).

```python
from agents import Agent
from kitaru import flow
from kitaru.adapters.openai_agents import KitaruRunner, OpenAIRunRequest, wait_for_approval

reviewer = Agent(name="reviewer", instructions="Review the draft.", model="gpt-5")
runner = KitaruRunner(reviewer, checkpoint_strategy="runner_call")

@flow
def review_flow(case: str) -> str:
    result = runner.run_sync(OpenAIRunRequest.start(case))
    if result.status == "interrupted":
        resume = wait_for_approval(result, name="approve_tool", timeout=600)
        result = runner.run_sync(resume)
    return str(result.final_output)
```

Tested against ``openai-agents`` 0.24.
"""

from kitaru.adapters.approvals import ToolDecision
from kitaru.adapters.openai_agents._approval import wait_for_approval
from kitaru.adapters.openai_agents._runner import KitaruRunner
from kitaru.adapters.openai_agents._types import (
    Interruption,
    OpenAIRunRequest,
    OpenAIRunResult,
    UsageSummary,
)

__all__ = [
    "Interruption",
    "KitaruRunner",
    "OpenAIRunRequest",
    "OpenAIRunResult",
    "ToolDecision",
    "UsageSummary",
    "wait_for_approval",
]
