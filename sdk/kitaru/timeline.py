"""An execution's runs in order: when each started, and what ended it.

Read from the run claims and outcomes in the store, for the dashboard's timeline. A run
with no outcome is ``running`` while the process that claimed it may be alive, and
``lost`` once it is known to be gone (the same rule :mod:`kitaru.status` applies).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from kitaru.journal import ExecutionStore
from kitaru.model import Field, Model
from kitaru.status import claimant_alive

RunEnd = Literal["succeeded", "failed", "waiting", "cancelled", "dispatch", "running", "lost"]


class RunSummary(Model):
    """One run of an execution."""

    run: int
    reason: str = Field(description="What started it: start, input, retry, resume, replay, "
                        "timer, timeout, abort, or the operator's own reasons.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    ended: RunEnd
    wait: str | None = Field(default=None, description="The wait it stopped at.")
    error: str | None = Field(default=None, description="Why it failed, in one line.")
    checkpoints_run: int = 0
    checkpoints_reused: int = 0


def run_timeline(journal: ExecutionStore) -> list[RunSummary]:
    """Every run of the execution, oldest first."""
    runs = []
    for number in journal.run_numbers():
        start, outcome = journal.run_start(number), journal.run_outcome(number)
        if outcome is None:
            gone = start is not None and not claimant_alive(start)
            runs.append(RunSummary(run=number, reason=start.reason if start else "start",
                                   started_at=start.started_at if start else None,
                                   ended="lost" if gone else "running"))
            continue
        error = outcome.error
        runs.append(RunSummary(
            run=number, reason=start.reason if start else "start",
            started_at=start.started_at if start else None, finished_at=outcome.finished_at,
            ended=outcome.outcome, wait=outcome.wait.name if outcome.wait else None,
            error=f"{error.type}: {error.message}" if error else None,
            checkpoints_run=outcome.checkpoints_run,
            checkpoints_reused=outcome.checkpoints_reused))
    return runs
