"""The answer to a tool approval, shared by the adapters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ToolDecision(BaseModel):
    """An answer to one tool approval: approve, or reject with a message for the model."""

    model_config = ConfigDict(extra="forbid")

    approve: bool
    message: str | None = Field(default=None, description="Shown to the model on a rejection.")
