"""The filesystem backend: the embedded default and the reference for the contract tests.

Atomicity comes from the kernel: every write goes to a private temporary file that is
fully written and fsync'ed first, then published with one metadata operation. Create-if-
absent publishes with ``link()``, which fails when the name exists, so of two racing
writers exactly one wins and a reader never sees a half-written file. A process killed at
any point leaves at most an orphaned temporary file under ``.tmp/``, never a partial key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from kitaru.errors import ObjectNotFoundError, StoreConfigError, StoreError, StorePermissionError
from kitaru.stores.base import CHUNK_SIZE, Data, ObjectStore

_TMP_DIR = ".tmp"


class FilesystemStore(ObjectStore):
    """Objects as files under a local directory (``file:///path`` or a plain path).

    Args:
        root: The directory that holds the store. It is created by the first write, never
            by a read, so looking at a store that does not exist leaves no folder behind.
    """

    schemes = ("file", "")

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        super().__init__(self.root.as_uri())
        # Plain strings on the write path: pathlib costs more than the syscalls here.
        self._root = str(self.root)
        self._tmp = os.path.join(self._root, _TMP_DIR)
        self._known_dirs: set[str] = set()
        self._tmp_ready = False

    @classmethod
    def from_uri(cls, uri: str, options: Mapping[str, str]) -> FilesystemStore:
        """Build a store from ``file:///path`` or a plain path; takes no options."""
        if options:
            raise StoreConfigError(
                f"store {uri}: the filesystem store takes no options, got {sorted(options)}"
            )
        if uri.startswith("file://"):
            path = uri[len("file://"):]
            if path and not path.startswith("/"):
                raise StoreConfigError(
                    f"store {uri}: a file URI needs an absolute path (file:///abs/path); "
                    "use a plain path for a relative folder"
                )
            return cls(path or "/")
        return cls(uri)

    def _path(self, key: str) -> Path:
        return self.root / key

    def _ensure_dir(self, directory: str) -> None:
        if directory not in self._known_dirs:
            os.makedirs(directory, exist_ok=True)
            self._known_dirs.add(directory)

    def _write(self, key: str, data: Data, *, overwrite: bool) -> bool:
        target = f"{self._root}/{key}"
        tmp = f"{self._tmp}/{os.urandom(16).hex()}"
        try:
            if not self._tmp_ready:  # made by the first write, never by a read
                self._ensure_dir(self._tmp)
                self._tmp_ready = True
            self._ensure_dir(os.path.dirname(target))
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                else:
                    while chunk := data.read(CHUNK_SIZE):
                        os.write(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            if overwrite:
                os.replace(tmp, target)
                return True
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            return True
        except PermissionError as exc:
            raise StorePermissionError(
                f"{self.describe(key)}: permission denied writing the store folder; choose "
                "a folder you can write with --store or KITARU_STORE"
            ) from exc
        except OSError as exc:
            raise StoreError(f"{self.describe(key)}: write failed: {exc.strerror}") from exc
        finally:
            if not overwrite:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def _open(self, key: str) -> BinaryIO:
        try:
            return open(f"{self._root}/{key}", "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFoundError(f"{self.describe(key)}: no such object") from exc
        except PermissionError as exc:
            raise StorePermissionError(f"{self.describe(key)}: permission denied") from exc

    def _list(self, prefix: str) -> Iterator[str]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(base) if base else self.root
        for dirpath, dirnames, filenames in os.walk(start):
            if Path(dirpath) == self.root and _TMP_DIR in dirnames:
                dirnames.remove(_TMP_DIR)
            rel_dir = os.path.relpath(dirpath, self.root)
            for name in filenames:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix):
                    yield key

    def _folders(self, prefix: str) -> Iterator[str]:
        try:
            with os.scandir(f"{self._root}/{prefix.rstrip('/')}") as entries:
                names = [e.name for e in entries
                         if e.is_dir() and e.name != _TMP_DIR and _holds_keys(e.path)]
        except (FileNotFoundError, NotADirectoryError):
            return iter(())
        return iter(names)

    def _exists(self, key: str) -> bool:
        return os.path.isfile(f"{self._root}/{key}")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def _holds_keys(folder: str) -> bool:
    """Whether a folder holds a file, at any depth (a write that died after making the
    folder leaves it empty: no key is there)."""
    return any(files for _, _, files in os.walk(folder))
