"""``checkpoint_strategy="calls"``: the agent's model and function tools as checkpoints.

The agent is cloned with its model wrapped in :class:`DurableModel` and each
``FunctionTool``'s ``on_invoke_tool`` wrapped, so every model response and every tool
result is stored as it comes. Model responses are stored as JSON (the Responses API
output items and the usage), never pickle. A model call's checkpoint argument is a JSON
description of the request (instructions, input, tool names, output type): a resumed
run that asks something else diverges with an error instead of reusing a wrong answer.
Tool checkpoints are named after the model-issued call id.

Handoffs are not wrapped: a handed-off agent's calls run inside whichever checkpoint is
open, or undurably at flow level. Streaming is refused (its events cannot be replayed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents.models.interface import Model

from kitaru.adapters.openai_agents._runner import _PENDING, plain_json
from kitaru.artifacts import log
from kitaru.errors import KitaruUsageError
from kitaru.llm import USAGE_KEY, estimate_cost

if TYPE_CHECKING:
    from kitaru.adapters.openai_agents._runner import KitaruRunner


def wrap_agent(agent: Any, runner: KitaruRunner, run_config: Any) -> Any:
    """A clone of ``agent`` whose model and function tools are checkpoints."""
    from agents.models.multi_provider import MultiProvider
    from agents.tool import FunctionTool

    chosen = run_config.model if run_config is not None and run_config.model else agent.model
    if isinstance(chosen, Model):
        inner, name = chosen, type(chosen).__name__
    else:
        provider = (run_config.model_provider if run_config is not None
                    and run_config.model_provider else MultiProvider())
        inner = provider.get_model(chosen if isinstance(chosen, str) else None)
        name = chosen if isinstance(chosen, str) else str(getattr(inner, "model", "default"))
    tools = [_wrap_tool(t, runner) if isinstance(t, FunctionTool) else t for t in agent.tools]
    return agent.clone(model=DurableModel(inner, runner, name), tools=tools)


class DurableModel(Model):
    """A model whose every response is a checkpoint of the runner's flow."""

    def __init__(self, inner: Model, runner: KitaruRunner, name: str) -> None:
        self.inner = inner
        self.runner = runner
        self.name = name

    async def get_response(self, system_instructions: Any, input: Any,  # noqa: PLR0917
                           model_settings: Any, tools: Any, output_schema: Any,
                           handoffs: Any, tracing: Any, *, previous_response_id: Any,
                           conversation_id: Any, prompt: Any) -> Any:
        async def call() -> dict[str, Any]:
            response = await self.inner.get_response(
                system_instructions, input, model_settings, tools, output_schema, handoffs,
                tracing, previous_response_id=previous_response_id,
                conversation_id=conversation_id, prompt=prompt)
            usage = response.usage
            record: dict[str, Any] = {"provider": "openai", "model": self.name, "calls": 1,
                                      "input_tokens": usage.input_tokens,
                                      "output_tokens": usage.output_tokens}
            cost = estimate_cost("openai", self.name, usage.input_tokens, usage.output_tokens)
            if cost is not None:
                record["cost_usd"] = cost
            log(**{USAGE_KEY: record})
            return _response_json(response)

        described = json.dumps({
            "instructions": system_instructions, "input": input,
            "tools": sorted(str(getattr(t, "name", t)) for t in tools or []),
            "output": output_schema.name() if output_schema is not None else None,
        }, sort_keys=True, default=plain_json)
        token = _PENDING.set(call)
        try:
            stored = await self.runner._model_call(described)
        finally:
            _PENDING.reset(token)
        return _response_from_json(stored)

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise KitaruUsageError(f"KitaruRunner {self.runner.name}: streamed model calls cannot "
                               "be checkpoints; use checkpoint_strategy='runner_call'")


def _wrap_tool(tool: Any, runner: KitaruRunner) -> Any:
    original = tool.on_invoke_tool

    async def invoke(ctx: Any, arguments: str) -> Any:
        call_id = str(getattr(ctx, "tool_call_id", "") or "call")

        async def call() -> Any:
            return plain_json(await original(ctx, arguments))

        token = _PENDING.set(call)
        try:
            return await runner._tool_call(
                json.dumps({"tool": tool.name, "arguments": arguments}),
                id=_tool_id(runner.name, tool.name, call_id))  # type: ignore[call-arg]
        finally:
            _PENDING.reset(token)

    return dataclasses.replace(tool, on_invoke_tool=invoke)


def _tool_id(runner: str, tool: str, call_id: str) -> str:
    raw = f"{runner}_{tool}_{call_id}"
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in raw)[:200]


def _response_json(response: Any) -> dict[str, Any]:
    usage = response.usage
    return {"output": [item.model_dump(mode="json") for item in response.output],
            "usage": {"requests": usage.requests, "input_tokens": usage.input_tokens,
                      "output_tokens": usage.output_tokens,
                      "total_tokens": usage.total_tokens},
            "response_id": response.response_id}


def _response_from_json(stored: dict[str, Any]) -> Any:
    from agents.items import ModelResponse
    from agents.usage import Usage
    from openai.types.responses.response_output_item import ResponseOutputItem
    from pydantic import TypeAdapter

    items = TypeAdapter(list[ResponseOutputItem]).validate_python(stored["output"])
    return ModelResponse(output=items, usage=Usage(**stored["usage"]),
                         response_id=stored.get("response_id"))
