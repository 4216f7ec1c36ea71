"""Runs that ended with outcome ``dispatch``: isolated checkpoints in pods of their own.

See :mod:`kitaru.dispatch` for what the pods do. Here, what the operator makes of it:

- one sequential call: the next run is that checkpoint's pod (its placement, its body,
  then the flow goes on in the same pod), so it costs one pod start;
- a fan-out: one branch Job per call, at most the FlowVersion's ``parallelism`` at once.
  A branch pod that was lost (killed, evicted) is made again as a new attempt while the
  FlowVersion's retries last; one whose checkpoint failed in user code (after its own
  retries) fails the execution once no other branch is running, so finished branches
  keep their results for ``spec.retry``. When every branch has committed, the next run
  goes on from there;
- a body that failed in user code with retries left (``@checkpoint(retries=N)``): its
  next attempt is a new pod, made once the checkpoint's backoff has passed (the pod that
  failed asked for it, see :class:`~kitaru.records.RetryRequest`). No pod is held
  meanwhile.

Every checkpoint pod's end is told once in an Event (finished, retried, failed); the
Job is then marked, so a later pass does not tell it again.
"""

from __future__ import annotations

from datetime import datetime

from kitaru.records import DispatchedCall, DispatchRequest
from kitaru_operator.models import ErrorStatus
from kitaru_operator.observed import (
    CreateRunJob,
    Decision,
    Event,
    JobView,
    MarkReported,
    Observed,
)
from kitaru_operator.transitions import set_phase, start_run

#: Branch pods listed by name in status while they run (status stays bounded).
LISTED_BRANCHES = 10


def dispatched(decision: Decision, obs: Observed, run: int,
               request: DispatchRequest) -> Decision:
    """Decide the pods for the calls run ``run`` left to pods of their own."""
    if not request.fan_out and request.retry is not None:
        return _retry_in_new_run(decision, obs, run, request)
    if not request.fan_out:
        call = request.calls[0]
        start_run(decision, obs, run + 1, reason="CheckpointDispatched",
                  message=f"run {run + 1} runs checkpoint {call.id} in its own pod and "
                  "carries the flow on", checkpoint=call.id, checkpoint_name=call.name,
                  resources=call.resources)
        decision.add(Event("Normal", "CheckpointPodStarted",
                           f"checkpoint {call.id}: pod of run {run + 1} started"))
        return decision
    return _fan_out(decision, obs, run, request)


def _retry_in_new_run(decision: Decision, obs: Observed, run: int,
                      request: DispatchRequest) -> Decision:
    """The body of a sequential isolated checkpoint failed with retries left: the next
    run is its next attempt, in a new pod, once the backoff has passed."""
    call, retry = request.calls[0], request.retry
    assert retry is not None
    status = decision.status
    if obs.now < retry.not_before:
        status.next_run_after = retry.not_before
        decision.requeue_after = (retry.not_before - obs.now).total_seconds()
        set_phase(decision, "Running", obs, reason="CheckpointRetrying",
                  message=f"checkpoint {call.id}: attempt {retry.attempt} failed; attempt "
                  f"{retry.attempt + 1} starts in a new pod at {_at(retry.not_before)}")
        return decision
    start_run(decision, obs, run + 1, reason="CheckpointRetrying",
              message=f"run {run + 1} makes attempt {retry.attempt + 1} at checkpoint "
              f"{call.id} in a new pod", checkpoint=call.id, checkpoint_name=call.name,
              resources=call.resources, checkpoint_attempt=retry.attempt + 1)
    return decision


def pod_events(decision: Decision, obs: Observed) -> None:
    """Tell in an Event how each checkpoint pod not yet told of ended, and mark it."""
    told: list[JobView] = []
    for job in obs.jobs:
        if job.state == "active" or job.reported:
            continue
        told.append(job)  # run pods too: the metrics count each pod's end once
        if job.checkpoint is None:
            continue
        report = job.report
        if report is not None and report.retry is not None:
            retry = report.retry
            decision.add(Event("Warning", "CheckpointRetried",
                               f"checkpoint {job.checkpoint}: attempt {retry.attempt} failed in "
                               f"pod {job.name} ({retry.error.type}: {retry.error.message}); "
                               f"attempt {retry.attempt + 1} runs in a new pod at "
                               f"{_at(retry.not_before)}"[:1000]))
        elif job.state == "succeeded" and not (report and report.outcome == "failed"):
            decision.add(Event("Normal", "CheckpointPodFinished",
                               f"checkpoint {job.checkpoint}: pod {job.name} finished "
                               f"(attempt {job.checkpoint_attempt})"))
        elif report is not None and report.error is not None:
            error = report.error
            decision.add(Event("Warning", "CheckpointPodFailed",
                               f"checkpoint {job.checkpoint}: pod {job.name} failed "
                               f"({error.origin}: {error.type}: {error.message})"[:1000]))
        else:  # lost: killed, evicted, OOMKilled, past its deadline
            decision.add(Event("Warning", "CheckpointPodFailed",
                               f"checkpoint {job.checkpoint}: pod {job.name} failed "
                               f"(infrastructure: {job.reason or 'lost'})"))
    if told:
        decision.add(MarkReported(tuple(told)))


