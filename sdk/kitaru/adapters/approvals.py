"""The answer to a tool approval, shared by the adapters."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolDecision(BaseModel):
    """An answer to one tool approval: approve, or reject with a message for the model.

    A pydantic model (the adapters' harnesses load pydantic anyway): it is a wait's
    schema, checked by pydantic like any user type."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    message: str | None = Field(default=None, description="Shown to the model on a rejection.")


def decision_of(answer: Any, denial_message: str) -> ToolDecision:
    """The decision a wait's answer gives: ``true``/``false``, or approve/reject with a
    message (``denial_message`` when a rejection gives none)."""
    if isinstance(answer, dict):
        answer = ToolDecision.model_validate(answer)
    decision = answer if isinstance(answer, ToolDecision) else ToolDecision(
        approve=bool(answer))
    if not decision.approve and decision.message is None:
        return ToolDecision(approve=False, message=denial_message)
    return decision
