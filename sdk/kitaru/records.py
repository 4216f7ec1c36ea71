"""The documents an execution keeps in the store, as models (``kitaru.model``).

These are the on-disk (on-bucket) format. Fields are only ever added with defaults, so
an older journal stays readable; the golden fixtures in ``tests/golden/`` hold that line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from kitaru.model import Field, Model
from kitaru.timers import utcnow

RunOutcomeKind = Literal["succeeded", "failed", "waiting", "cancelled", "dispatch"]
RecordSource = Literal["run", "cache", "replay", "override"]



class ValueRef(Model):
    """Where a stored value lives and how to read it back."""

    serializer: str = Field(description="json, pydantic, typed-json, bytes or pickle.")
    type: str = Field(description="Import path (module:qualname) of the value's Python type.")
    size: int = Field(description="Size of the serialized value in bytes.")
    digest: str = Field(description="Hex sha256 of the serialized value.")
    inline: str | None = Field(
        default=None,
        description="The serialized JSON itself, for small JSON values; else the value is "
        "the content-addressed blob blobs/sha256/<digest>.",
    )

    @property
    def blob_key(self) -> str:
        """The store key of the content-addressed blob holding this value."""
        return f"blobs/sha256/{self.digest}"


class CheckpointRecord(Model):
    """One committed checkpoint result: the journal entry a resume or replay reuses."""

    id: str = Field(description="Stable checkpoint id: name, name_2, ... or an explicit id.")
    seq: int = Field(description="Position of this call among the flow's checkpoint calls.")
    name: str = Field(description="The checkpoint function's name.")
    function: str = Field(default="", description="Import path of the checkpoint function.")
    type: str | None = Field(default=None, description="Author's label, e.g. llm_call.")
    runtime: str = Field(default="inline", description="inline or isolated.")
    value: ValueRef
    parents: list[str] = Field(
        default_factory=list,
        description="Checkpoint ids (and input:<name>, wait:<name>) whose values flowed "
        "into this call: the lineage replay uses.",
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="kitaru.log() values.")
    run: int = Field(description="The run that produced this record.")
    attempts: int = Field(default=1, description="Attempts the body took, retries included.")
    started_at: datetime
    finished_at: datetime
    source: RecordSource = Field(
        default="run",
        description="run (body executed), cache (cache=True hit), replay (reused from the "
        "replay source), override (value given in a replay's overrides).",
    )
    source_execution: str | None = Field(
        default=None, description="The execution the value was first produced in, if another."
    )
    arguments: dict[str, str] | None = Field(
        default=None,
        description="Digest of each argument of the call, by parameter name (sha256 of its "
        "stored form). A call with other arguments never reuses this record. None in "
        "records written before digests existed: those are not checked.",
    )


class ReusableRecord(Model):
    """A replay source's record that a replay may reuse, if its call matches."""

    record: CheckpointRecord
    forced: bool = Field(default=False, description="Reused whatever the call's arguments: "
                         "the replay named it in skip, or overrode its output.")


class ReplaySpec(Model):
    """How a replay execution was made from its source."""

    source: str = Field(description="The execution replayed.")
    at: str | None = Field(default=None, description="The checkpoint chosen as replay root.")
    roots: list[str] = Field(default_factory=list, description="Checkpoints forced to run.")
    rerun: list[str] = Field(default_factory=list, description="Roots and their dependants.")
    overrides: list[str] = Field(default_factory=list, description="Override keys applied.")
    arg_overrides: dict[str, dict[str, ValueRef]] = Field(
        default_factory=dict, description="Checkpoint id to replaced keyword arguments."
    )


class ExecutionSpec(Model):
    """What an execution is: written once when it is created, never changed."""

    exec_id: str
    flow: str = Field(description="The flow's name.")
    entrypoint: str = Field(description="module:qualname of the flow function.")
    source_dir: str | None = Field(
        default=None, description="Folder to put on sys.path to import the entrypoint module."
    )
    cwd: str | None = Field(default=None, description="Working directory of the first run.")
    inputs: dict[str, ValueRef] = Field(default_factory=dict, description="Flow arguments.")
    replay: ReplaySpec | None = None
    created_at: datetime = Field(default_factory=utcnow)
    version: str | None = Field(default=None, description="FlowVersion, on a cluster.")


