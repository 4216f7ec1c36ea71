"""The Google Cloud Storage backend (``gs://bucket/prefix``), via google-cloud-storage.

Create-if-absent is the precondition ``ifGenerationMatch=0`` ("only if no live
generation exists"), decided by the service, on both single-request and resumable
uploads. A resumable upload becomes visible only when its last chunk is committed, so a
writer that dies midway leaves no partial object.

The client library's own retries are off (``retry=None`` on every call);
:mod:`kitaru.stores.retry` bounds them instead. Reads fetch ranges of
:data:`~kitaru.stores.base.CHUNK_SIZE`, each retried on its own and pinned to the
generation of the first, so a long read survives a dropped connection and never mixes
two versions of an object.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar, cast

import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError, TransportError
from google.cloud import storage  # type: ignore[import-untyped]
from google.oauth2 import service_account
from google.resumable_media import common as media

from kitaru.errors import ObjectNotFoundError, StoreConfigError, StoreError, StorePermissionError
from kitaru.stores.base import CHUNK_SIZE, Data, ObjectStore, check_options, split_bucket_uri
from kitaru.stores.retry import DEFAULT_POLICY, RetryPolicy, redact

T = TypeVar("T")

OPTIONS = ("project", "credentials_file")
_TIMEOUT = (10, 60)
_PAGE_SIZE = 1000
_SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]
# A stream of unknown size goes up in resumable chunks of this size: fewer round trips
# than CHUNK_SIZE, and still a bounded slice of a large value in memory (the peeked head
# and the rest are joined per chunk).
UPLOAD_CHUNK_SIZE = 4 * CHUNK_SIZE
# A value of known size (bytes, a file) goes up in chunks of the library's own default:
# one request up to 100 MB, and reading a chunk from an in-memory value copies nothing.
SIZED_UPLOAD_CHUNK_SIZE = 100 * 1024 * 1024


class _KeyExistsError(Exception):
    """A create-if-absent found the key taken: the caller returns ``False``."""


def _transient(exc: BaseException) -> str | None:
    if isinstance(exc, (gexc.TooManyRequests, gexc.InternalServerError, gexc.BadGateway,
                        gexc.ServiceUnavailable, gexc.GatewayTimeout)):
        return f"HTTP {exc.code} {type(exc).__name__}"
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, TransportError,
                        ConnectionError)):
        return type(exc).__name__
    if isinstance(exc, media.InvalidResponse):
        status = getattr(exc.response, "status_code", 0)
        if status >= 500 or status == 429:
            return f"HTTP {status}"
    return None


class GCSStore(ObjectStore):
    """Objects under ``prefix`` in a Google Cloud Storage bucket.

    Args:
        uri: ``gs://bucket/prefix``.
        client: A ``google.cloud.storage.Client``.
        retry: The bounds on retries of transient faults.
    """

    schemes = ("gs",)

    def __init__(self, uri: str, client: Any, *, retry: RetryPolicy = DEFAULT_POLICY) -> None:
        bucket, self.prefix = split_bucket_uri(uri, "gs")
        super().__init__(f"gs://{bucket}/{self.prefix}".rstrip("/"))
        self.client = client
        self.bucket = client.bucket(bucket)
        self.retry = retry
        self._bucket_known = False

    @classmethod
    def from_uri(cls, uri: str, options: Mapping[str, str], *,
                 retry: RetryPolicy = DEFAULT_POLICY) -> GCSStore:
        """Build a store from ``gs://bucket/prefix`` and options.

        Credentials are Google application default credentials (workload identity,
        ``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth application-default login``).
        With ``$STORAGE_EMULATOR_HOST`` set, the store talks to that emulator anonymously.

        Options:
            project: The project to bill and to attribute requests to.
            credentials_file: A service account JSON key file.
        """
        check_options(uri, options, OPTIONS)
        split_bucket_uri(uri, "gs")
        project = options.get("project")
        try:
            if os.environ.get("STORAGE_EMULATOR_HOST"):
                client = storage.Client(project=project or "kitaru",
                                        credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
            elif options.get("credentials_file"):
                credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    options["credentials_file"], scopes=_SCOPES)
                client = storage.Client(project=project or credentials.project_id,
                                        credentials=credentials)
            else:
                client = storage.Client(project=project)
        except DefaultCredentialsError:
            raise StoreConfigError(
                f"store {uri}: no Google credentials found; run `gcloud auth "
                "application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, use "
                "workload identity, or pass the credentials_file option"
            ) from None
        except (GoogleAuthError, OSError, ValueError) as exc:
            raise StoreConfigError(
                f"store {uri}: cannot load Google credentials ({type(exc).__name__}); check "
                "the credentials_file option or GOOGLE_APPLICATION_CREDENTIALS"
            ) from None
        return cls(uri, client, retry=retry)

    # -- plumbing ----------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn: Callable[[], T], key: str | None = None, *,
              attempts: int | None = None, upload: bool = False) -> T:
        where = self.describe(key) if key else self.uri
        try:
            result = self.retry.call(fn, transient=_transient, where=where, attempts=attempts)
        except gexc.GoogleAPICallError as exc:
            raise self._permanent(exc.code or 0, str(exc.message), where, key,
                                  upload) from None
        except media.InvalidResponse as exc:
            status = int(getattr(exc.response, "status_code", 0))
            raise self._permanent(status, "", where, key, upload) from None
        except GoogleAuthError as exc:
            raise StorePermissionError(
                f"{where}: Google credentials were refused ({type(exc).__name__}); refresh "
                "them or check GOOGLE_APPLICATION_CREDENTIALS"
            ) from None
        self._bucket_known = True
        return result

    def _bucket_missing(self, key: str | None, message: str) -> bool:
        """Whether a 404 is the bucket's rather than the object's.

        Uploads and listings only 404 when the bucket is missing. For reads GCS says so in
        the message, but emulators may not, so a store asks once whether the bucket is
        there. Without ``storage.buckets.get`` the answer is a 403: assume it is.
        """
        if key is None or "bucket does not exist" in message.lower():
            return True
        if self._bucket_known:
            return False
        try:
            exists = self.retry.call(lambda: self.bucket.exists(retry=None, timeout=_TIMEOUT),
                                     transient=_transient, where=self.uri)
        except gexc.GoogleAPICallError:
            exists = True
        self._bucket_known = bool(exists)
        return not exists

    def _permanent(self, status: int, message: str, where: str, key: str | None,
                   upload: bool) -> Exception:
        if status == 412:
            return _KeyExistsError()
        if status == 404 and (upload or self._bucket_missing(key, message)):
            return StoreConfigError(
                f"{where}: bucket {self.bucket.name!r} does not exist (store {self.uri}); "
                "create it or fix the store URI"
            )
        if status == 404:
            return ObjectNotFoundError(f"{where}: no such object")
        if status in (401, 403):
            return StorePermissionError(
                f"{where}: access denied (HTTP {status}) on store {self.uri}; check the "
                "credentials and that they hold roles/storage.objectUser (or "
                "storage.objects.create, get, list and delete) on this bucket"
            )
        return StoreError(f"{where}: GCS refused the request: HTTP {status} "
                          f"{redact(message)}".rstrip())

    # -- primitives --------------------------------------------------------------------

    def _write(self, key: str, data: Data, *, overwrite: bool) -> bool:
        blob = self.bucket.blob(self._name(key))
        match = None if overwrite else 0
        try:
            if isinstance(data, (bytes, bytearray, memoryview)):
                # BytesIO shares the bytes; upload_from_string would copy them twice.
                data = cast(BinaryIO, io.BytesIO(data))
            start = data.tell() if data.seekable() else None

            size = None
            if start == 0:  # the resumable upload insists on a stream at its start
                size = data.seek(0, io.SEEK_END)
                data.seek(0)

            def upload() -> None:
                if start is not None:
                    data.seek(start)
                if size is not None and size >= CHUNK_SIZE:
                    sized = self.bucket.blob(blob.name, chunk_size=SIZED_UPLOAD_CHUNK_SIZE)
                    sized.upload_from_file(data, size=size, if_generation_match=match,
                                           retry=None, timeout=_TIMEOUT, checksum=None)
                    return
                head = data.read(CHUNK_SIZE)
                if len(head) < CHUNK_SIZE:
                    blob.upload_from_file(io.BytesIO(head), size=len(head),
                                          if_generation_match=match, retry=None,
                                          timeout=_TIMEOUT)
                    return
                resumable = self.bucket.blob(blob.name, chunk_size=UPLOAD_CHUNK_SIZE)
                resumable.upload_from_file(_Prepend(head, data), if_generation_match=match,
                                           retry=None, timeout=_TIMEOUT, checksum=None)

            # A stream that cannot be rewound cannot be sent again.
            self._call(upload, key, attempts=None if start is not None else 1, upload=True)
        except _KeyExistsError:
            return False
        return True

    def _open(self, key: str) -> BinaryIO:
        reader = _RangeReader(self, key)
        reader.fetch()  # fail here, not at the first read, when the object is missing
        return cast(BinaryIO, reader)

    def _list(self, prefix: str) -> Iterator[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        token: str | None = None
        while True:
            def page(token: str | None = token) -> tuple[list[str], str | None]:
                blobs = self.client.list_blobs(self.bucket, prefix=root + prefix,
                                               page_token=token, page_size=_PAGE_SIZE,
                                               retry=None,
                                               timeout=_TIMEOUT)
                names = [b.name for b in next(blobs.pages)]
                return names, blobs.next_page_token
            names, token = self._call(page)
            for name in names:
                yield name[len(root):]
            if not token:
                return

    def _folders(self, prefix: str) -> Iterator[str]:
        start = (f"{self.prefix}/" if self.prefix else "") + prefix
        token: str | None = None
        while True:
            def page(token: str | None = token) -> tuple[list[str], str | None]:
                blobs = self.client.list_blobs(self.bucket, prefix=start, delimiter="/",
                                               page_token=token, page_size=_PAGE_SIZE,
                                               retry=None, timeout=_TIMEOUT)
                one = next(blobs.pages)
                return list(one.prefixes), blobs.next_page_token
            names, token = self._call(page)
            for name in names:
                yield name[len(start):].rstrip("/")
            if not token:
                return

    def _exists(self, key: str) -> bool:
        blob = self.bucket.blob(self._name(key))
        try:
            self._call(lambda: blob.reload(retry=None, timeout=_TIMEOUT, projection="noAcl"),
                       key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        blob = self.bucket.blob(self._name(key))
        with contextlib.suppress(ObjectNotFoundError):
            self._call(lambda: blob.delete(retry=None, timeout=_TIMEOUT), key)


class _Prepend(io.RawIOBase):
    """``head`` followed by the rest of ``stream``: a peeked stream, made whole again.

    Reads return the full size asked for until the end of the stream, because the
    resumable upload takes a short read to mean the end.
    """

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._stream = stream
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position  # the upload checks that it starts at 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            head, self._head = self._head, memoryview(b"")
            data = bytes(head) + self._stream.read()
        else:
            piece, self._head = self._head[:size], self._head[size:]
            pieces = [bytes(piece)]
            missing = size - len(piece)
            while missing > 0 and (more := self._stream.read(missing)):
                pieces.append(more)
                missing -= len(more)
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._position += len(data)
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


class _RangeReader(io.RawIOBase):
    """Streams one object in ranges, each retried alone, all from one generation.

    Each range asks for one byte more than it hands out at once, so an object whose size
    is a multiple of the range still ends on a short range, not on an extra request.
    """

    def __init__(self, store: GCSStore, key: str) -> None:
        super().__init__()
        self._store = store
        self._key = key
        self._blob = store.bucket.blob(store._name(key))
        self._generation: int | None = None
        self._offset = 0
        self._chunk = b""
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def fetch(self) -> None:
        """Fetch the next range; mark end of file after a short one."""
        offset = self._offset

        def download() -> bytes:
            try:
                return cast(bytes, self._blob.download_as_bytes(
                    start=offset, end=offset + CHUNK_SIZE, checksum=None, retry=None,
                    timeout=_TIMEOUT, if_generation_match=self._generation))
            except gexc.RequestRangeNotSatisfiable:
                return b""  # the object ends exactly where the last range did

        chunk = self._store._call(download, self._key)
        if self._generation is None and self._blob.generation is not None:
            self._generation = int(self._blob.generation)
        self._offset += len(chunk)
        self._eof = len(chunk) <= CHUNK_SIZE
        self._chunk, self._pos = chunk, 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if self._pos >= len(self._chunk) and not self._eof:
            self.fetch()
        if self._pos == 0 and size >= len(self._chunk):
            piece = self._chunk
        else:
            piece = self._chunk[self._pos:self._pos + size]
        self._pos += len(piece)
        return piece

    def readall(self) -> bytes:
        if self._eof:
            return self.read(len(self._chunk) - self._pos)
        # One streamed request for the rest, into one growing buffer: the value is held
        # about once, where joining ranges would hold it twice.
        out = io.BytesIO()
        out.write(memoryview(self._chunk)[self._pos:])
        self._chunk, self._pos = b"", 0
        keep, offset = out.tell(), self._offset

        def rest() -> None:
            out.seek(keep)
            out.truncate()
            # Range not satisfiable: the object ends exactly where the last range did.
            with contextlib.suppress(gexc.RequestRangeNotSatisfiable):
                self._blob.download_to_file(out, start=offset, checksum=None, retry=None,
                                            timeout=_TIMEOUT,
                                            if_generation_match=self._generation)

        self._store._call(rest, self._key)
        self._offset += out.tell() - keep
        self._eof = True
        return out.getvalue()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)
