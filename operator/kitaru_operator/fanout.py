"""Runs that ended with outcome ``dispatch``: isolated checkpoints in pods of their own.

See :mod:`kitaru.dispatch` for what the pods do. Here, what the operator makes of it:

- one sequential call: the next run is that checkpoint's pod (its placement, its body,
  then the flow goes on in the same pod), so it costs one pod start;
- a fan-out: one branch Job per call, at most the FlowVersion's ``parallelism`` at once.
  A branch pod that was lost (killed, evicted) is made again as a new attempt while the
  FlowVersion's retries last; one whose checkpoint failed in user code (after its own
  retries) fails the execution once no other branch is running, so finished branches
  keep their results for ``spec.retry``. When every branch has committed, the next run
  goes on from there.
"""

from __future__ import annotations

from kitaru.records import DispatchedCall, DispatchRequest
from kitaru_operator.models import ErrorStatus
from kitaru_operator.observed import CreateRunJob, Decision, Event, JobView, Observed
from kitaru_operator.transitions import set_phase, start_run

#: Branch pods listed by name in status while they run (status stays bounded).
LISTED_BRANCHES = 10


def dispatched(decision: Decision, obs: Observed, run: int,
               request: DispatchRequest) -> Decision:
    """Decide the pods for the calls run ``run`` left to pods of their own."""
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
    to_start: list[tuple[DispatchedCall, int]] = []  # (the call, attempt)
    for call in request.calls:
        job = branches.get(call.id)
        if job is None:
            to_start.append((call, 1))
        elif job.state == "failed":
            if job.report is not None and job.report.final:
                failed.append((call.id, job))
            elif status.infra_retries < limit:
                status.infra_retries += 1
                decision.add(Event("Warning", "CheckpointPodLost",
                                   f"checkpoint {call.id}: pod {job.name} failed: "
                                   f"{job.reason or 'lost'}; starting attempt {job.attempt + 1}"))
                to_start.append((call, job.attempt + 1))
            else:
                failed.append((call.id, job))
    for call, attempt in to_start[:max(parallelism - running, 0)]:
        decision.add(CreateRunJob(run, {}, checkpoint=call.id, checkpoint_name=call.name,
                                  branch=True, attempt=attempt, resources=call.resources))
        decision.add(Event("Normal", "CheckpointPodStarted",
                           f"checkpoint {call.id}: pod started (attempt {attempt})"))
        running += 1
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
    if failed and running == 0:
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
              f"finished, {running} running")
    return decision
