"""What to do next with an Execution: a pure function of what the operator observed.

``decide()`` takes plain data (:class:`~kitaru_operator.observed.Observed`: the Execution,
its pinned FlowVersion, its run Jobs and the latest run's outcome from the store) and
returns a :class:`~kitaru_operator.observed.Decision`: the Job to create,
Jobs to delete, the status to write and the Events to emit. It performs no I/O, so every
branch is unit-tested without a cluster, and applying a decision twice is harmless: Job
names are deterministic and the status it writes is a function of what it saw.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kitaru.errors import KitaruWaitValidationError
from kitaru.records import ErrorInfo, RunOutcome, ValueRef, WaitInfo
from kitaru.waits import check_answer
from kitaru_operator.failures import (
    infrastructure_failure,
    store_answers,
    store_fault,
)
from kitaru_operator.fanout import dispatched, pod_events
from kitaru_operator.jobs import store_exec_id
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
from kitaru_operator.observed import (
    Decision,
    DeleteJobs,
    Event,
    JobView,
    Observed,
    RunView,
)
from kitaru_operator.transitions import (
    create_run_job,
    drop_condition,
    set_condition,
    set_phase,
    start_run,
)

#: Last checkpoints listed in status (status stays bounded whatever the journal's size).
LAST_CHECKPOINTS = 5


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
    info = WaitInfo(name=wait.name, kind=wait.kind, question=wait.question,
                    schema=wait.schema_,
                    since=wait.since or status.started_at or datetime.now(UTC),
                    deadline=wait.deadline)
    return RunView(claimed=True, outcome=RunOutcome(run=run, outcome="waiting", wait=info),
                   checkpoints=status.checkpoints.count,
                   last_checkpoints=tuple(status.checkpoints.last))


def wants_store(latest: RunView | None, run: int, jobs: tuple[JobView, ...], *,
                refresh: bool) -> bool:
    """Whether this pass reads the store. Not when status already holds what is needed
    (a waiting execution), and not for a run whose pod is still going, except on the
    periodic refresh (its progress): its Job's next change brings the outcome. Not even
    then while its pod has not started: it has written nothing yet (a burst of new
    Executions waiting for nodes would otherwise cost several reads each per resync).
    Branch pods do not count: while they run, the run's outcome (what it dispatched) is
    what a pass decides from."""
    going = [j for j in jobs if j.run == run and j.state == "active" and not j.branch]
    return latest is None and (not going or (refresh and any(j.started for j in going)))


def store_for(flow_version: FlowVersionSpec | None,
              default_store: str) -> tuple[str, str | None]:
    """Return the store URI an Execution's runs write to (empty: none is set) and the name
    of the Secret with its credentials: the FlowVersion's store, else the default."""
    if flow_version is not None and flow_version.store is not None:
        secret = flow_version.store.credentials_secret
        return flow_version.store.uri, secret.name if secret else None
    return default_store, None


def execution_id_for(status: ExecutionStatus, namespace: str, name: str, uid: str) -> str:
    """Return the execution's id in the store: the one pinned in status, else a new one.

    Executions that ran before ids carried the uid keep their ``namespace.name`` id.
    """
    if status.execution_id:
        return status.execution_id
    return f"{namespace}.{name}" if status.run else store_exec_id(namespace, name, uid)


def _usable(obs: Observed) -> Observed:
    """The observation with its FlowVersion set aside while the Execution cannot run yet:
    no store to run against, or a replay whose source is not found."""
    if obs.flow_version is None:
        return obs
    if not obs.store_uri:
        return replace(obs, flow_version=None, resolve_error=(
            "no store: set spec.store on the FlowVersion or start the operator with "
            "--default-store"))
    if (obs.spec.replay is not None and obs.replay is None
            and current_run(obs.status, obs.jobs) == 0):
        return replace(obs, flow_version=None, resolve_error=(
            obs.replay_error or "spec.replay.execution: the source is not found yet"))
    return obs


