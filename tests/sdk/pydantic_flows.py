"""Flows around PydanticAI agents, with PydanticAI's own test models (no network)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_ai import Agent, CallDeferred, RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

from kitaru import flow
from kitaru.adapters.pydantic_ai import KitaruAgent


def _count(name: str) -> None:
    with open(Path(os.environ["KITARU_TEST_COUNTERS"]) / name, "a") as counter:
        counter.write("x")


def _returns(messages: list[ModelMessage]) -> dict[str, str]:
    return {part.tool_name: str(part.content) for message in messages
            for part in getattr(message, "parts", []) if isinstance(part, ToolReturnPart)}


def support_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Call each tool the agent has once, in order; then answer with what they returned."""
    _count("model")
    returned = _returns(messages)
    for tool in info.function_tools:
        if tool.name not in returned:
            args = {"order": "A-7"} if tool.name == "lookup" else {"amount": 5}
            call = ToolCallPart(tool.name, args, tool_call_id=f"pyd_{tool.name}")
            return ModelResponse(parts=[call])
    return ModelResponse(parts=[TextPart("done: " + "; ".join(
        returned[k] for k in sorted(returned)))])


support = Agent(FunctionModel(support_model, model_name="support-model"), name="support")


@support.tool_plain
def lookup(order: str) -> str:
    """Look an order up (fails until the gate file exists)."""
    _count("lookup")
    if not (Path(os.environ["KITARU_TEST_COUNTERS"]) / "gate-fixed").exists():
        raise RuntimeError("the order service is down")
    return f"order {order}: shipped"


@support.tool_plain(requires_approval=True)
def refund(amount: int) -> str:
    """Refund the customer."""
    _count("refund")
    return f"refunded {amount}"


durable_support = KitaruAgent(support)


@flow
def support_flow(question: str) -> str:
    return str(durable_support.run_sync(question).output)


asker = Agent(FunctionModel(support_model, model_name="asker-model"), name="asker")


@asker.tool
def ask_warehouse(ctx: RunContext[None], amount: int) -> str:
    """Ask the warehouse (answered outside the agent)."""
    raise CallDeferred


turn_asker = KitaruAgent(asker, checkpoint_strategy="turn")


@flow
def warehouse_flow(question: str) -> str:
    return str(turn_asker.run_sync(question).output)


adder = Agent(TestModel(), name="adder")


@adder.tool_plain
def add(a: int, b: int) -> int:
    """Add two numbers."""
    _count("add")
    return a + b


@flow
def add_flow() -> str:
    return str(KitaruAgent(adder).run_sync("add two numbers").output)
