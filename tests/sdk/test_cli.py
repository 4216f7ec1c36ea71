"""The ``kitaru`` command as a user runs it: separate processes, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def kitaru(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _wait_status(exec_id: str, wanted: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        shown = kitaru("executions", "get", exec_id, "-o", "json")
        info: dict[str, object] = json.loads(shown.stdout)
        if info["status"] == wanted or time.monotonic() > deadline:
            return info
        time.sleep(0.1)


def test_run_wait_input_and_replay_from_the_command_line(
    store_uri: str, counters: Path
) -> None:
    started = kitaru("run", "tests.sdk.sample_flows:approval_flow", "--input",
                     '{"topic": "kelp"}', "--output", "json")
    assert started.returncode == 0, started.stderr
    exec_id = json.loads(started.stdout)["exec_id"]

    listing = kitaru("executions", "list")
    assert listing.returncode == 0
    header, row = listing.stdout.splitlines()
    assert header.split()[:4] == ["EXECUTION", "FLOW", "STATUS", "WAITING"]
    assert row.split()[:4] == [exec_id, "approval_flow", "waiting", "approve"]

    shown = kitaru("executions", "get", exec_id)
    assert "waiting on:  approve (Publish?)" in shown.stdout
    assert f"kitaru executions input {exec_id} --wait approve" in shown.stdout

    answered = kitaru("executions", "input", exec_id, "--wait", "approve", "--value", "true")
    assert answered.returncode == 0, answered.stderr
    info = _wait_status(exec_id, "completed")
    assert info["output"] == "published Draft: notes on kelp"

    replayed = kitaru("executions", "replay", exec_id, "--from", "draft", "-o", "json")
    assert replayed.returncode == 0, replayed.stderr
    replay_id = json.loads(replayed.stdout)["exec_id"]
    assert _wait_status(replay_id, "completed")["replay_of"] == exec_id
    assert "--- run 1 ---" in kitaru("executions", "logs", replay_id).stdout


def test_bad_input_exits_non_zero_with_one_line(store_uri: str, counters: Path) -> None:
    started = kitaru("run", "tests.sdk.sample_flows:approval_flow", "--input",
                     '{"topic": "kelp"}', "-o", "json")
    exec_id = json.loads(started.stdout)["exec_id"]

    cases = {
        ("executions", "get", "nope-123"): "no execution 'nope-123' in store file://",
        ("executions", "input", exec_id, "--value", "yes"): "--value is not valid JSON",
        ("executions", "input", exec_id, "--value", '"yes"'):
            f"execution {exec_id}: input for wait 'approve' must be a boolean, got \"yes\"",
        ("executions", "retry", exec_id): "only a failed execution can be retried",
        ("run", "tests.sdk.sample_flows:nothing"): "cannot be imported",
        ("run", "tests.sdk.sample_flows:approval_flow", "--input", "[1]"):
            "--input must be a JSON object",
        ("executions", "replay", exec_id, "--from", "drafts"): "no checkpoint 'drafts'",
    }
    for args, message in cases.items():
        result = kitaru(*args)
        assert result.returncode == 1, args
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("kitaru: error: ") and message in result.stderr, args

    usage = kitaru("executions", "frobnicate")
    assert usage.returncode == 2
    assert usage.stderr.count("\n") == 1 and "invalid choice" in usage.stderr
    # The rejected answers changed nothing.
    assert _wait_status(exec_id, "waiting")["status"] == "waiting"
