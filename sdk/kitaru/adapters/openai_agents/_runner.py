"""``KitaruRunner``: the OpenAI Agents SDK's ``Runner``, with Kitaru's checkpoints.

Two strategies:

- ``runner_call``: one checkpoint (type ``agent_run``) around the whole Runner call. Its
  value is the :class:`OpenAIRunResult`, with the SDK's RunState JSON when the run
  stopped for approval. Cheapest; a failure re-runs the whole call.
- ``calls``: each model call (type ``llm_call``) and each function-tool call (type
  ``tool_call``, its id built from the model-issued call id) is its own checkpoint, so a
  failing tool re-runs neither the model calls before it nor the tools that finished.
  Tool calls run one at a time, so ids line up on every run; a stopped run's RunState is
  a checkpoint of its own (``<name>_run_state``).

Outside a flow both run the agent as it is.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from kitaru.adapters.openai_agents._types import (
    Interruption,
    OpenAIRunRequest,
    OpenAIRunResult,
    UsageSummary,
)
from kitaru.artifacts import log
from kitaru.checkpoint import Checkpoint
from kitaru.context import current_run
from kitaru.errors import KitaruUsageError
from kitaru.limits import check_name
from kitaru.llm import USAGE_KEY, estimate_cost

Strategy = Literal["runner_call", "calls"]
#: What a pending model or tool call needs that cannot be a checkpoint argument.
_PENDING: contextvars.ContextVar[Callable[[], Awaitable[Any]]] = contextvars.ContextVar(
    "kitaru_openai_pending")


class KitaruRunner:
    """Runs one agent durably inside a ``@flow``.

    Args:
        agent: The ``agents.Agent`` to run (the first agent of the run).
        checkpoint_strategy: ``runner_call`` or ``calls`` (see the module docs).
        name: The stem of its checkpoints' names (default: the agent's name).
        run_config: An ``agents.RunConfig`` for every run (tracing, model provider, ...).
        max_turns: The SDK's turn limit, unless a request sets its own.
    """

    def __init__(self, agent: Any, *, checkpoint_strategy: Strategy = "runner_call",
                 name: str | None = None, run_config: Any = None,
                 max_turns: int | None = None) -> None:
        if checkpoint_strategy not in ("runner_call", "calls"):
            raise KitaruUsageError(f"KitaruRunner: checkpoint_strategy must be 'runner_call' "
                                   f"or 'calls', got {checkpoint_strategy!r}")
        self.agent = agent
        self.strategy = checkpoint_strategy
        self.name = check_name("KitaruRunner name", name or _stem(agent.name))
        self.run_config = run_config
        self.max_turns = max_turns
        self._run_sync = Checkpoint(self._body_sync, name=f"{self.name}_runner_call",
                                    type="agent_run")
        self._run_async = Checkpoint(self._body_async, name=f"{self.name}_runner_call",
                                     type="agent_run")
        self._model_call = Checkpoint(_pending_call, name=f"{self.name}_model_call",
                                      type="llm_call")
        self._tool_call = Checkpoint(_pending_call, name=f"{self.name}_tool_call",
                                     type="tool_call")
        self._state = Checkpoint(_pending_state, name=f"{self.name}_run_state",
                                 type="agent_state")

    # -- entry points ---------------------------------------------------------------------

    def run_sync(self, request: OpenAIRunRequest | str) -> OpenAIRunResult:
        """Run the agent from sync flow code; see :meth:`run`."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise KitaruUsageError(f"KitaruRunner {self.name}: run_sync() cannot run inside "
                                   "an event loop (an async flow); use await runner.run()")
        request = _as_request(request)
        if self.strategy == "runner_call":
            result: OpenAIRunResult = self._run_sync(request)
            return result
        return asyncio.run(self._execute(request))

    async def run(self, request: OpenAIRunRequest | str) -> OpenAIRunResult:
        """Run the agent on a start request (or plain input), or resume a stopped run."""
        request = _as_request(request)
        if self.strategy == "runner_call":
            result: OpenAIRunResult = await self._run_async(request)
            return result
        return await self._execute(request)

    # -- the work -------------------------------------------------------------------------

    def _body_sync(self, request: OpenAIRunRequest) -> OpenAIRunResult:
        return asyncio.run(self._execute(request))

    async def _body_async(self, request: OpenAIRunRequest) -> OpenAIRunResult:
        return await self._execute(request)

    async def _execute(self, request: OpenAIRunRequest) -> OpenAIRunResult:
        from agents import Runner
        from agents.run_state import RunState

        durable_calls = self.strategy == "calls" and current_run() is not None
        agent = self._wrapped(self.agent) if durable_calls else self.agent
        run_input: Any = request.input
        before = UsageSummary()  # what a resumed state had used already
        if request.kind == "resume":
            assert request.state is not None
            state = await RunState.from_string(agent, request.state)
            for item in state.get_interruptions():
                decision = request.decisions.get(str(item.call_id))
                if decision is None:
                    continue  # left pending: the run stops at it again
                if decision.approve:
                    state.approve(item)
                else:
                    state.reject(item, rejection_message=decision.message)
            context = getattr(state, "_context", None)
            if context is not None:
                before = _usage_of(context.usage)
            run_input = state
        result = await Runner.run(agent, run_input, run_config=self._config(durable_calls),
                                  max_turns=request.max_turns or self.max_turns or 10)
        summary = _summarize(result, self.name, before)
        if durable_calls and summary.state is not None:
            # The state the approval is about, kept as it was when the run stopped.
            token = _PENDING.set(_returning(summary.state))
            try:
                summary.state = await self._state()
            finally:
                _PENDING.reset(token)
        if current_run() is not None and self.strategy == "runner_call":
            log(**{USAGE_KEY: _usage_metadata(summary, self.agent)})
        return summary

    def _config(self, durable_calls: bool) -> Any:
        from agents import RunConfig
        from agents.run_config import ToolExecutionConfig

        config = self.run_config or RunConfig()
        if durable_calls:  # one tool at a time: checkpoint positions line up on every run
            config = dataclasses.replace(config, tool_execution=ToolExecutionConfig(
                max_function_tool_concurrency=1))
        return config

    def _wrapped(self, agent: Any) -> Any:
        """The agent with its model and function tools made checkpoints."""
        from kitaru.adapters.openai_agents._calls import wrap_agent

        return wrap_agent(agent, self, self.run_config)


