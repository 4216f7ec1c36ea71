"""Kitaru as a PydanticAI durable execution engine (PydanticAI 2.x's public engine API).

PydanticAI owns the plumbing: which operations exist (model requests, tool calls, MCP
calls), their stable names (``<agent>__model.request``,
``<agent>__function_toolset__<id>.call_tool:<tool>``), and encoding their results as
JSON. :class:`KitaruDurability` only says what a durable unit is: a Kitaru checkpoint
named after the operation. Inside a flow body every model request and tool call is
therefore a checkpoint: a resume, retry or replay reads finished ones back instead of
calling the model or the tool again. Outside a flow, or inside another checkpoint,
nothing is wrapped.

Checkpoints here are matched by name and call order, not by argument digests: the
requests PydanticAI sends carry timestamps and run ids that differ on every run.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_ai.durable_exec import (
    JSON_CODEC,
    BaseDurabilityCapability,
    DurabilityEngineSpec,
    DurableOperationId,
    JournalCallableOperationBackend,
    ModelRequestId,
    RoleBasedOperationConfig,
    ToolsetCallToolId,
)

from kitaru.artifacts import log
from kitaru.checkpoint import Checkpoint
from kitaru.context import current_run, current_scope
from kitaru.llm import USAGE_KEY, estimate_cost

_BODY: contextvars.ContextVar[Callable[[], Awaitable[object]]] = contextvars.ContextVar(
    "kitaru_pydantic_ai_body")


class _Backend(JournalCallableOperationBackend[None]):
    """Runs each operation's body as the Kitaru checkpoint named after it."""

    def __init__(self, agent_name: str, default_model_id: str | None) -> None:
        super().__init__(agent_name=agent_name, default_model_id=default_model_id,
                         config=RoleBasedOperationConfig(model=None, event=None,
                                                         capability=None, tool=None))
        self._checkpoints: dict[str, Checkpoint[..., Any]] = {}

    async def execute(self, *, operation_id: DurableOperationId, name: str,
                      body: Callable[[], Awaitable[object]], cache_key: tuple[object, ...],
                      config: None) -> object:
        del cache_key, config  # matched by name and order (see the module docs)
        is_model = isinstance(operation_id, ModelRequestId)

        async def run() -> object:
            payload = await body()
            if is_model:
                _log_usage(payload)
            return payload

        token = _BODY.set(run)
        try:
            step = self._checkpoint(name, "llm_call" if is_model else (
                "tool_call" if isinstance(operation_id, ToolsetCallToolId) else "agent_step"))
            return await step()
        finally:
            _BODY.reset(token)

    def _checkpoint(self, name: str, kind: str) -> Checkpoint[..., Any]:
        found = self._checkpoints.get(name)
        if found is None:
            safe = "".join(c if c.isalnum() or c in "_-." else "_" for c in name).strip("_.-")
            found = self._checkpoints[name] = Checkpoint(_run_body, name=safe[:200], type=kind)
        return found


async def _run_body() -> object:
    return await _BODY.get()()


def _log_usage(payload: object) -> None:
    if not isinstance(payload, dict):
        return
    usage = payload.get("usage") or {}
    model = str(payload.get("model_name") or "unknown")
    provider = str(payload.get("provider_name") or "")
    record: dict[str, Any] = {"provider": provider or "pydantic-ai", "model": model,
                              "calls": 1, "input_tokens": int(usage.get("input_tokens", 0)),
                              "output_tokens": int(usage.get("output_tokens", 0))}
    cost = estimate_cost(provider, model, record["input_tokens"], record["output_tokens"])
    if cost is not None:
        record["cost_usd"] = cost
    log(**{USAGE_KEY: record})


class KitaruDurability(BaseDurabilityCapability[Any]):
    """The capability that makes an agent's model requests and tool calls checkpoints.

    Attach it to an agent (``Agent(..., capabilities=[KitaruDurability()])``) or to one run
    (``agent.run_sync(..., capabilities=[...])``); :class:`KitaruAgent` does the latter.
    """

    engine_spec = DurabilityEngineSpec(
        engine_name="Kitaru", durable_unit_noun="checkpoint", durable_container_noun="flow",
        codec=JSON_CODEC, journal_discovery=False,
        # A checkpoint runs in the flow's own process: a run's MCP session can be shared.
        toolset_lifecycles={"function": "enter-always", "mcp": "enter-in-durable-unit",
                            "dynamic": "enter-never"},
    )

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._backend: _Backend | None = None

    @property
    def in_durable_context(self) -> bool:
        """In a flow body: not outside a flow, and not inside another checkpoint."""
        return current_run() is not None and current_scope() is None

    def get_durable_operation_backend(self) -> _Backend:
        """The backend that runs operations as checkpoints."""
        if self._backend is None:
            self._backend = _Backend(self.name or "agent", self.default_model_id)
        return self._backend
