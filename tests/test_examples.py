"""The runnable examples are part of the documentation, so they run in the test suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_demo_runs_waits_resumes_and_replays(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KITARU_STORE"}
    done = subprocess.run([sys.executable, str(EXAMPLES / "demo.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240, check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "result: published: A Friendly Post" in done.stdout
    assert "(replay, not published) A Formal Post" in done.stdout
    assert (tmp_path / ".kitaru" / "executions").is_dir()  # the embedded default store


def test_the_openai_agents_example_waits_for_approval_and_pays_for_no_call_twice(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KITARU_STORE", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    done = subprocess.run([sys.executable, str(EXAMPLES / "openai_agents_approval.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
                          check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert ": waiting on approve_tool" in done.stdout
    assert "result: Done: refunded 25." in done.stdout
    assert "model calls made: 2" in done.stdout


def test_the_pydantic_ai_example_checkpoints_each_call_and_waits_for_approval(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KITARU_STORE"}
    done = subprocess.run([sys.executable, str(EXAMPLES / "pydantic_ai_approval.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
                          check=False)

    assert done.returncode == 0, done.stdout + done.stderr
    assert ": waiting on approve_tool" in done.stdout
    assert "result: order A-7: delivered broken; refunded 25" in done.stdout
    assert "support__function_toolset___agent_.call_tool_refund     tool_call  run 2" in (
        done.stdout)
    # The resumed run read the lookup and the first model requests back (run 1's).
    assert "support__function_toolset___agent_.call_tool_lookup     tool_call  run 1" in (
        done.stdout)
