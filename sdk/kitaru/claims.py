"""Run numbers and claims: which process runs which run of an execution.

A run is started by writing its claim (``runs/<n>/start.json``, create-if-absent): the
claim names the process (pid and host) and why the run started, so of two launchers
racing for one run number exactly one wins, and a status reader can tell a live run
from a dead one. The engine is not needed for this, so a command that only starts runs
does not load it.
"""

from __future__ import annotations

import os

from kitaru.journal import ExecutionStore
from kitaru.records import RunStart
from kitaru.status import this_host

__all__ = ["claim_run", "next_run_number"]


def claim_run(journal: ExecutionStore, run: int, *, reason: str, pid: int | None = None) -> bool:
    """Claim run ``run`` of an execution for a process (this one by default); False when
    another process claimed it first."""
    start = RunStart(run=run, pid=pid or os.getpid(), host=this_host(), reason=reason)
    return journal.claim_run(start)


def next_run_number(journal: ExecutionStore) -> int:
    """Return the number the next run of the execution gets."""
    numbers = journal.run_numbers()
    return (numbers[-1] + 1) if numbers else 1
