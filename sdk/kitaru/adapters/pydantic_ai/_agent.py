"""``KitaruAgent``: a PydanticAI agent run durably inside a ``@flow``.

- ``calls`` (default): each model request and each tool call is a checkpoint, through
  :class:`KitaruDurability` attached to the run.
- ``turn``: one checkpoint (type ``agent_run``) around the whole agent run; its value is
  the run's output and message history as JSON.

Deferred tools become durable waits: a run that ends with ``DeferredToolRequests``
(a ``requires_approval`` tool, ``ApprovalRequired`` or ``CallDeferred``) waits with
``kitaru.wait()`` for the answers, holding no process, then runs again from its message
history with them, until the agent gives its output. Approvals are answered ``true`` /
``false`` / ``{"approve": false, "message": "..."}``; external calls with their result;
several at once with one answer per tool call id.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any, Literal

from pydantic import BaseModel, Field

from kitaru.adapters.approvals import ToolDecision, decision_of
from kitaru.adapters.pydantic_ai._durability import KitaruDurability
from kitaru.checkpoint import Checkpoint
from kitaru.context import current_run
from kitaru.errors import KitaruUsageError
from kitaru.limits import check_name
from kitaru.waits import wait

Strategy = Literal["calls", "turn"]
Decision = bool | ToolDecision
#: Agent.run arguments a turn checkpoint's body runs with (deps and the like: not stored).
_TURN_KWARGS: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar(
    "kitaru_pydantic_ai_turn")


class TurnResult(BaseModel):
    """What a ``turn`` checkpoint stores: the run's output and its message history."""

    output: Any = None
    deferred: bool = Field(default=False, description="The run ended with deferred tools.")
    messages: str = Field(description="The run's messages (all_messages_json).")


class KitaruRunResult:
    """The end of a durable agent run: its output and its messages."""

    def __init__(self, output: Any, messages: list[Any]) -> None:
        self.output = output
        self.messages = messages

    def all_messages(self) -> list[Any]:
        """Every message of the run, as PydanticAI gives them."""
        return self.messages


