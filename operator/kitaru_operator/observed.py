"""The plain data ``decide()`` takes and returns: what the operator observed of an
Execution's world, and what to do about it. No I/O and no logic live here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kitaru.records import RunOutcome
from kitaru.report import RunReport
from kitaru.runenv import ReplayRequest
from kitaru_operator.models import ExecutionSpec, ExecutionStatus, FlowVersionSpec

JobState = Literal["active", "succeeded", "failed"]


@dataclass(frozen=True)
class JobView:
    """A run Job as the decision needs it."""

    run: int
    state: JobState
    reason: str = ""  # why the pod/Job failed: OOMKilled, Evicted, DeadlineExceeded, ...
    report: RunReport | None = None  # the run pod's termination message, parsed
    checkpoint: str | None = None  # the checkpoint the pod runs (None: a plain run pod)
    checkpoint_name: str | None = None  # that checkpoint's name (its placement's key)
    branch: bool = False  # a branch pod of a fan-out of run ``run`` (not a run itself)
    attempt: int = 1  # a branch pod's number among the pods made for its checkpoint
    name: str = ""  # the Job's name
    resources: dict[str, Any] | None = None  # resources its checkpoint's code asked for
    checkpoint_attempt: int = 1  # the attempt the pod makes at its checkpoint's body
    reported: bool = False  # its end was told in an Event already
    # False when no pod of it has run its code yet (none made, or Pending): it cannot
    # have written anything to the store.
    started: bool = True


@dataclass(frozen=True)
class StoreFault:
    """Why the operator could not read the store on this pass.

    ``unavailable``: unreachable, 5xx or throttling after the operator's few quick retries;
    it passes. ``refused``: no such bucket, a malformed store URI: a new run would meet it
    too. ``credentials``: the credentials Secret is missing or lacks its keys, or the
    store refused the credentials: someone must fix the Secret, and then it passes.
    """

    kind: Literal["unavailable", "refused", "credentials"]
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
    store_uri: str = ""  # where runs write (see decisions.store_for); empty: no store
    execution_id: str = ""  # the id in the store (see decisions.execution_id_for)
    replay: ReplayRequest | None = None  # a replay's request, once its source is found
    replay_error: str | None = None  # why a replay's source cannot be used (yet)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the Execution."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class CreateRunJob:
    """Create the Job of run ``run``, passing it the accepted answers (and, for run 1 of a
    replay, what to replay).

    ``checkpoint`` set: the pod runs that (isolated) checkpoint's body, with its
    placement, and carries the flow on. ``branch`` also: a branch pod of a fan-out of
    run ``run``, which runs that checkpoint alone (attempt ``attempt``).
    """

    run: int
    answers: dict[str, Any]
    replay: ReplayRequest | None = None
    checkpoint: str | None = None
    checkpoint_name: str | None = None
    branch: bool = False
    attempt: int = 1
    resources: dict[str, Any] | None = None  # what the checkpoint's code asked for
    checkpoint_attempt: int = 1  # the attempt at the checkpoint's body (retries are pods)


@dataclass(frozen=True)
class DeleteJobs:
    """Delete these Jobs (their pods go with them)."""

    jobs: tuple[JobView, ...]


@dataclass(frozen=True)
class MarkReported:
    """Note on these finished Jobs that their Events were posted (so they are not
    posted again on the next pass)."""

    jobs: tuple[JobView, ...]


Effect = CreateRunJob | DeleteJobs | Event | MarkReported


@dataclass
class Decision:
    """What to do: the status to write and the effects to apply.

    The handler applies them in one order whatever the order here: delete Jobs, write
    the status, create Jobs, post Events. Status before the Job, so an operator that
    stops in between finds the run in status and makes its Job on the next pass.
    """

    status: ExecutionStatus
    effects: list[Effect] = field(default_factory=list)
    requeue_after: float | None = None

    def add(self, effect: Effect) -> None:
        """Add an effect."""
        self.effects.append(effect)

    @property
    def creates(self) -> list[CreateRunJob]:
        """The run Jobs to create."""
        return [e for e in self.effects if isinstance(e, CreateRunJob)]

    @property
    def create_run(self) -> int | None:
        """The run whose Job is created, if any."""
        return self.creates[0].run if self.creates else None

    @property
    def deletes(self) -> list[JobView]:
        """The Jobs to delete."""
        return [job for e in self.effects if isinstance(e, DeleteJobs) for job in e.jobs]

    @property
    def delete_jobs(self) -> list[int]:
        """The runs whose Jobs are deleted."""
        return [job.run for job in self.deletes]

    @property
    def marks(self) -> list[JobView]:
        """The finished Jobs to mark as reported."""
        return [job for e in self.effects if isinstance(e, MarkReported) for job in e.jobs]

    @property
    def events(self) -> list[Event]:
        """The Events to post, in order."""
        return [e for e in self.effects if isinstance(e, Event)]
