"""CLI commands that show logged metadata and stored values, abort waits, follow logs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sdk.test_cli import _wait_status, kitaru


def _run(entrypoint: str, inputs: str = "{}") -> str:
    started = kitaru("run", entrypoint, "--input", inputs, "-o", "json")
    assert started.returncode == 0, started.stderr
    exec_id: str = json.loads(started.stdout)["exec_id"]
    return exec_id


def test_get_shows_what_each_checkpoint_logged(store_uri: str, counters: Path) -> None:
    exec_id = _run("tests.sdk.test_checkpoints:logging_flow")

    shown = kitaru("executions", "get", exec_id)

    assert 'tagged: tokens=42, model="small"' in shown.stdout
    assert 'execution metadata: customer="acme"' in shown.stdout
    as_json = json.loads(kitaru("executions", "get", exec_id, "-o", "json").stdout)
    assert as_json["checkpoints"][0]["metadata"] == {"tokens": 42, "model": "small"}


def test_artifacts_get_prints_a_checkpoints_stored_value(
    store_uri: str, counters: Path
) -> None:
    exec_id = _run("tests.sdk.sample_flows:approval_flow", '{"topic": "kelp"}')

    notes = kitaru("artifacts", "get", exec_id, "research", "-o", "json")
    text = kitaru("artifacts", "get", exec_id, "draft")
    missing = kitaru("artifacts", "get", exec_id, "publish")

    assert notes.returncode == 0 and json.loads(notes.stdout) == {"summary": "notes on kelp"}
    assert text.stdout == "Draft: notes on kelp\n"
    assert missing.returncode == 1
    assert missing.stderr == (f"kitaru: error: execution {exec_id} has no checkpoint or "
                              "artifact 'publish'; it has: draft, research\n")
    listing = kitaru("artifacts", "list", exec_id).stdout.splitlines()
    assert [line.split()[0] for line in listing] == ["NAME", "research", "draft"]


def test_abort_wait_makes_the_flows_wait_raise(store_uri: str, counters: Path) -> None:
    exec_id = _run("tests.sdk.sample_flows:approval_flow", '{"topic": "kelp"}')

    aborted = kitaru("executions", "abort-wait", exec_id)

    assert aborted.returncode == 0, aborted.stderr
    assert aborted.stdout.startswith(f"{exec_id}: wait 'approve' aborted; run 2 started")
    info = _wait_status(exec_id, "failed")
    assert info["status"] == "failed"
    assert "aborted" in json.dumps(info["error"])


def test_logs_follow_on_a_finished_execution_prints_its_logs_and_ends(
    store_uri: str, counters: Path
) -> None:
    exec_id = _run("tests.sdk.sample_flows:diamond", '{"x": 1, "label": "hi"}')

    followed = kitaru("executions", "logs", exec_id, "--follow")

    assert followed.returncode == 0
    assert followed.stdout == kitaru("executions", "logs", exec_id).stdout
    assert followed.stdout.startswith("--- run 1 ---\n")
    assert "run 1 ended: succeeded" in followed.stdout