class RunStart(Model):
    """The claim of one run number by one process."""

    run: int
    pid: int
    host: str
    started_at: datetime = Field(default_factory=utcnow)
    reason: str = Field(default="start", description="start, input, retry or resume.")


class WaitInfo(Model):
    """A wait the flow stopped at."""

    name: str
    kind: Literal["input", "timer"] = Field(
        default="input", description="input: waits for an answer (until an optional "
        "deadline); timer: kitaru.sleep, continues by itself at the deadline.")
    question: str | None = None
    schema: dict[str, Any] | None = Field(default=None, description="JSON schema the "
                                          "answer must match.")
    since: datetime = Field(default_factory=utcnow)
    deadline: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class ErrorInfo(Model):
    """Why a run failed."""

    type: str
    message: str
    origin: str = Field(description="user_code, runtime, backend, divergence or "
                        "infrastructure (the store was unreachable; never final).")
    traceback: str | None = None


class DispatchedCall(Model):
    """A checkpoint call a run left for a pod of its own (``runtime="isolated"``)."""

    id: str = Field(description="The call's checkpoint id.")
    name: str = Field(description="The checkpoint's name (its placement is looked up by it).")
    seq: int = Field(description="The call's position in the flow.")
    resources: dict[str, Any] | None = Field(
        default=None, description="Container resources the checkpoint's code asks for "
        "(@checkpoint(resources=...)); the FlowVersion's placement wins where it has any.")


class RetryRequest(Model):
    """A checkpoint body failed in its own pod with retries left: the next attempt runs
    in a new pod, not before ``not_before`` (the checkpoint's backoff)."""

    checkpoint: str = Field(description="The checkpoint id.")
    attempt: int = Field(description="The attempt that failed; the next is attempt + 1.")
    error: ErrorInfo = Field(description="Why it failed (user code).")
    not_before: datetime = Field(description="When the next attempt may start.")


class DispatchRequest(Model):
    """What a run that ended with outcome ``dispatch`` asks the operator to run.

    ``fan_out`` False: one sequential call; the next run runs its body in its own pod and
    carries the flow on from there. True: calls submitted together (``.map()``,
    ``.submit()``, ``asyncio.gather``); each runs in a branch pod of its own, at once,
    and the next run goes on once every branch has committed.
    """

    calls: list[DispatchedCall]
    fan_out: bool = False
    retry: RetryRequest | None = Field(default=None, description="Set when the one call "
                                       "is another attempt at a body that failed.")


class RunOutcome(Model):
    """How one run ended. Written once, by the process that ran it."""

    run: int
    outcome: RunOutcomeKind
    output: ValueRef | None = None
    error: ErrorInfo | None = None
    wait: WaitInfo | None = None
    dispatch: DispatchRequest | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    checkpoints_run: int = 0
    checkpoints_reused: int = 0
    #: The last few checkpoints the run committed or reused, newest last: enough for a
    #: progress summary without reading the journal.
    last_checkpoints: list[str] = Field(default_factory=list)
    finished_at: datetime = Field(default_factory=utcnow)


class RunProgress(Model):
    """How far a run still going has got: rewritten at most about once a second while it
    runs, so a reader (the operator's periodic look) needs one read, however long the
    journal is. Superseded by the outcome once the run ends."""

    run: int
    checkpoints: int = Field(description="Checkpoints on record, as this run knows them.")
    last_checkpoints: list[str] = Field(default_factory=list, description="The last few "
                                        "it committed or reused, newest last.")
    at: datetime = Field(default_factory=utcnow)


class Answer(Model):
    """An accepted answer to a wait. Final once written."""

    wait: str
    value: Any = None
    aborted: bool = False
    answered_at: datetime = Field(default_factory=utcnow)


class ArtifactRecord(Model):
    """A named artifact saved with ``kitaru.save``."""

    name: str
    type: str = "output"
    tags: list[str] = Field(default_factory=list)
    value: ValueRef
    checkpoint: str | None = None
    saved_at: datetime = Field(default_factory=utcnow)
