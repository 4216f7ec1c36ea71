"""The ``kitaru`` command under stress: closed pipes, Ctrl-C, broken modules, damaged stores.

None of these may print a Python traceback from the CLI itself; each ends with one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import kitaru as kitaru_package
from tests.sdk.sample_flows import approval_flow, gate, many_steps

ROOT = Path(__file__).resolve().parents[2]


def kitaru(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_a_listing_whose_reader_has_gone_exits_141_without_a_word(store_uri: str) -> None:
    for _ in range(30):
        many_steps.run(n=1)
    # The reader end is closed before the command writes, as after `| head -1` has read
    # its line, so the first write meets a closed pipe every time.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        listing = subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "list"],
                                 check=False, cwd=ROOT, stdout=write_end,
                                 stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert listing.returncode == 141
    assert listing.stderr == ""


# A background job's SIGINT is ignored and a child inherits that; a terminal's is not, so
# the command is started with Ctrl-C handled as Python does in a terminal.
AS_IN_A_TERMINAL = ("import runpy, signal; "
                    "signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "runpy.run_module('kitaru.cli', run_name='__main__')")


def test_ctrl_c_prints_one_line_and_exits_130(store_uri: str, counters: Path) -> None:
    command = subprocess.Popen(
        [sys.executable, "-c", AS_IN_A_TERMINAL, "run", "tests.sdk.sample_flows:three_steps"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while not gate("slow-started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    command.send_signal(signal.SIGINT)
    out, err = command.communicate(timeout=60)
    assert command.returncode == 130
    assert err == "kitaru: interrupted\n"
    assert out == ""


BROKEN_MODULES = {
    "raises": {
        "agent_mod.py": """
            import agent_helper
            from kitaru import flow

            @flow
            def agent() -> int:
                return agent_helper.VALUE
            """,
        "agent_helper.py": """
            def compute() -> float:
                return 1 / 0

            VALUE = compute()
            """,
    },
    "syntax": {
        "agent_mod.py": """
            from kitaru import flow

            @flow
            def agent( -> int:
                return 1
            """,
    },
}


@pytest.mark.parametrize("case, user_lines, error", [
    ("raises", ['agent_mod.py", line 1, in <module>', "import agent_helper",
                'agent_helper.py", line 4, in <module>', 'agent_helper.py", line 2, in compute',
                "return 1 / 0"], "ZeroDivisionError: division by zero"),
    ("syntax", ['agent_mod.py", line 4', "def agent( -> int:"], "SyntaxError:"),
])
def test_a_flow_module_that_fails_to_import_shows_only_the_users_frames(
    store_uri: str, tmp_path: Path, case: str, user_lines: list[str], error: str
) -> None:
    for name, text in BROKEN_MODULES[case].items():
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    result = kitaru("run", "agent_mod:agent", cwd=tmp_path)
    assert result.returncode == 1
    *frames, last = result.stderr.splitlines()
    assert last.startswith(f"kitaru: error: entrypoint 'agent_mod:agent' cannot be imported: "
                           f"{error}")
    shown = "\n".join(frames)
    for line in user_lines:
        assert line in shown
    assert "importlib" not in shown and str(Path(kitaru_package.__file__).parent) not in shown
    assert result.stdout == ""


def test_a_damaged_record_is_named_in_one_error_line(store_uri: str, counters: Path) -> None:
    exec_id = approval_flow.run(topic="kelp").exec_id
    folder = Path(store_uri) / "executions" / exec_id
    (folder / "journal" / "draft.json").write_text("garbage{")

    shown = kitaru("executions", "get", exec_id)
    assert shown.returncode == 1
    assert shown.stderr == (
        f"kitaru: error: {folder.resolve().as_uri()}/journal/draft.json is damaged and cannot "
        "be read (invalid JSON: expecting value at line 1 column 1); restore it from a backup, "
        "or remove that execution from the store\n"
    )

    (folder / "execution.json").write_text('{"exec_id": 7}')
    listing = kitaru("executions", "list")
    assert listing.returncode == 1
    assert listing.stderr.count("\n") == 1
    assert listing.stderr.startswith(f"kitaru: error: {folder.resolve().as_uri()}/"
                                     "execution.json is damaged and cannot be read "
                                     "(exec_id: must be a string, got 7); ")


def test_a_failed_run_says_why_and_exits_1(store_uri: str, counters: Path) -> None:
    result = kitaru("run", "tests.sdk.sample_flows:fails_until_fixed", "--input", '{"x": 1}')
    assert result.returncode == 1
    exec_id, status = result.stdout.split()
    assert status == "failed"
    assert result.stderr == (
        f"kitaru: error: execution {exec_id} failed: RuntimeError (origin: user_code): "
        f"checkpoint 'fragile': the tool is down; once the cause is fixed: "
        f"kitaru executions retry {exec_id}\n"
    )

    as_json = kitaru("run", "tests.sdk.sample_flows:fails_until_fixed", "--input", '{"x": 1}',
                     "-o", "json")
    assert as_json.returncode == 1
    info = json.loads(as_json.stdout)
    assert info["status"] == "failed" and info["error"]["type"] == "RuntimeError"
    assert as_json.stderr.startswith(f"kitaru: error: execution {info['exec_id']} failed: "
                                     "RuntimeError (origin: user_code)")
