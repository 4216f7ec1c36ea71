"""Shared fixtures: a private store and counter folder for every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def store_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh filesystem store, made the default through KITARU_STORE."""
    uri = str(tmp_path / "store")
    monkeypatch.setenv("KITARU_STORE", uri)
    yield uri


@pytest.fixture
def counters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder checkpoint bodies in tests/sdk/sample_flows.py count their runs in."""
    folder = tmp_path / "counters"
    folder.mkdir()
    monkeypatch.setenv("KITARU_TEST_COUNTERS", str(folder))
    return folder

