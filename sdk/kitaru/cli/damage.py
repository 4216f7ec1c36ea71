"""Naming the store object behind a record that cannot be parsed.

A damaged record surfaces as a parse error that does not say where its bytes came from.
The CLI reads through a :class:`ReadTrail`, and because every record is parsed right
after it is read, the last key read is the damaged object.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import BinaryIO

from kitaru.model import ModelError
from kitaru.stores.base import Data, ObjectStore


class ReadTrail(ObjectStore):
    """A store that passes every call to ``inner`` and remembers the last key read.

    Args:
        inner: The store that does the work.
    """

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner.uri)
        self.inner = inner
        self.last_read: str | None = None

    def describe(self, key: str) -> str:
        return self.inner.describe(key)

    def _write(self, key: str, data: Data, *, overwrite: bool) -> bool:
        return self.inner._write(key, data, overwrite=overwrite)

    def _open(self, key: str) -> BinaryIO:
        self.last_read = key
        return self.inner._open(key)

    def _list(self, prefix: str) -> Iterator[str]:
        return self.inner._list(prefix)

    def _folders(self, prefix: str) -> Iterator[str]:
        return self.inner._folders(prefix)

    def _exists(self, key: str) -> bool:
        return self.inner._exists(key)

    def delete(self, key: str) -> None:
        self.inner.delete(key)


def _reason(exc: ModelError | json.JSONDecodeError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at character {exc.pos}"
    where = ".".join(str(part) for part in exc.loc)
    return f"{where}: {exc.reason}" if where else exc.reason


def damaged_record(trail: ReadTrail, exc: ModelError | json.JSONDecodeError) -> str | None:
    """Return a message naming the object that failed to parse, if one was read."""
    if trail.last_read is None:
        return None
    return (
        f"{trail.describe(trail.last_read)} is damaged and cannot be read ({_reason(exc)}); "
        "restore it from a backup, or remove that execution from the store"
    )