def decide(obs: Observed) -> Decision:
    """Return what to do with an Execution given what was observed."""
    obs = _usable(obs)
    status = obs.status.model_copy(deep=True)
    status.observed_generation = obs.generation
    status.execution_id = obs.execution_id or status.execution_id
    decision = Decision(status=status)

    if status.flow_version is None:
        if obs.flow_version is None or obs.flow_version_name is None:
            message = obs.resolve_error or "the FlowVersion could not be resolved"
            told = any(c.type == "Resolved" and c.status == "False" and c.message == message
                       for c in obs.status.conditions)
            set_condition(status, Condition(type="Resolved", status="False",
                                             reason="FlowVersionNotFound", message=message,
                                             observed_generation=obs.generation), obs.now)
            if not told:  # once per reason, not on every pass while it lasts
                decision.add(Event("Warning", "FlowVersionNotFound", message))
            decision.requeue_after = 15.0
            return decision
        status.flow_version = obs.flow_version_name
        status.flow = obs.flow_version.flow
        status.version = obs.flow_version.version
        set_condition(status, Condition(
            type="Resolved", status="True", reason="Pinned",
            message=f"pinned FlowVersion {obs.flow_version_name}",
            observed_generation=obs.generation), obs.now)
    if obs.flow_version is None:
        # Pinned, but the FlowVersion was deleted; runs already made need nothing from it.
        decision.requeue_after = 60.0

    if obs.latest is not None:
        status.checkpoints = CheckpointCounts(count=obs.latest.checkpoints,
                                              last=list(obs.latest.last_checkpoints))

    active = [j for j in obs.jobs if j.state == "active"]
    status.checkpoint_pods = sum(1 for j in active if j.checkpoint is not None)
    pod_events(decision, obs)
    if status.phase in ("Succeeded", "Cancelled"):
        return decision
    if obs.spec.cancel:
        decision.add(DeleteJobs(tuple(active)))
        set_phase(decision, "Cancelled", obs, reason="Cancelled",
               message="cancelled by spec.cancel; run pods stopped")
        status.pending_wait = None
        status.waiting_on = None
        status.running_checkpoints = []  # its pods are being stopped
        status.checkpoint_pods = 0
        return decision

    if status.phase == "Failed":
        if obs.spec.retry > status.observed_retry:
            status.observed_retry = obs.spec.retry
            status.infra_retries = 0
            start_run(decision, obs, status.run + 1, reason="Retrying",
                       message=f"retry requested (spec.retry={obs.spec.retry}); finished "
                       "checkpoints are reused")
        return decision
    status.observed_retry = max(status.observed_retry, obs.spec.retry)

    if obs.store_fault is not None:
        return store_fault(decision, obs, obs.store_fault, active=bool(active))
    if obs.store_read:
        store_answers(decision, obs)

    # Status is an index: with no run in status or Jobs (status lost, Jobs expired), the
    # store's own record of runs is the truth, so a run is never started twice.
    run = max(current_run(status, obs.jobs), obs.store_run)
    if run == 0:
        start_run(decision, obs, 1, reason="Started", message="run 1 started")
        return decision
    resumed = resume_in_flight(status, obs.spec, obs.jobs, run)
    if resumed is not None:
        return _accept(decision, obs, resumed, status.run)
    status.run = run
    return _on_run(decision, obs, run)


def _on_run(decision: Decision, obs: Observed, run: int) -> Decision:
    """Decide from how run ``run`` (the newest) stands: going, lost, or ended."""
    job = next((j for j in obs.jobs if j.run == run and not j.branch), None)
    outcome = obs.latest.outcome if obs.latest is not None else None
    report = job.report if job is not None and job.state == "failed" else None
    if outcome is None and report is not None and report.final and report.error is not None:
        # The runtime itself reported why it could not run (a bad entrypoint, a bucket
        # that does not exist): definitive, so it is not retried as an infrastructure
        # failure. A report of an unreachable store is not final and goes on below.
        outcome = RunOutcome(run=run, outcome="failed", error=ErrorInfo(
            type=report.error.type, origin=report.error.origin,
            message=report.error.message))
    if outcome is None:
        if job is not None and job.state == "active":
            set_phase(decision, "Running", obs, reason="Running", message=f"run {run} running")
            return decision
        if job is None and not (obs.latest and obs.latest.claimed):
            # The Job is gone (or was never made) and the pod never started: make it.
            create_run_job(decision, obs, run)
            set_phase(decision, "Running", obs, reason="Running", message=f"run {run} starting")
            return decision
        if report is not None and report.error is not None:  # not final: the store
            return infrastructure_failure(
                decision, obs, run, f"the run pod gave up on the store: "
                f"{report.error.message}", store_outage=True, job=job)
        return infrastructure_failure(
            decision, obs, run,
            job.reason if job and job.reason else "the run pod ended without recording an "
            "outcome", job=job)
    if outcome.outcome == "dispatch" and outcome.dispatch is not None:
        return dispatched(decision, obs, run, outcome.dispatch)
    if (outcome.outcome == "failed" and outcome.error is not None
            and outcome.error.origin == "infrastructure"):
        # The run gave up on an unreachable store and could still record so: not final.
        return infrastructure_failure(
            decision, obs, run, f"the run gave up on the store: {outcome.error.message}",
            store_outage=True)
    return _after_outcome(decision, obs, outcome)


#: A return value this small (its stored JSON) is copied into status.output.value.
OUTPUT_IN_STATUS_BYTES = 1024


def small_output(ref: ValueRef) -> Any:
    """The JSON of a small plain-JSON return value, else None (read it from the store)."""
    if (ref.inline is None or ref.serializer not in ("json", "pydantic")
            or len(ref.inline.encode()) > OUTPUT_IN_STATUS_BYTES):
        return None
    return json.loads(ref.inline)


