"""The run pod's environment: what the operator tells ``python -m kitaru.runtime``.

This model is the one definition of that contract. The operator builds a pod's ``env``
with :meth:`RunEnv.to_env`; the runtime reads it back with :meth:`RunEnv.from_environ`.
The variable names are part of the contract with agent images built against other SDK
versions, so they never change meaning; new fields get new names and defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from kitaru.dispatch import DispatchState
from kitaru.errors import KitaruUsageError
from kitaru.model import Field, Model, ModelError


class ReplayRequest(Model):
    """Run 1 of a replay: which execution to replay and how (``KITARU_REPLAY``)."""

    source: str = Field(description="The store id of the execution replayed.")
    at: str | None = Field(default=None, description="The checkpoint to replay from.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Override keys "
                                      "to new values.")
    skip: list[str] = Field(default_factory=list, description="Checkpoints always reused.")


#: Field name -> environment variable. JSON fields are marked in _JSON.
_NAMES = {
    "store": "KITARU_STORE",
    "execution_id": "KITARU_EXECUTION_ID",
    "run": "KITARU_RUN",
    "entrypoint": "KITARU_ENTRYPOINT",
    "flow": "KITARU_FLOW",
    "version": "KITARU_VERSION",
    "input": "KITARU_INPUT",
    "answers": "KITARU_INPUTS",  # named before answers were called answers; kept for images
    "replay": "KITARU_REPLAY",
    "checkpoint_runtime": "KITARU_CHECKPOINT_RUNTIME",
    "checkpoints": "KITARU_CHECKPOINTS",
    "branch": "KITARU_BRANCH",
    "checkpoint_attempt": "KITARU_CHECKPOINT_ATTEMPT",
}
_JSON = {"input", "answers", "replay", "checkpoints", "branch"}


class RunEnv(Model):
    """One run of an execution, as a run pod is told it."""

    store: str = Field(description="The store URI runs write to.")
    execution_id: str = Field(description="The execution's id in the store.")
    run: int = Field(ge=1, description="The run number this pod runs.")
    entrypoint: str = Field(description="module:function of the flow.")
    flow: str | None = Field(default=None, description="The flow's name.")
    version: str | None = Field(default=None, description="The FlowVersion's name.")
    input: dict[str, Any] = Field(default_factory=dict, description="The flow's arguments, "
                                  "for the first run.")
    answers: dict[str, Any] = Field(default_factory=dict, description="Accepted answers to "
                                    "waits, by wait name.")
    replay: ReplayRequest | None = Field(default=None, description="For run 1 of a replay.")
    checkpoint_runtime: Literal["inline", "isolated"] | None = Field(
        default=None, description="The runtime of checkpoints that name none; set, isolated "
        "checkpoints are left to pods of their own (see kitaru.dispatch).")
    checkpoints: list[str] = Field(default_factory=list, description="The calls whose "
                                   "bodies this pod runs.")
    branch: bool = Field(default=False, description="A branch pod of a fan-out: it runs its "
                         "calls and records no outcome of the run.")
    checkpoint_attempt: int = Field(default=1, ge=1, description="The attempt this pod "
                                    "makes at the bodies of its calls (retries are pods).")

    def dispatch_state(self) -> DispatchState:
        """How this pod treats isolated checkpoints."""
        return DispatchState(enabled=self.checkpoint_runtime is not None,
                             default_runtime=self.checkpoint_runtime or "inline",
                             assigned=frozenset(self.checkpoints), branch=self.branch,
                             attempt=self.checkpoint_attempt)

    def to_env(self) -> list[dict[str, str]]:
        """Return the pod's ``env`` entries (unset optional fields are left out)."""
        entries = []
        for field, name in _NAMES.items():
            value = getattr(self, field)
            if value is None or (field in ("checkpoints", "branch") and not value) or (
                    field == "checkpoint_attempt" and value == 1):
                continue
            if field in _JSON:
                text = (value.model_dump_json() if isinstance(value, Model)
                        else json.dumps(value))
            else:
                text = str(value)
            entries.append({"name": name, "value": text})
        return entries

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RunEnv | None:
        """Read the run from an environment; None when it is not a run pod's (no
        ``KITARU_ENTRYPOINT``).

        Raises:
            KitaruUsageError: A variable is malformed; the message names it.
        """
        if not environ.get(_NAMES["entrypoint"]):
            return None
        raw: dict[str, Any] = {}
        for field, name in _NAMES.items():
            text = environ.get(name)
            if not text:
                continue
            if field in _JSON:
                try:
                    raw[field] = json.loads(text)
                except ValueError as exc:
                    raise KitaruUsageError(f"{name} is not valid JSON: {exc}") from None
            else:
                raw[field] = text
        try:
            return cls.model_validate(raw)
        except ModelError as exc:
            field = str(exc.loc[0]) if exc.loc else ""
            where = ".".join([_NAMES.get(field, field), *(str(p) for p in exc.loc[1:])])
            raise KitaruUsageError(f"{where}: {exc.reason}") from None
