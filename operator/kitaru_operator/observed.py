"""The plain data ``decide()`` takes and returns: what the operator observed of an
Execution's world, and what to do about it. No I/O and no logic live here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kitaru.records import RunOutcome
from kitaru.report import RunReport
from kitaru_operator.models import ExecutionSpec, ExecutionStatus, FlowVersionSpec

JobState = Literal["active", "succeeded", "failed"]


@dataclass(frozen=True)
class JobView:
    """A run Job as the decision needs it."""

    run: int
    state: JobState
    reason: str = ""  # why the pod/Job failed: OOMKilled, Evicted, DeadlineExceeded, ...
    report: RunReport | None = None  # the run pod's termination message, parsed


@dataclass(frozen=True)
class StoreFault:
    """Why the operator could not read the store on this pass.

    ``unavailable``: unreachable, 5xx or throttling after the operator's few quick retries;
    it passes. ``refused``: no such bucket, access denied, bad credentials, a malformed
    store URI: a new run would meet it too.
    """

    kind: Literal["unavailable", "refused"]
    store: str
    message: str


@dataclass(frozen=True)
class RunView:
    """What the store says about one run."""

    claimed: bool
    outcome: RunOutcome | None
    checkpoints: int = 0
    last_checkpoints: tuple[str, ...] = ()


@dataclass(frozen=True)
class Observed:
    """Everything ``decide()`` looks at."""

    name: str
    generation: int
    spec: ExecutionSpec
    status: ExecutionStatus
    flow_version_name: str | None
    flow_version: FlowVersionSpec | None
    resolve_error: str | None
    jobs: tuple[JobView, ...]
    latest: RunView | None
    now: datetime
    store_run: int = 0  # newest run in the store, read when status and Jobs know none
    store_read: bool = False  # the store was read on this pass, and answered
    store_fault: StoreFault | None = None  # the store was read on this pass, and failed


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the Execution."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass
class Decision:
    """What the handler applies, in order: delete Jobs, create the Job, write status."""

    status: ExecutionStatus
    create_run: int | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    delete_jobs: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
