"""The ``store`` fixture: one contract suite, parametrized over every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kitaru.stores import ObjectStore, open_store


@pytest.fixture(params=["file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    """A fresh, empty store of each backend."""
    yield open_store(str(tmp_path / "store"))
