"""An OpenAI Agents SDK agent under Kitaru: a tool approval that waits with no process.

Run it with ``python examples/openai_agents_approval.py`` in the project's virtual
environment (``pip install 'kitaru[openai-agents]'``). With ``OPENAI_API_KEY`` set it talks
to OpenAI; without one it starts the fake Responses API the test suite uses
(``tests/fakes/model_api.py``) on loopback and points the SDK's own client at it, so it
runs offline. What it does:

1. runs the flow: the agent asks to call ``refund``, which needs approval; the run ends
   ``waiting`` on ``approve_tool`` and no process is left (the agent's RunState is a
   checkpoint's value in the store, not in the wait);
2. approves through the client (``kitaru executions input ... --value true`` does the
   same), which resumes the execution in a new process: the refund runs once, and the
   first model call is not made again.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from pathlib import Path

from agents import Agent, function_tool

from kitaru import KitaruClient, flow
from kitaru.adapters.openai_agents import KitaruRunner, OpenAIRunRequest, wait_for_approval


@function_tool(needs_approval=True)
def refund(amount: int) -> str:
    """Refund the customer."""
    print(f"  refunding {amount} (this would move money)")
    return f"refunded {amount}"


reviewer = Agent(name="reviewer", instructions="Review the case; refund when fair.",
                 model="gpt-5", tools=[refund])
runner = KitaruRunner(reviewer, checkpoint_strategy="runner_call")


@flow
def review_flow(case: str) -> str:
    # One Runner call == one durable checkpoint.
    result = runner.run_sync(OpenAIRunRequest.start(case))
    # Native OpenAI approval bridges to a durable kitaru.wait(); compute is released.
    if result.status == "interrupted":
        resume = wait_for_approval(result, name="approve_tool", timeout=600)
        result = runner.run_sync(resume)
    return str(result.final_output)


def _offline(stack: ExitStack) -> object | None:
    """Start the fake Responses API when no key is set; return it (None: the real one)."""
    if os.environ.get("OPENAI_API_KEY"):
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fakes.model_api import ModelAPI, function_call, message, serve, tool_outputs

    def model(body: dict[str, object]) -> list[dict[str, object]]:
        outputs = tool_outputs(body)
        if outputs:
            return [message(f"Done: {', '.join(outputs.values())}.")]
        return [function_call("refund", {"amount": 25}, "call_refund_1")]

    api = stack.enter_context(serve(ModelAPI(model)))
    os.environ.update(OPENAI_BASE_URL=api.base_url, OPENAI_API_KEY="sk-offline",
                      OPENAI_AGENTS_DISABLE_TRACING="1")
    print(f"(offline: a fake Responses API on {api.base_url})")
    return api


def main() -> None:
    with ExitStack() as stack:
        api = _offline(stack)
        handle = review_flow.run("Case C-001: the parcel arrived broken")
        client = KitaruClient()
        info = client.executions.get(handle.exec_id)
        wait = info.pending_wait
        print(f"execution {handle.exec_id}: {info.status} on {wait.name if wait else '?'}")
        print(f"  question: {wait.question if wait else ''}")
        client.executions.input(handle.exec_id, wait="approve_tool", value=True)
        print(f"result: {handle.wait(timeout=120)}")
        if api is not None:
            print(f"model calls made: {api.count('/responses')}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
