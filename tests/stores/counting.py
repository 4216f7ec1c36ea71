"""A filesystem store that records the reads and listings made through it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from kitaru.stores.filesystem import FilesystemStore


class CountingStore(FilesystemStore):
    """A filesystem store that counts the objects read and the listings made."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.calls: list[str] = []

    def _open(self, key: str) -> BinaryIO:
        self.calls.append(f"read {key}")
        return super()._open(key)

    def _list(self, prefix: str) -> Iterator[str]:
        self.calls.append(f"list {prefix}")
        return super()._list(prefix)

    def _exists(self, key: str) -> bool:
        self.calls.append(f"exists {key}")
        return super()._exists(key)

    def _folders(self, prefix: str) -> Iterator[str]:
        self.calls.append(f"folders {prefix}")
        return super()._folders(prefix)
