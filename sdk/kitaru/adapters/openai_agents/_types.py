"""The values the OpenAI Agents adapter stores and hands to flow code.

All are pydantic models stored as JSON: a run's result (with the SDK's ``RunState`` when
it stopped for approval) is a checkpoint's value in the store, never in a wait's payload
or on the Execution. A wait's answer carries only decisions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kitaru.adapters.approvals import ToolDecision


class Interruption(BaseModel):
    """A tool call the agent stopped at, waiting for approval."""

    tool_name: str
    call_id: str
    arguments: str = Field(description="The call's arguments, as the model wrote them (JSON).")


class UsageSummary(BaseModel):
    """Model usage of one run of the agent."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class OpenAIRunRequest(BaseModel):
    """What to run: a new input (``start``), or a stopped run with decisions (``resume``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["start", "resume"]
    input: str | list[dict[str, Any]] | None = None
    state: str | None = Field(default=None, description="The stopped run's RunState JSON.")
    decisions: dict[str, ToolDecision] = Field(default_factory=dict,
                                               description="Decisions by tool call id.")
    max_turns: int | None = None

    @model_validator(mode="after")
    def _complete(self) -> OpenAIRunRequest:
        if self.kind == "start" and (self.input is None or self.state is not None):
            raise ValueError("a start request needs input and no state")
        if self.kind == "resume" and (self.state is None or self.input is not None):
            raise ValueError("a resume request needs the stopped run's state and no input")
        return self

    @classmethod
    def start(cls, input: str | list[dict[str, Any]], *,
              max_turns: int | None = None) -> OpenAIRunRequest:
        """A new run of the agent on ``input``."""
        return cls(kind="start", input=input, max_turns=max_turns)

    @classmethod
    def resume(cls, result: OpenAIRunResult, decisions: dict[str, ToolDecision], *,
               max_turns: int | None = None) -> OpenAIRunRequest:
        """Go on from a run that stopped for approval, with a decision per call id."""
        if result.status != "interrupted" or result.state is None:
            raise ValueError("only a run that stopped for approval can be resumed")
        return cls(kind="resume", state=result.state, decisions=decisions,
                   max_turns=max_turns)


class OpenAIRunResult(BaseModel):
    """How one run of the agent ended."""

    status: Literal["completed", "interrupted"]
    final_output: Any = Field(default=None, description="The agent's output (JSON: a "
                              "pydantic output type is stored as its fields).")
    interruptions: list[Interruption] = Field(default_factory=list)
    usage: UsageSummary = Field(default_factory=UsageSummary)
    last_response_id: str | None = None
    state: str | None = Field(default=None, description="RunState JSON when interrupted.")
    agent: str = ""
    sdk_version: str = ""
