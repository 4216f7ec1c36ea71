"""How an answer, a retry or a replay starts its run's process (``kitaru.launch``):
forked from the command on Linux, or a fresh interpreter; either way detached from the
command, named by the run's claim, and started once only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.polling import wait_until
from tests.sdk.sample_flows import gate, runs_of

ROOT = Path(__file__).resolve().parents[2]


def kitaru(*args: str, launch: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"KITARU_LAUNCH": launch} if launch is not None else {})}
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=env)


def _status(exec_id: str) -> dict[str, object]:
    info: dict[str, object] = json.loads(kitaru("executions", "get", exec_id, "-o",
                                                "json").stdout)
    return info


def _started(topic: str) -> str:
    started = kitaru("run", "tests.sdk.sample_flows:wait_then_hold", "--input",
                     json.dumps({"topic": topic}), "-o", "json")
    assert started.returncode == 0, started.stderr
    exec_id: str = json.loads(started.stdout)["exec_id"]
    return exec_id


@pytest.mark.parametrize("launch", ["fork", "spawn", "auto"])
def test_an_answer_starts_a_detached_run_the_claim_names(
        launch: str, store_uri: str, counters: Path) -> None:
    exec_id = _started("kelp")
    # The command's output goes through a pipe, as in `kitaru executions input ... | head`:
    # it ends with the command, while the run it started goes on.
    answered = kitaru("executions", "input", exec_id, "--value", "true", launch=launch)
    assert answered.returncode == 0, answered.stderr
    assert answered.stdout == f"{exec_id}: answer to 'go' accepted; run 2 started\n"

    wait_until(lambda: gate("held-started").exists(), timeout=30)
    body_pid = int(gate("held-started").read_text())
    running = _status(exec_id)
    assert running["status"] == "running"
    assert running["pid"] == body_pid  # the claim names the process that runs the body
    # In a session of its own, so Ctrl-C in the user's terminal spares it.
    assert os.getsid(body_pid) != os.getsid(0)

    gate("held-release").write_text("")
    wait_until(lambda: _status(exec_id)["status"] == "completed", timeout=30)
    done = _status(exec_id)
    assert done["output"] == "NOTES ON KELP" and done["runs"] == 2
    assert runs_of(counters, "research") == 1 and runs_of(counters, "held_step") == 1


def test_a_run_whose_claim_is_lost_does_not_start(store_uri: str, counters: Path) -> None:
    exec_id = _started("kelp")
    kitaru_code = (
        "import sys\n"
        "from kitaru.errors import KitaruStateError\n"
        "from kitaru.journal import ExecutionStore\n"
        "from kitaru.launch import launch_run\n"
        "from kitaru.records import Answer\n"
        "from kitaru.claims import claim_run\n"
        "from kitaru.stores import open_store\n"
        f"journal = ExecutionStore(open_store({store_uri!r}), {exec_id!r})\n"
        "journal.answer(Answer(wait='go', value=True))\n"
        "class Racing(ExecutionStore):\n"
        "    def claim_run(self, start):\n"  # another launcher claims the run first
        "        claim_run(ExecutionStore(self.store, self.exec_id), start.run,\n"
        "                  reason='input', pid=1)\n"
        "        return super().claim_run(start)\n"
        f"try:\n    launch_run(Racing(journal.store, {exec_id!r}), reason='input')\n"
        "except KitaruStateError as exc:\n    print(exc)\n")
    for launch in ("fork", "spawn"):
        raced = subprocess.run([sys.executable, "-c", kitaru_code], cwd=ROOT, text=True,
                               capture_output=True, timeout=60, check=False,
                               env={**os.environ, "KITARU_LAUNCH": launch})
        assert raced.stdout == (f"execution {exec_id}: another process started run 2 "
                                "first\n"), raced.stderr
        (Path(store_uri) / "executions" / exec_id / "runs" / "2" / "start.json").unlink()
    time.sleep(1.0)  # long enough for a run that wrongly started to reach its body
    assert runs_of(counters, "held_step") == 0
    assert not gate("held-started").exists()


def test_a_bad_launch_setting_is_refused_before_the_answer_is_recorded(
        store_uri: str, counters: Path) -> None:
    exec_id = _started("kelp")
    refused = kitaru("executions", "input", exec_id, "--value", "true", launch="frok")
    assert refused.returncode == 1
    assert refused.stderr == ("kitaru: error: KITARU_LAUNCH must be one of auto, fork, "
                              "spawn, got 'frok'\n")
    assert _status(exec_id)["status"] == "waiting"
    answered = kitaru("executions", "input", exec_id, "--value", "false")
    assert answered.returncode == 0, answered.stderr
    wait_until(lambda: _status(exec_id)["status"] == "completed", timeout=30)
    assert _status(exec_id)["output"] == "stopped"


@pytest.mark.parametrize("launch", ["fork", "spawn"])
def test_a_run_process_ends_as_an_interpreter_does(
        launch: str, store_uri: str, counters: Path) -> None:
    """Its threads are waited for and its exit functions run (a tracing exporter's last
    flush): a forked run does not lose them by exiting at once."""
    started = kitaru("run", "tests.sdk.sample_flows:wait_then_thread", "--input",
                     '{"topic": "kelp"}', "-o", "json")
    exec_id = json.loads(started.stdout)["exec_id"]
    answered = kitaru("executions", "input", exec_id, "--value", "true", launch=launch)
    assert answered.returncode == 0, answered.stderr
    wait_until(lambda: gate("atexit-ran").exists(), timeout=30)
    assert gate("atexit-ran").read_text() == "after the thread"
    assert _status(exec_id)["status"] == "completed"