class KitaruAgent:
    """Runs a PydanticAI agent durably.

    Args:
        agent: The ``pydantic_ai.Agent``.
        checkpoint_strategy: ``calls`` or ``turn`` (see the module docs).
        name: The stem of its checkpoints' names (default: the agent's name, else ``agent``).
        approval_wait: The name of the waits that answer deferred tools.
    """

    def __init__(self, agent: Any, *, checkpoint_strategy: Strategy = "calls",
                 name: str | None = None, approval_wait: str = "approve_tool") -> None:
        if checkpoint_strategy not in ("calls", "turn"):
            raise KitaruUsageError(f"KitaruAgent: checkpoint_strategy must be 'calls' or "
                                   f"'turn', got {checkpoint_strategy!r}")
        self.agent = agent
        self.strategy = checkpoint_strategy
        self.name = check_name("KitaruAgent name", name or agent.name or "agent")
        self.approval_wait = approval_wait
        self._turn = Checkpoint(self._turn_body, name=f"{self.name}_turn", type="agent_run")

    def run_sync(self, user_prompt: str | None = None, **kwargs: Any) -> KitaruRunResult:
        """Run the agent to its output from sync flow code (see :meth:`run`)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.run(user_prompt, **kwargs))
        raise KitaruUsageError(f"KitaruAgent {self.name}: run_sync() cannot run inside an "
                               "event loop (an async flow); use await agent.run()")

    async def run(self, user_prompt: str | None = None, **kwargs: Any) -> KitaruRunResult:
        """Run the agent to its output, waiting durably for any deferred tool results.

        Keyword arguments go to ``Agent.run`` (``deps``, ``message_history``, ...).
        """
        from pydantic_ai import DeferredToolRequests

        output_type = [kwargs.pop("output_type", None) or self.agent.output_type,
                       DeferredToolRequests]
        prompt: str | None = user_prompt
        while True:
            output, messages = await self._once(prompt, output_type, kwargs)
            if not isinstance(output, DeferredToolRequests) or current_run() is None:
                return KitaruRunResult(output, messages)
            kwargs = {**kwargs, "message_history": messages,
                      "deferred_tool_results": self._wait_for(output)}
            prompt = None

    async def _once(self, prompt: str | None, output_type: list[Any],
                    kwargs: dict[str, Any]) -> tuple[Any, list[Any]]:
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        if self.strategy == "calls" or current_run() is None:
            capabilities = [*kwargs.pop("capabilities", []), KitaruDurability(name=self.name)]
            result = await self.agent.run(prompt, output_type=output_type,
                                          capabilities=capabilities, **kwargs)
            return result.output, result.all_messages()
        token = _TURN_KWARGS.set({k: v for k, v in kwargs.items()
                                  if k not in ("message_history", "deferred_tool_results")})
        try:
            stored: TurnResult = await self._turn(prompt, _history_json(kwargs),
                                                  _deferred_json(kwargs))
        finally:
            _TURN_KWARGS.reset(token)
        messages = ModelMessagesTypeAdapter.validate_json(stored.messages)
        if stored.deferred:
            from pydantic import TypeAdapter
            from pydantic_ai import DeferredToolRequests

            return TypeAdapter(DeferredToolRequests).validate_python(stored.output), messages
        return _typed(self.agent.output_type, stored.output), messages

    async def _turn_body(self, prompt: str | None, history: str | None,
                         deferred: dict[str, Any] | None) -> TurnResult:
        from pydantic import TypeAdapter
        from pydantic_ai import DeferredToolRequests, DeferredToolResults
        from pydantic_ai.messages import ModelMessagesTypeAdapter

        result = await self.agent.run(
            prompt, output_type=[self.agent.output_type, DeferredToolRequests],
            message_history=ModelMessagesTypeAdapter.validate_json(history) if history else None,
            deferred_tool_results=(TypeAdapter(DeferredToolResults).validate_python(deferred)
                                   if deferred else None), **_TURN_KWARGS.get({}))
        is_deferred = isinstance(result.output, DeferredToolRequests)
        output = (TypeAdapter(DeferredToolRequests).dump_python(result.output, mode="json")
                  if is_deferred else _plain(result.output))
        return TurnResult(output=output, deferred=is_deferred,
                          messages=result.all_messages_json().decode())

    def _wait_for(self, requests: Any) -> Any:
        """Wait durably for answers to deferred tool calls; return the results to run on."""
        from pydantic_ai import DeferredToolResults, ToolDenied

        pending = [*requests.approvals, *requests.calls]
        described = [{"tool": c.tool_name, "call_id": c.tool_call_id,
                      "arguments": c.args_as_json_str(),
                      "kind": "approval" if c in requests.approvals else "external"}
                     for c in pending]
        if len(pending) == 1:
            call = pending[0]
            kind = described[0]["kind"]
            answer = wait(schema=Decision if kind == "approval" else Any,
                          name=self.approval_wait, metadata={"adapter": "pydantic-ai",
                                                             "tool_calls": described},
                          question=(f"Approve tool call {call.tool_name}"
                                    f"({call.args_as_json_str()}) [{call.tool_call_id}]?"
                                    if kind == "approval" else
                                    f"Result of tool call {call.tool_name}"
                                    f"({call.args_as_json_str()}) [{call.tool_call_id}]?"))
            answers = {call.tool_call_id: answer}
        else:
            answers = wait(schema=dict[str, Any], name=self.approval_wait,
                           metadata={"adapter": "pydantic-ai", "tool_calls": described},
                           question=f"Answer {len(pending)} tool calls, one per call id: "
                           f"{', '.join(c.tool_call_id for c in pending)}")
        results = DeferredToolResults()
        approvals = {c.tool_call_id for c in requests.approvals}
        for call_id, answer in answers.items():
            if call_id not in approvals:
                results.calls[call_id] = answer
                continue
            decision = decision_of(answer, "The tool call was rejected.")
            results.approvals[call_id] = True if decision.approve else ToolDenied(
                message=decision.message or "The tool call was rejected.")
        return results


def _history_json(kwargs: dict[str, Any]) -> str | None:
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    history = kwargs.get("message_history")
    return ModelMessagesTypeAdapter.dump_json(history).decode() if history else None


def _deferred_json(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    from pydantic import TypeAdapter
    from pydantic_ai import DeferredToolResults

    results = kwargs.get("deferred_tool_results")
    if results is None:
        return None
    dumped: dict[str, Any] = TypeAdapter(DeferredToolResults).dump_python(results, mode="json")
    return dumped


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _typed(output_type: Any, value: Any) -> Any:
    if isinstance(output_type, type) and issubclass(output_type, BaseModel):
        return output_type.model_validate(value)
    return value
