"""What to do next with an Execution: a pure function of what the operator observed.

``decide()`` takes plain data (the Execution, its pinned FlowVersion, its run Jobs and the
latest run's outcome from the store) and returns a :class:`Decision`: the Job to create,
Jobs to delete, the status to write and the Events to emit. It performs no I/O, so every
branch is unit-tested without a cluster, and applying a decision twice is harmless: Job
names are deterministic and the status it writes is a function of what it saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kitaru.errors import KitaruWaitValidationError
from kitaru.records import ErrorInfo, RunOutcome, WaitInfo
from kitaru.waits import check_answer
from kitaru_operator.models import (
    CheckpointCounts,
    Condition,
    ErrorStatus,
    ExecutionSpec,
    ExecutionStatus,
    FlowVersionSpec,
    OutputRef,
    PendingWait,
)

#: First backoff after an infrastructure failure; doubles per retry up to the cap.
INFRA_BACKOFF_SECONDS = 5.0
INFRA_BACKOFF_CAP_SECONDS = 300.0
#: Last checkpoints listed in status (status stays bounded whatever the journal's size).
LAST_CHECKPOINTS = 5

JobState = Literal["active", "succeeded", "failed"]


@dataclass(frozen=True)
class JobView:
    """A run Job as the decision needs it."""

    run: int
    state: JobState
    reason: str = ""  # why the pod/Job failed: OOMKilled, Evicted, DeadlineExceeded, ...
    report: dict[str, Any] | None = None  # the run pod's termination message, parsed


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


def _set_condition(status: ExecutionStatus, condition: Condition, now: datetime) -> None:
    for i, old in enumerate(status.conditions):
        if old.type == condition.type:
            if (old.status, old.reason, old.message) == (
                condition.status, condition.reason, condition.message
            ):
                condition.last_transition_time = old.last_transition_time
            else:
                condition.last_transition_time = now
            status.conditions[i] = condition
            return
    condition.last_transition_time = now
    status.conditions.append(condition)


def _drop_condition(status: ExecutionStatus, kind: str) -> None:
    status.conditions = [c for c in status.conditions if c.type != kind]


def _phase(decision: Decision, phase: Any, obs: Observed, *, reason: str, message: str) -> None:
    status = decision.status
    if status.phase != phase:
        decision.events.append(Event("Warning" if phase == "Failed" else "Normal", reason,
                                     message))
    status.phase = phase
    done = {"Succeeded": "True", "Failed": "False", "Cancelled": "False"}.get(phase, "Unknown")
    _set_condition(status, Condition(type="Succeeded", status=done,  # type: ignore[arg-type]
                                     reason=reason, message=message,
                                     observed_generation=obs.generation), obs.now)
    if phase in ("Succeeded", "Failed", "Cancelled"):
        status.finished_at = status.finished_at or obs.now
    else:
        status.finished_at = None


def _start_run(decision: Decision, obs: Observed, run: int, *, reason: str, message: str) -> None:
    status = decision.status
    decision.create_run = run
    decision.answers = {k: obs.spec.inputs[k] for k in status.accepted_inputs
                        if k in obs.spec.inputs}
    status.run = run
    status.started_at = status.started_at or obs.now
    status.next_run_after = None
    status.error = None
    status.output = None
    status.pending_wait = None
    status.waiting_on = None
    _phase(decision, "Running", obs, reason=reason, message=message)


def current_run(status: ExecutionStatus, jobs: tuple[JobView, ...]) -> int:
    """The run the Execution is on: the newest of status and its Jobs (a Job may be newer
    than status when the operator stopped between creating it and writing status)."""
    return max(status.run, max((j.run for j in jobs), default=0))


def known_from_status(status: ExecutionStatus, run: int,
                      jobs: tuple[JobView, ...]) -> RunView | None:
    """Return the latest run as status already records it, when that is enough.

    A Waiting execution's status holds its wait (schema included), so answering it needs
    no store read: the next run starts after a few API calls. None means: read the store.
    """
    wait = status.pending_wait
    if (status.phase != "Waiting" or wait is None or status.run != run
            or any(j.state == "active" for j in jobs)):
        return None
    info = WaitInfo(name=wait.name, question=wait.question, schema=wait.schema_,
                    since=wait.since or status.started_at or datetime.now(UTC),
                    deadline=wait.deadline)
    return RunView(claimed=True, outcome=RunOutcome(run=run, outcome="waiting", wait=info),
                   checkpoints=status.checkpoints.count,
                   last_checkpoints=tuple(status.checkpoints.last))


def backoff(retries_used: int) -> float:
    """Seconds to wait before infrastructure retry number ``retries_used + 1``."""
    return float(min(INFRA_BACKOFF_SECONDS * 2 ** retries_used, INFRA_BACKOFF_CAP_SECONDS))


def decide(obs: Observed) -> Decision:
    """Return what to do with an Execution given what was observed."""
    status = obs.status.model_copy(deep=True)
    status.observed_generation = obs.generation
    decision = Decision(status=status)

    if status.flow_version is None:
        if obs.flow_version is None or obs.flow_version_name is None:
            message = obs.resolve_error or "the FlowVersion could not be resolved"
            _set_condition(status, Condition(type="Resolved", status="False",
                                             reason="FlowVersionNotFound", message=message,
                                             observed_generation=obs.generation), obs.now)
            if not any(e.reason == "FlowVersionNotFound" for e in decision.events):
                decision.events.append(Event("Warning", "FlowVersionNotFound", message))
            decision.requeue_after = 15.0
            return decision
        status.flow_version = obs.flow_version_name
        status.flow = obs.flow_version.flow
        status.version = obs.flow_version.version
        _set_condition(status, Condition(
            type="Resolved", status="True", reason="Pinned",
            message=f"pinned FlowVersion {obs.flow_version_name}",
            observed_generation=obs.generation), obs.now)
    if obs.flow_version is None:
        # Pinned, but the FlowVersion was deleted; runs already made need nothing from it.
        decision.requeue_after = 60.0

    if obs.latest is not None:
        status.checkpoints = CheckpointCounts(count=obs.latest.checkpoints,
                                              last=list(obs.latest.last_checkpoints))

    active = [j.run for j in obs.jobs if j.state == "active"]
    if status.phase in ("Succeeded", "Cancelled"):
        return decision
    if obs.spec.cancel:
        decision.delete_jobs = active
        _phase(decision, "Cancelled", obs, reason="Cancelled",
               message="cancelled by spec.cancel; run pods stopped")
        status.pending_wait = None
        status.waiting_on = None
        return decision

    if status.phase == "Failed":
        if obs.spec.retry > status.observed_retry:
            status.observed_retry = obs.spec.retry
            status.infra_retries = 0
            _start_run(decision, obs, status.run + 1, reason="Retrying",
                       message=f"retry requested (spec.retry={obs.spec.retry}); finished "
                       "checkpoints are reused")
        return decision
    status.observed_retry = max(status.observed_retry, obs.spec.retry)

    # Status is an index: with no run in status or Jobs (status lost, Jobs expired), the
    # store's own record of runs is the truth, so a run is never started twice.
    run = max(current_run(status, obs.jobs), obs.store_run)
    if run == 0:
        _start_run(decision, obs, 1, reason="Started", message="run 1 started")
        return decision
    status.run = run
    job = next((j for j in obs.jobs if j.run == run), None)
    outcome = obs.latest.outcome if obs.latest is not None else None

    if outcome is None and job is not None and job.state == "failed" and job.report and (
        job.report.get("outcome") == "failed"
    ):
        # The runtime itself reported why it could not run (a bad entrypoint, ...):
        # definitive, so it is not retried as an infrastructure failure.
        error = job.report.get("error") or {}
        outcome = RunOutcome(run=run, outcome="failed", error=ErrorInfo(
            type=str(error.get("type", "Error")), origin=str(error.get("origin", "runtime")),
            message=str(error.get("message", "the run could not start"))))
    if outcome is None:
        if job is not None and job.state == "active":
            _phase(decision, "Running", obs, reason="Running", message=f"run {run} running")
            return decision
        if job is None and not (obs.latest and obs.latest.claimed):
            # The Job is gone (or was never made) and the pod never started: make it.
            decision.create_run = run
            decision.answers = {k: obs.spec.inputs[k] for k in status.accepted_inputs
                                if k in obs.spec.inputs}
            _phase(decision, "Running", obs, reason="Running", message=f"run {run} starting")
            return decision
        return _infrastructure_failure(decision, obs, run, job)
    return _after_outcome(decision, obs, outcome)


def _infrastructure_failure(
    decision: Decision, obs: Observed, run: int, job: JobView | None
) -> Decision:
    status = decision.status
    why = (job.reason if job and job.reason else "the run pod ended without recording an "
           "outcome")
    limit = obs.flow_version.retries if obs.flow_version else 0
    if status.infra_retries >= limit:
        status.error = ErrorStatus(type="InfrastructureFailure", origin="infrastructure",
                                   message=f"run {run} failed: {why}; no retries left "
                                   f"({limit} allowed)")
        _phase(decision, "Failed", obs, reason="InfrastructureFailure",
               message=status.error.message)
        return decision
    if status.next_run_after is None:
        delay = backoff(status.infra_retries)
        status.next_run_after = obs.now + timedelta(seconds=delay)
        decision.events.append(Event("Warning", "RunLost", f"run {run} failed: {why}; "
                                     f"retrying in {delay:g} s"))
    if obs.now < status.next_run_after:
        decision.requeue_after = (status.next_run_after - obs.now).total_seconds()
        return decision
    status.infra_retries += 1
    _start_run(decision, obs, run + 1, reason="RetryingAfterInfrastructureFailure",
               message=f"run {run + 1} started after: {why}")
    return decision


def _after_outcome(decision: Decision, obs: Observed, outcome: RunOutcome) -> Decision:
    status = decision.status
    run = status.run
    if outcome.outcome == "succeeded":
        if outcome.output is not None:
            status.output = OutputRef(digest=outcome.output.digest, type=outcome.output.type)
        _phase(decision, "Succeeded", obs, reason="Succeeded", message=f"run {run} succeeded")
        return decision
    if outcome.outcome == "cancelled":
        _phase(decision, "Cancelled", obs, reason="Cancelled", message="the run stopped")
        return decision
    if outcome.outcome == "failed":
        error = outcome.error
        status.error = ErrorStatus(
            type=error.type if error else "Error", origin=error.origin if error else "runtime",
            message=(error.message if error else "the run failed")[:1000])
        _phase(decision, "Failed", obs, reason="Failed",
               message=f"{status.error.type}: {status.error.message}"[:1000])
        return decision

    wait = outcome.wait
    if wait is None:  # a waiting outcome always names its wait; be defensive
        return decision
    status.pending_wait = PendingWait(name=wait.name, question=wait.question,
                                      schema=wait.schema_, since=wait.since,
                                      deadline=wait.deadline)
    status.waiting_on = wait.name
    # Scale to zero: no pod, not even a finished one, is kept for a waiting execution.
    decision.delete_jobs = [j.run for j in obs.jobs if j.state != "active"]
    if wait.name not in obs.spec.inputs:
        _phase(decision, "Waiting", obs, reason="Waiting",
               message=f"waiting for input on {wait.name!r}")
        return decision
    value = obs.spec.inputs[wait.name]
    try:
        check_answer(obs.name, wait.name, wait.schema_, value)
    except KitaruWaitValidationError as exc:
        _phase(decision, "Waiting", obs, reason="Waiting",
               message=f"waiting for input on {wait.name!r}")
        text = str(exc)
        message = text[:1].upper() + text[1:]
        old = next((c for c in status.conditions if c.type == "InputRejected"), None)
        if old is None or old.message != message or old.status != "True":
            decision.events.append(Event("Warning", "InputRejected", message))
        _set_condition(status, Condition(type="InputRejected", status="True",
                                         reason="SchemaMismatch", message=message,
                                         observed_generation=obs.generation), obs.now)
        return decision
    _drop_condition(status, "InputRejected")
    if wait.name not in status.accepted_inputs:
        status.accepted_inputs.append(wait.name)
    decision.events.append(Event("Normal", "InputAccepted",
                                 f"answer to wait {wait.name!r} accepted"))
    _start_run(decision, obs, run + 1, reason="Resumed",
               message=f"run {run + 1} started with the answer to {wait.name!r}")
    return decision
