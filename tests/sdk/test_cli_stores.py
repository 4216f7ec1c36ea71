"""Which store the ``kitaru`` command reads, and that reading it leaves no trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitaru.cli import main
from kitaru.stores.filesystem import FilesystemStore


def test_reading_commands_never_create_the_store_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "x" / "nonexistent"
    assert main(["executions", "list", "--store", str(missing)]) == 0
    assert capsys.readouterr().err == f"no executions in store {missing.as_uri()}\n"
    for command in ("get", "logs", "cancel"):
        assert main(["executions", command, "nope-1", "--store", str(missing)]) == 1
        assert capsys.readouterr().err == (
            f"kitaru: error: no execution 'nope-1' in store {missing.as_uri()}\n"
        )
    assert not (tmp_path / "x").exists()


def test_a_filesystem_store_creates_its_folder_on_the_first_write_only(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "store")
    assert store.list("executions/") == []
    assert not store.exists("executions/a/execution.json")
    assert not (tmp_path / "store").exists()
    assert store.put_if_absent("executions/a/execution.json", b"{}")
    assert store.get("executions/a/execution.json") == b"{}"


@pytest.mark.parametrize("uri, form", [
    ("s3:/bucket", "s3://bucket/prefix"),
    ("s3:bucket", "s3://bucket/prefix"),
    ("S3:/bucket/runs", "s3://bucket/prefix"),
    ("gs:/x", "gs://bucket/prefix"),
    ("az:/x", "az://container/prefix"),
    ("file:/x", "file:///abs/path"),
])
def test_a_known_scheme_without_slashes_is_refused_with_the_right_form(
    uri: str, form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["executions", "list", "--store", uri]) == 1
    scheme = uri.split(":", maxsplit=1)[0].lower()
    assert capsys.readouterr().err == (
        f"kitaru: error: store {uri}: missing '//' after '{scheme}:'; write it as {form}\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_scheme_is_refused_with_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["executions", "list", "--store", "s4://b"]) == 1
    assert capsys.readouterr().err == (
        "kitaru: error: store s4://b: unknown scheme 's4'; use one of file://, s3://, gs://, "
        "az://\n"
    )
