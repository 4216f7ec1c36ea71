"""A killed run, a failed run and their retries: finished checkpoints never run again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruExecutionError, KitaruStateError
from tests.sdk.sample_flows import fails_until_fixed, runs_of

ROOT = Path(__file__).resolve().parents[2]

_RUN_THREE_STEPS = """
from tests.sdk.sample_flows import three_steps
print(three_steps.run().exec_id, flush=True)
"""


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_process_killed_mid_checkpoint_is_failed_and_retry_finishes_it(
    store_uri: str, counters: Path
) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _RUN_THREE_STEPS], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    _wait_for(counters / "gate-slow-started")
    client = KitaruClient()
    (running,) = client.executions.list()
    assert running.status == "running"

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    info = client.executions.get(running.exec_id)
    assert info.status == "failed"
    assert info.error is not None and info.error.origin == "runtime"
    assert "exited without recording an outcome" in info.error.message
    assert [c.id for c in info.checkpoints] == ["slow_step"]  # step 2 left no record

    (counters / "gate-slow-release").write_text("go")
    handle = client.executions.retry(running.exec_id)

    assert handle.wait(timeout=60) == [10, 20, 30]
    assert runs_of(counters, "slow_step_1") == 1
    assert runs_of(counters, "slow_step_2") == 2  # killed once, then finished
    assert runs_of(counters, "slow_step_3") == 1
    assert client.executions.get(running.exec_id).runs == 2


def test_failure_in_user_code_is_reported_and_retry_reuses_finished_checkpoints(
    store_uri: str, counters: Path
) -> None:
    handle = fails_until_fixed.run(x=1)

    assert handle.status == "failed"
    with pytest.raises(KitaruExecutionError) as failed:
        handle.wait()
    assert failed.value.exec_id == handle.exec_id
    assert failed.value.origin == "user_code"
    assert failed.value.error_type == "RuntimeError"
    assert "checkpoint 'fragile': the tool is down" in str(failed.value)

    (counters / "gate-fixed").write_text("yes")
    KitaruClient().executions.retry(handle.exec_id)

    assert handle.wait(timeout=60) == 12
    assert runs_of(counters, "slow_step_1") == 1
    assert runs_of(counters, "fragile") == 2


def test_retry_of_an_execution_that_did_not_fail_is_refused(
    store_uri: str, counters: Path
) -> None:
    (counters / "gate-fixed").write_text("yes")
    handle = fails_until_fixed.run(x=1)
    assert handle.wait() == 12

    with pytest.raises(KitaruStateError, match="is completed; only a failed execution"):
        KitaruClient().executions.retry(handle.exec_id)


def test_cancel_stops_a_running_retry_at_once(store_uri: str, counters: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _RUN_THREE_STEPS], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    _wait_for(counters / "gate-slow-started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    client = KitaruClient()
    (execution,) = client.executions.list()
    (counters / "gate-slow-started").unlink()
    handle = client.executions.retry(execution.exec_id)
    _wait_for(counters / "gate-slow-started")

    client.executions.cancel(execution.exec_id)

    deadline = time.monotonic() + 30
    while handle.status == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert handle.status == "cancelled"
    assert runs_of(counters, "slow_step_3") == 0


def test_ctrl_c_in_a_process_that_lives_on_ends_the_execution_in_a_final_state(
    store_uri: str, counters: Path
) -> None:
    from kitaru.journal import list_execution_ids
    from kitaru.stores import open_store
    from tests.sdk.sample_flows import interrupted_once

    with pytest.raises(KeyboardInterrupt):
        interrupted_once.run()

    (exec_id,) = list_execution_ids(open_store(store_uri))
    client = KitaruClient()
    info = client.executions.get(exec_id)  # this process still lives: no pid guesswork
    assert info.status == "failed" and info.error is not None
    assert info.error.type == "Interrupted" and "interrupted (Ctrl-C)" in info.error.message
    assert client.executions.retry(exec_id).wait(timeout=60) == "done"