def _at(when: datetime) -> str:
    return when.strftime("%H:%M:%S")


def _latest_attempts(obs: Observed, run: int) -> dict[str, JobView]:
    latest: dict[str, JobView] = {}
    for job in obs.jobs:
        if job.branch and job.run == run and job.checkpoint is not None and (
                job.checkpoint not in latest or job.attempt > latest[job.checkpoint].attempt):
            latest[job.checkpoint] = job
    return latest


def _fan_out(decision: Decision, obs: Observed, run: int,
             request: DispatchRequest) -> Decision:
    status = decision.status
    branches = _latest_attempts(obs, run)
    limit = obs.flow_version.retries if obs.flow_version else 0
    parallelism = obs.flow_version.parallelism if obs.flow_version else 1
    running = sum(1 for j in branches.values() if j.state == "active")
    failed: list[tuple[str, JobView]] = []
    # (the call, the pod's number, the attempt at the body)
    to_start: list[tuple[DispatchedCall, int, int]] = []
    retry_at: list[datetime] = []  # when retries not due yet may start
    for call in request.calls:
        job = branches.get(call.id)
        if job is None:
            to_start.append((call, 1, 1))
        elif job.state == "failed":
            retry = job.report.retry if job.report is not None else None
            if retry is not None and obs.now < retry.not_before:
                retry_at.append(retry.not_before)
            elif retry is not None:
                to_start.append((call, job.attempt + 1, retry.attempt + 1))
            elif job.report is not None and job.report.final:
                failed.append((call.id, job))
            elif status.infra_retries < limit:
                status.infra_retries += 1
                decision.add(Event("Warning", "CheckpointPodLost",
                                   f"checkpoint {call.id}: pod {job.name} failed: "
                                   f"{job.reason or 'lost'}; starting attempt {job.attempt + 1}"))
                to_start.append((call, job.attempt + 1, job.checkpoint_attempt))
            else:
                failed.append((call.id, job))
    for call, pod, attempt in to_start[:max(parallelism - running, 0)]:
        decision.add(CreateRunJob(run, {}, checkpoint=call.id, checkpoint_name=call.name,
                                  branch=True, attempt=pod, resources=call.resources,
                                  checkpoint_attempt=attempt))
        decision.add(Event("Normal", "CheckpointPodStarted",
                           f"checkpoint {call.id}: pod started (attempt {attempt})"))
        running += 1
    if retry_at:
        decision.requeue_after = max((min(retry_at) - obs.now).total_seconds(), 0.1)
    done = [c.id for c in request.calls
            if (j := branches.get(c.id)) is not None and j.state == "succeeded"]
    status.running_checkpoints = sorted(c for c, j in branches.items()
                                        if j.state == "active")[:LISTED_BRANCHES]
    if len(done) == len(request.calls):
        status.running_checkpoints = []
        start_run(decision, obs, run + 1, reason="FanOutDone",
                  message=f"all {len(done)} checkpoint pods of run {run} finished; run "
                  f"{run + 1} goes on")
        return decision
    if failed and running == 0 and not retry_at:
        checkpoint_id, job = failed[0]
        error = job.report.error if job.report is not None else None
        message = (f"checkpoint {checkpoint_id}: {error.message if error else job.reason}; "
                   f"{len(done)} of {len(request.calls)} checkpoints finished and are kept")
        status.error = ErrorStatus(type=error.type if error else "CheckpointPodFailed",
                                   origin=error.origin if error else "infrastructure",
                                   message=message[:1000])
        status.running_checkpoints = []
        set_phase(decision, "Failed", obs, reason="CheckpointFailed", message=message[:1000])
        return decision
    set_phase(decision, "Running", obs, reason="FanOut",
              message=f"run {run}: {len(done)} of {len(request.calls)} checkpoint pods "
              f"finished, {running} running" + (
                  f", {len(retry_at)} to retry" if retry_at else ""))
    return decision
