"""The object store interface every backend implements.

A store is a flat namespace of keys (``/``-separated relative paths) under one root URI.
Backends implement five primitives (:meth:`ObjectStore._write`, :meth:`_open`,
:meth:`_list`, :meth:`_exists`, :meth:`delete`); everything above them (digest
verification, key checks) lives here once.

Invariant: :meth:`ObjectStore.put_if_absent` is an atomic create-if-absent. Of any number
of writers racing on one key exactly one gets ``True``, and a reader sees either the
complete winning bytes or nothing, never a partial object. Journal records rely on it.
"""

from __future__ import annotations

import builtins
import io
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from kitaru.errors import ArtifactCorruptedError, StoreConfigError

Data = bytes | bytearray | memoryview | BinaryIO

#: Reads and streamed writes move data in pieces of this size.
CHUNK_SIZE = 8 * 1024 * 1024


def check_key(key: str) -> str:
    """Return ``key`` when it is a safe relative key, else raise :class:`StoreConfigError`."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StoreConfigError(f"store key {key!r} must be a relative path without '.', '..' "
                               "or empty parts")
    return key


def split_bucket_uri(uri: str, scheme: str, *, noun: str = "bucket") -> tuple[str, str]:
    """Split ``scheme://bucket/prefix`` into the bucket and the prefix (no slashes around).

    Credentials, queries and fragments are refused: a store URI is shown in messages and
    logs, so secrets go in options instead.
    """
    from urllib.parse import urlsplit  # here: a local store has no URI to split

    parts = urlsplit(uri)
    if parts.scheme.lower() != scheme or not parts.netloc:
        raise StoreConfigError(f"store {uri}: expected {scheme}://{noun}/optional/prefix")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise StoreConfigError(
            f"store {scheme}://{parts.hostname or ''}{parts.path}: the URI must not carry "
            "credentials, a query or a fragment; pass credentials as store options"
        )
    prefix = parts.path.strip("/")
    if prefix:
        check_key(prefix)
    return parts.netloc, prefix


def check_options(uri: str, options: Mapping[str, str], valid: tuple[str, ...]) -> None:
    """Raise :class:`StoreConfigError` naming any option key not in ``valid``."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise StoreConfigError(
            f"store {uri}: unknown option(s) {', '.join(unknown)}; valid options are "
            f"{', '.join(valid)}"
        )


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """Return the hex sha256 digest of ``data``."""
    import hashlib  # here: OpenSSL takes a while to load, and listing never hashes

    return hashlib.sha256(data).hexdigest()


class DigestCheckingReader(io.RawIOBase):
    """A read-only stream that hashes what passes through and checks it at the end.

    The check runs when the underlying stream reports end of file, so a consumer that
    reads to the end cannot miss a corrupted object.
    """

    def __init__(self, inner: BinaryIO, *, digest: str, where: str) -> None:
        super().__init__()
        self._inner = inner
        self._expected = digest
        self._where = where
        import hashlib

        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._inner.read(len(buffer))
        if not chunk:
            self._verify()
            return 0
        n = len(chunk)
        buffer[:n] = chunk
        self._hash.update(chunk)
        return n

    def _verify(self) -> None:
        if self._checked:
            return
        self._checked = True
        actual = self._hash.hexdigest()
        if actual != self._expected:
            raise ArtifactCorruptedError(
                f"{self._where}: content digest is sha256:{actual} but it was stored as "
                f"sha256:{self._expected}; the object was changed or damaged in the store"
            )

    def close(self) -> None:
        self._inner.close()
        super().close()


class ObjectStore(ABC):
    """A key/value object store rooted at one URI.

    Args:
        uri: The store's root URI, as the user wrote it. Shown in every error message;
            backends must make sure it carries no credentials.
    """

    #: URI schemes this backend serves, for the registry in :mod:`kitaru.stores.uri`.
    schemes: tuple[str, ...] = ()

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    def describe(self, key: str) -> str:
        """Return the full URI of ``key``, for messages."""
        return f"{self.uri.rstrip('/')}/{key}"

    # -- primitives each backend implements ------------------------------------------

    @abstractmethod
    def _write(self, key: str, data: Data, *, overwrite: bool) -> bool:
        """Store ``data`` under ``key`` atomically.

        With ``overwrite=False`` this is create-if-absent: return ``False`` (and change
        nothing) when the key exists. ``data`` may be a readable binary stream, which
        backends must upload in pieces rather than read whole into memory.
        """

    @abstractmethod
    def _open(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming reads; raise :class:`ObjectNotFoundError` when absent."""

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[str]:
        """Yield every key that starts with ``prefix``, in any order."""

    def _folders(self, prefix: str) -> Iterator[str]:
        """Yield each name one level below ``prefix`` that holds a key (what a listing
        with the delimiter ``/`` calls a common prefix), in any order.

        This default reads the whole listing; a store whose service can list by
        delimiter (or a folder) asks for just the names.
        """
        seen = set()
        for key in self._list(prefix):
            rest = key[len(prefix):]
            if "/" in rest:
                seen.add(rest.split("/", 1)[0])
        return iter(seen)

    @abstractmethod
    def _exists(self, key: str) -> bool:
        """Return whether ``key`` exists."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing an absent key is not an error."""

    # -- the interface the rest of Kitaru uses ---------------------------------------

    def put_if_absent(self, key: str, data: Data) -> bool:
        """Create ``key`` with ``data`` unless it exists. Return whether this call created it."""
        return self._write(check_key(key), data, overwrite=False)

    def put(self, key: str, data: Data) -> None:
        """Create or replace ``key`` with ``data`` atomically."""
        self._write(check_key(key), data, overwrite=True)

    def open(self, key: str, *, digest: str | None = None) -> BinaryIO:
        """Open ``key`` for streaming reads.

        Args:
            key: The object to read.
            digest: When given (hex sha256), the stream raises
                :class:`ArtifactCorruptedError` at end of file if the bytes do not match.
        """
        stream = self._open(check_key(key))
        if digest is None:
            return stream
        checking = DigestCheckingReader(stream, digest=digest, where=self.describe(key))
        return io.BufferedReader(checking, buffer_size=CHUNK_SIZE)

    def get(self, key: str, *, digest: str | None = None) -> bytes:
        """Return the whole content of ``key``, verified against ``digest`` when given."""
        with self._open(check_key(key)) as stream:
            data = stream.read()
        if digest is not None:
            actual = sha256_hex(data)
            if actual != digest:
                raise ArtifactCorruptedError(
                    f"{self.describe(key)}: content digest is sha256:{actual} but it was "
                    f"stored as sha256:{digest}; the object was changed or damaged in the store"
                )
        return data

    def exists(self, key: str) -> bool:
        """Return whether ``key`` exists."""
        return self._exists(check_key(key))

    def list(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with ``prefix`` (a plain string prefix)."""
        return sorted(self._list(prefix))

    def folders(self, prefix: str) -> builtins.list[str]:
        """Return the sorted names one level below ``prefix`` (ending in ``/``) that hold
        keys: ``folders("executions/")`` is every execution's id, without reading the
        keys inside them."""
        if not prefix.endswith("/"):
            raise ValueError(f"a folder prefix ends with '/', got {prefix!r}")
        return sorted(self._folders(check_key(prefix.rstrip("/")) + "/"))
