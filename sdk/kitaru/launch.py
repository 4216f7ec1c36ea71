"""Starting a run of an existing execution in a new process.

Answering a wait, retrying a failed execution and resuming one all end here: the caller
claims the next run number for a fresh ``python -m kitaru.runtime`` process and returns
at once. The claim names the new process's pid, so status readers can tell a live run
from a dead one, and a second launcher racing for the same run number loses cleanly.
"""

from __future__ import annotations

import os
import subprocess
import sys

from kitaru.errors import KitaruStateError
from kitaru.journal import ExecutionStore
from kitaru.runner import claim_run, next_run_number


def launch_run(journal: ExecutionStore, *, reason: str) -> int:
    """Start the next run of the execution in a detached process; return its number.

    Raises:
        KitaruStateError: Another process claimed the same run number first.
    """
    spec = journal.spec()
    run = next_run_number(journal)
    env = dict(os.environ)
    if spec.source_dir:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (spec.source_dir, env.get("PYTHONPATH", "")) if p
        )
    cwd = spec.cwd if spec.cwd and os.path.isdir(spec.cwd) else None
    command = [sys.executable, "-m", "kitaru.runtime", "--store", journal.store.uri,
               "--execution", journal.exec_id, "--run", str(run)]
    process = subprocess.Popen(
        command, cwd=cwd, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if not claim_run(journal, run, reason=reason, pid=process.pid):
        process.kill()
        process.wait()
        raise KitaruStateError(
            f"execution {journal.exec_id}: another process started run {run} first"
        )
    return run
