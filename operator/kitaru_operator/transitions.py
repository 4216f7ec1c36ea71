"""Changes every decision makes the same way: conditions, phase moves, a new run.

Each function edits the :class:`~kitaru_operator.observed.Decision` it is given; none
reads anything but the observation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kitaru_operator.models import Condition, ExecutionStatus
from kitaru_operator.observed import CreateRunJob, Decision, Event, Observed


def set_condition(status: ExecutionStatus, condition: Condition, now: datetime) -> None:
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


def drop_condition(status: ExecutionStatus, kind: str) -> None:
    status.conditions = [c for c in status.conditions if c.type != kind]


def set_phase(decision: Decision, phase: Any, obs: Observed, *, reason: str, message: str) -> None:
    status = decision.status
    if status.phase != phase:
        decision.add(Event("Warning" if phase == "Failed" else "Normal", reason,
                                     message))
    status.phase = phase
    done = {"Succeeded": "True", "Failed": "False", "Cancelled": "False"}.get(phase, "Unknown")
    set_condition(status, Condition(type="Succeeded", status=done,  # type: ignore[arg-type]
                                     reason=reason, message=message,
                                     observed_generation=obs.generation), obs.now)
    if phase in ("Succeeded", "Failed", "Cancelled"):
        status.finished_at = status.finished_at or obs.now
    else:
        status.finished_at = None


def create_run_job(decision: Decision, obs: Observed, run: int, *,
                   checkpoint: str | None = None, checkpoint_name: str | None = None,
                   resources: dict[str, Any] | None = None,
                   checkpoint_attempt: int = 1) -> None:
    """Add the Job of run ``run``, with the answers accepted so far. Run 1 of a replay
    carries its request (decide() makes no run 1 of a replay before it has one)."""
    status = decision.status
    if run == 1 and obs.spec.replay is not None and obs.replay is None:
        decision.requeue_after = 15.0  # the source is gone for now: never run 1 without it
        return
    answers = {k: obs.spec.answers[k] for k in status.accepted_answers
               if k in obs.spec.answers}
    decision.add(CreateRunJob(run, answers, obs.replay if run == 1 else None,
                              checkpoint=checkpoint, checkpoint_name=checkpoint_name,
                              resources=resources, checkpoint_attempt=checkpoint_attempt))


def start_run(decision: Decision, obs: Observed, run: int, *, reason: str, message: str,
              checkpoint: str | None = None, checkpoint_name: str | None = None,
              resources: dict[str, Any] | None = None, checkpoint_attempt: int = 1) -> None:
    status = decision.status
    create_run_job(decision, obs, run, checkpoint=checkpoint, checkpoint_name=checkpoint_name,
                   resources=resources, checkpoint_attempt=checkpoint_attempt)
    status.run = run
    status.started_at = status.started_at or obs.now
    status.next_run_after = None
    status.error = None
    status.output = None
    status.pending_wait = None
    status.waiting_on = None
    set_phase(decision, "Running", obs, reason=reason, message=message)