def _until_deadline(decision: Decision, obs: Observed, run: int, wait: WaitInfo) -> Decision:
    """A timer, or a wait with a timeout: wake at its deadline with no pod held until
    then (a timer per execution, not a poll of all of them); then the next run goes on
    (past the timer, or into the flow's timeout handling)."""
    assert wait.deadline is not None
    until = wait.deadline.isoformat(timespec="seconds")
    if obs.now < wait.deadline:
        decision.requeue_after = max((wait.deadline - obs.now).total_seconds(), 0.1)
        set_phase(decision, "Waiting", obs, reason="Sleeping" if wait.kind == "timer"
                  else "Waiting", message=f"sleeping until {until}" if wait.kind == "timer"
                  else f"waiting for input on {wait.name!r} until {until}")
        return decision
    timer = wait.kind == "timer"
    start_run(decision, obs, run + 1, reason="TimerFired" if timer else "WaitTimedOut",
              message=(f"run {run + 1} goes on after timer {wait.name!r} (due {until})"
                       if timer else f"run {run + 1} goes on: wait {wait.name!r} got no "
                       f"answer by {until}"))
    return decision


def _after_outcome(decision: Decision, obs: Observed, outcome: RunOutcome) -> Decision:
    status = decision.status
    run = status.run
    if outcome.outcome == "succeeded":
        if outcome.output is not None:
            status.output = OutputRef(digest=outcome.output.digest, type=outcome.output.type,
                                      value=small_output(outcome.output))
        set_phase(decision, "Succeeded", obs, reason="Succeeded", message=f"run {run} succeeded")
        return decision
    if outcome.outcome == "cancelled":
        set_phase(decision, "Cancelled", obs, reason="Cancelled", message="the run stopped")
        return decision
    if outcome.outcome == "failed":
        error = outcome.error
        status.error = ErrorStatus(
            type=error.type if error else "Error", origin=error.origin if error else "runtime",
            message=(error.message if error else "the run failed")[:1000])
        set_phase(decision, "Failed", obs, reason="Failed",
               message=f"{status.error.type}: {status.error.message}"[:1000])
        return decision

    wait = outcome.wait
    if wait is None:  # a waiting outcome always names its wait; be defensive
        return decision
    status.pending_wait = PendingWait(name=wait.name, kind=wait.kind, question=wait.question,
                                      schema=wait.schema, since=wait.since,
                                      deadline=wait.deadline)
    status.waiting_on = wait.name
    # Scale to zero: no pod, not even a finished one, is kept for a waiting execution.
    finished = tuple(j for j in obs.jobs if j.state != "active")
    if finished:
        decision.add(DeleteJobs(finished))
    answered = wait.kind == "input" and wait.name in obs.spec.answers
    if wait.deadline is not None and not answered:
        return _until_deadline(decision, obs, run, wait)
    if wait.name not in obs.spec.answers:
        set_phase(decision, "Waiting", obs, reason="Waiting",
               message=f"waiting for input on {wait.name!r}")
        return decision
    value = obs.spec.answers[wait.name]
    try:
        check_answer(obs.name, wait.name, wait.schema, value)
    except KitaruWaitValidationError as exc:
        set_phase(decision, "Waiting", obs, reason="Waiting",
               message=f"waiting for input on {wait.name!r}")
        text = str(exc)
        message = text[:1].upper() + text[1:]
        old = next((c for c in status.conditions if c.type == "InputRejected"), None)
        if old is None or old.message != message or old.status != "True":
            decision.add(Event("Warning", "InputRejected", message))
        set_condition(status, Condition(type="InputRejected", status="True",
                                         reason="SchemaMismatch", message=message,
                                         observed_generation=obs.generation), obs.now)
        return decision
    return _accept(decision, obs, wait.name, run)


def _accept(decision: Decision, obs: Observed, wait: str, run: int) -> Decision:
    """The answer to ``wait`` (run ``run``'s) is accepted: run ``run + 1`` goes on with it."""
    status = decision.status
    drop_condition(status, "InputRejected")
    if wait not in status.accepted_answers:
        status.accepted_answers.append(wait)
    decision.add(Event("Normal", "InputAccepted", f"answer to wait {wait!r} accepted"))
    start_run(decision, obs, run + 1, reason="Resumed",
              message=f"run {run + 1} started with the answer to {wait!r}")
    return decision


def resume_in_flight(status: ExecutionStatus, spec: ExecutionSpec,
                     jobs: tuple[JobView, ...], run: int) -> str | None:
    """The answered wait whose resuming run's Job is made while status still shows the
    wait (None: there is none): its status write, sent beside the Job create, was
    refused (the Execution changed meanwhile) or never landed. The Job carries the
    answer, so the pass accepts it as the refused one did (its Job create is then
    refused as made)."""
    wait = status.pending_wait
    if (status.phase == "Waiting" and wait is not None and wait.kind == "input"
            and wait.name in spec.answers and run == status.run + 1
            and any(j.run == run and j.state == "active" and j.checkpoint is None
                    and not j.branch for j in jobs)):
        return wait.name
    return None
