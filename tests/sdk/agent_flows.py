"""Flows around OpenAI Agents SDK agents (tests point the SDK at a fake Responses API)."""

from __future__ import annotations

import os
from pathlib import Path

from agents import Agent, function_tool

from kitaru import flow
from kitaru.adapters.openai_agents import KitaruRunner, OpenAIRunRequest, wait_for_approval


def _count(name: str) -> None:
    with open(Path(os.environ["KITARU_TEST_COUNTERS"]) / name, "a") as counter:
        counter.write("x")


@function_tool(needs_approval=True)
def refund(amount: int) -> str:
    """Refund the customer."""
    _count("refund")
    return f"refunded {amount}"


@function_tool(failure_error_function=None)
def lookup(order: str) -> str:
    """Look an order up (fails until the gate file exists)."""
    _count("lookup")
    if not (Path(os.environ["KITARU_TEST_COUNTERS"]) / "gate-fixed").exists():
        raise RuntimeError("the order service is down")
    return f"order {order}: shipped"


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


tracker = Agent(name="tracker", instructions="Track orders.", model="gpt-5",
                tools=[lookup, refund])
per_call = KitaruRunner(tracker, checkpoint_strategy="calls")


@flow
def track_flow(case: str) -> str:
    result = per_call.run_sync(case)
    while result.status == "interrupted":
        result = per_call.run_sync(wait_for_approval(result))
    return str(result.final_output)


@flow
async def review_async(case: str) -> str:
    result = await runner.run(case)
    if result.status == "interrupted":
        result = await runner.run(wait_for_approval(result))
    return str(result.final_output)