async def _pending_call(request: str) -> Any:
    """A checkpoint body that runs the call noted in :data:`_PENDING` (its argument is
    what identifies the call: its digest decides whether a record may be reused)."""
    del request
    return await _PENDING.get()()


async def _pending_state() -> str:
    result: str = await _PENDING.get()()
    return result


def _returning(value: Any) -> Callable[[], Awaitable[Any]]:
    async def get() -> Any:
        return value
    return get


def _stem(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-." else "_" for c in name).strip("_.-")
    return cleaned or "agent"


def _as_request(request: OpenAIRunRequest | str) -> OpenAIRunRequest:
    return request if isinstance(request, OpenAIRunRequest) else OpenAIRunRequest.start(request)


def _usage_of(usage: Any) -> UsageSummary:
    return UsageSummary(requests=usage.requests, input_tokens=usage.input_tokens,
                        output_tokens=usage.output_tokens, total_tokens=usage.total_tokens)


def _summarize(result: Any, name: str, before: UsageSummary) -> OpenAIRunResult:
    from agents import __version__ as sdk_version

    total = _usage_of(result.context_wrapper.usage)
    usage = UsageSummary(requests=total.requests - before.requests,  # this run's own
                         input_tokens=total.input_tokens - before.input_tokens,
                         output_tokens=total.output_tokens - before.output_tokens,
                         total_tokens=total.total_tokens - before.total_tokens)
    interruptions = [Interruption(tool_name=str(item.name), call_id=str(item.call_id),
                                  arguments=str(item.arguments or "{}"))
                     for item in result.interruptions]
    return OpenAIRunResult(
        status="interrupted" if interruptions else "completed",
        final_output=None if interruptions else plain_json(result.final_output),
        interruptions=interruptions,
        usage=usage,
        last_response_id=result.last_response_id,
        state=result.to_state().to_string() if interruptions else None,
        agent=name, sdk_version=sdk_version)


def plain_json(value: Any) -> Any:
    """A JSON form of an agent's output or a tool's result (pydantic models as their
    fields, anything JSON cannot hold as its text)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def _usage_metadata(summary: OpenAIRunResult, agent: Any) -> dict[str, Any]:
    model = agent.model if isinstance(agent.model, str) else summary.agent
    used = summary.usage
    record: dict[str, Any] = {"provider": "openai", "model": model, "calls": used.requests,
                              "input_tokens": used.input_tokens,
                              "output_tokens": used.output_tokens}
    cost = estimate_cost("openai", model, used.input_tokens, used.output_tokens)
    if cost is not None:
        record["cost_usd"] = cost
    return record
