"""``python -m kitaru.runtime`` as a run pod starts it: context from env, outcome out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kitaru import KitaruClient
from tests.sdk.sample_flows import runs_of

ROOT = Path(__file__).resolve().parents[2]


def run_pod(tmp_path: Path, run: int, **env: str) -> tuple[int, dict[str, object]]:
    message = tmp_path / f"termination-{run}"
    full_env = {**os.environ, "KITARU_EXECUTION_ID": "pod-exec-1", "KITARU_RUN": str(run),
                "KITARU_ENTRYPOINT": "tests.sdk.sample_flows:approval_flow",
                "KITARU_TERMINATION_LOG": str(message), "KITARU_HOST": "pod-1", **env}
    done = subprocess.run([sys.executable, "-m", "kitaru.runtime"], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=120, check=False)
    text = message.read_text() if message.exists() else "{}"
    return done.returncode, json.loads(text)


def test_pod_runs_report_outcomes_through_store_and_termination_message(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    code, message = run_pod(tmp_path, 1, KITARU_INPUT='{"topic": "reefs"}')
    assert code == 0
    assert message == {"run": 1, "outcome": "waiting", "recorded": True, "wait": "approve",
                       "checkpoints": {"run": 2, "reused": 0}}

    code, message = run_pod(tmp_path, 2, KITARU_INPUTS='{"approve": true}')
    assert code == 0
    assert message["outcome"] == "succeeded"
    assert message["checkpoints"] == {"run": 1, "reused": 2}
    info = KitaruClient().executions.get("pod-exec-1")
    assert info.status == "completed" and info.output == "published Draft: notes on reefs"
    assert (runs_of(counters, "research"), runs_of(counters, "publish")) == (1, 1)
    assert len(json.dumps(message)) < 4096


def test_a_run_number_is_never_run_twice(store_uri: str, counters: Path, tmp_path: Path) -> None:
    run_pod(tmp_path, 1, KITARU_INPUT='{"topic": "reefs"}')

    code, message = run_pod(tmp_path, 1, KITARU_INPUT='{"topic": "reefs"}')

    assert code == 2
    assert "already started by another process" in message["error"]["message"]  # type: ignore[index]
    assert runs_of(counters, "research") == 1


def test_bad_entrypoint_is_reported_as_a_failed_run(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    code, message = run_pod(tmp_path, 1, KITARU_ENTRYPOINT="tests.sdk.sample_flows")
    assert code == 2
    assert message["outcome"] == "failed"
    assert message["error"] == {
        "type": "KitaruUsageError", "origin": "runtime",
        "message": "entrypoint 'tests.sdk.sample_flows' must look like module:function"}


def test_pod_replay_reuses_the_source_journal(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    run_pod(tmp_path, 1, KITARU_INPUT='{"topic": "reefs"}')
    run_pod(tmp_path, 2, KITARU_INPUTS='{"approve": true}')

    code, message = run_pod(tmp_path, 1, KITARU_EXECUTION_ID="pod-replay-1",
                            KITARU_REPLAY='{"source": "pod-exec-1", "at": "draft"}')

    assert code == 0 and message["outcome"] == "succeeded"
    info = KitaruClient().executions.get("pod-replay-1")
    assert info.replay_of == "pod-exec-1"
    assert {c.id: c.source for c in info.checkpoints} == {
        "research": "replay", "draft": "run", "publish": "run"}
    assert (runs_of(counters, "research"), runs_of(counters, "draft")) == (1, 2)
