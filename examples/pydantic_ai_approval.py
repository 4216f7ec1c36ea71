"""A PydanticAI agent under Kitaru: each model request and tool call a checkpoint, and a
tool that needs approval answered through a durable wait.

Run it with ``python examples/pydantic_ai_approval.py`` in the project's virtual
environment (``pip install 'kitaru[pydantic-ai]'``). It runs offline: the model is
PydanticAI's own ``FunctionModel`` (swap in ``"openai:gpt-5"`` or any model name).

1. runs the flow: the agent looks the order up, then asks to refund, which needs
   approval; the run ends ``waiting`` on ``approve_tool`` with no process left;
2. approves through the client (``kitaru executions input ... --value true`` does the
   same), which resumes the execution in a new process: the refund runs once, and the
   model requests and the lookup already made are read back, not made again.
"""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from kitaru import KitaruClient, flow
from kitaru.adapters.pydantic_ai import KitaruAgent


def offline_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Look up, then refund, then answer: what a real model would decide here."""
    returned = [p for m in messages for p in getattr(m, "parts", [])
                if isinstance(p, ToolReturnPart)]
    done = {p.tool_name for p in returned}
    if "lookup" not in done:
        return ModelResponse(parts=[ToolCallPart("lookup", {"order": "A-7"}, tool_call_id="t1")])
    if "refund" not in done:
        return ModelResponse(parts=[ToolCallPart("refund", {"amount": 25}, tool_call_id="t2")])
    return ModelResponse(parts=[TextPart("; ".join(str(p.content) for p in returned))])


support = Agent(FunctionModel(offline_model), name="support",
                instructions="Help with orders; refund broken parcels.")


@support.tool_plain
def lookup(order: str) -> str:
    """Look an order up."""
    print(f"  looking up {order} (this would call the order service)")
    return f"order {order}: delivered broken"


@support.tool_plain(requires_approval=True)
def refund(amount: int) -> str:
    """Refund the customer."""
    print(f"  refunding {amount} (this would move money)")
    return f"refunded {amount}"


durable = KitaruAgent(support, checkpoint_strategy="calls")


@flow
def support_flow(question: str) -> str:
    return str(durable.run_sync(question).output)


def main() -> None:
    handle = support_flow.run("My parcel A-7 arrived broken")
    client = KitaruClient()
    info = client.executions.get(handle.exec_id)
    wait = info.pending_wait
    print(f"execution {handle.exec_id}: {info.status} on {wait.name if wait else '?'}")
    print(f"  question: {wait.question if wait else ''}")
    client.executions.input(handle.exec_id, wait="approve_tool", value=True)
    print(f"result: {handle.wait(timeout=120)}")
    for c in client.executions.get(handle.exec_id).checkpoints:
        print(f"  {c.id:55} {c.type:10} run {c.run}")


if __name__ == "__main__":
    main()
