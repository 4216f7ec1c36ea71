"""What the ``kitaru`` command prints for a user and for a script reading its stdout."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import kitaru
from kitaru.cli import main

ROOT = Path(__file__).resolve().parents[2]


def kitaru_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_version_prints_kitaru_and_the_installed_version() -> None:
    shown = kitaru_cli("--version")
    assert shown.returncode == 0
    assert shown.stdout == f"kitaru {metadata.version('kitaru')}\n"


def test_version_falls_back_to_the_source_tree_when_kitaru_is_not_installed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"kitaru {kitaru.__version__} (source tree, not installed)\n"


CHATTY = """
    import subprocess
    import sys

    from kitaru import checkpoint, flow

    print("module imported")


    @checkpoint
    def shout(word: str) -> str:
        print(f"checkpoint says {word}")
        return word.upper()


    @flow
    def chatty(word: str) -> str:
        print("flow says hello")
        subprocess.run([sys.executable, "-c", "print('child process says hi')"], check=True)
        return shout(word)
    """


def test_run_with_json_output_prints_only_json_and_sends_the_flows_prints_to_stderr(
    store_uri: str, tmp_path: Path
) -> None:
    (tmp_path / "chatty.py").write_text(textwrap.dedent(CHATTY))
    for flag in ("-o", "--output"):
        result = kitaru_cli("run", "chatty:chatty", "--input", '{"word": "kelp"}', flag, "json",
                            cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout)
        assert info["status"] == "completed" and info["output"] == "KELP"
        for printed in ("module imported", "flow says hello", "checkpoint says kelp",
                        "child process says hi"):
            assert printed in result.stderr


def test_a_negative_limit_is_refused_by_the_parser(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["executions", "list", "--limit", "-1"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "kitaru: error: argument --limit: must be a whole number of 1 or more, got '-1' "
        "(see kitaru executions list --help)\n"
    )


def test_an_empty_listing_names_the_store_it_read(
    store_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["executions", "list"]) == 0
    shown = capsys.readouterr()
    assert shown.out == ""
    assert shown.err == f"no executions in store {Path(store_uri).resolve().as_uri()}\n"

    assert main(["executions", "list", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
