"""A run's log reaches the store while the run goes on, and outlives a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kitaru import KitaruClient
from kitaru.journal import ExecutionStore
from kitaru.status import ExecutionInfo
from kitaru.stores import open_store
from tests.sdk.test_crash_and_retry import _RUN_THREE_STEPS, _wait_for

ROOT = Path(__file__).resolve().parents[2]


def _until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _three_steps_blocked(counters: Path) -> tuple[subprocess.Popen[str], ExecutionInfo]:
    """Start three_steps in a process of its own; return once its step 2 is blocked."""
    proc = subprocess.Popen([sys.executable, "-c", _RUN_THREE_STEPS], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    _wait_for(counters / "gate-slow-started")
    (running,) = KitaruClient().executions.list()
    return proc, running


def test_a_sigkilled_runs_log_is_readable_up_to_the_kill(
    store_uri: str, counters: Path
) -> None:
    proc, running = _three_steps_blocked(counters)
    client = KitaruClient()

    # While the run is going (blocked in its second checkpoint), its log is in the store.
    _until(lambda: "checkpoint slow_step: ran in" in client.executions.logs(running.exec_id))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    logs = client.executions.logs(running.exec_id)
    assert f"run 1 of execution {running.exec_id} started" in logs
    assert "checkpoint slow_step: ran in" in logs
    assert "run 1 ended" not in logs  # it never ended: this is what the parts kept
    journal = ExecutionStore(open_store(store_uri), running.exec_id)
    assert journal.read_log_parts(1), "the log went up in parts"


def test_following_a_live_run_shows_its_log_as_it_goes_then_stops(
    store_uri: str, counters: Path
) -> None:
    proc, running = _three_steps_blocked(counters)
    client = KitaruClient()
    seen: list[str] = []

    def release_once_following(_: float) -> None:
        if any("checkpoint slow_step: ran in" in text for text in seen):
            (counters / "gate-slow-release").write_text("go")
        time.sleep(0.05)

    for text in client.executions.follow_logs(running.exec_id, sleep=release_once_following):
        seen.append(text)
    proc.wait(timeout=30)

    followed = "".join(seen)
    assert followed.startswith("--- run 1 ---\n")
    assert followed.count("checkpoint slow_step: ran in") == 1
    assert "checkpoint slow_step_3: ran in" in followed and "run 1 ended: succeeded" in followed
    assert followed.endswith(client.executions.logs(running.exec_id).split("---\n", 1)[1])
