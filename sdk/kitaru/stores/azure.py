"""The Azure Blob Storage backend (``az://container/prefix``), via azure-storage-blob.

Create-if-absent is ``If-None-Match: *`` (``overwrite=False``) on Put Blob and on Put
Block List, decided by the service. Uncommitted blocks are invisible, so a writer that
dies during a block upload leaves no partial blob; the service discards them after a
week.

The SDK's own retries are off (``retry_total=0``); :mod:`kitaru.stores.retry` bounds
them instead. Shared keys, SAS tokens and connection strings never reach a message.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar, cast
from urllib.parse import urlsplit

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient

from kitaru.errors import ObjectNotFoundError, StoreConfigError, StoreError, StorePermissionError
from kitaru.stores.base import CHUNK_SIZE, Data, ObjectStore, check_options, split_bucket_uri
from kitaru.stores.retry import DEFAULT_POLICY, RetryPolicy, redact

T = TypeVar("T")

OPTIONS = ("connection_string", "account_url", "account_key", "sas_token")
_SECRET_OPTIONS = ("connection_string", "account_key", "sas_token")
# Reads go in ranges of this size. The library assembles each response with
# ``list(stream)``, and its stream reports the content length as its length, so the list
# briefly reserves eight bytes per byte of the range: small ranges keep that bounded.
READ_RANGE = 4 * 1024 * 1024
_CLIENT_SETTINGS: dict[str, Any] = {
    "retry_total": 0,
    "connection_timeout": 10,
    "read_timeout": 60,
    "max_single_put_size": CHUNK_SIZE,
    "max_block_size": CHUNK_SIZE,
    "max_single_get_size": READ_RANGE,
    "max_chunk_get_size": READ_RANGE,
}


_PAGE_SIZE = 1000


class _KeyExistsError(Exception):
    """A create-if-absent found the key taken: the caller returns ``False``."""


def _transient(exc: BaseException) -> str | None:
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return type(exc).__name__
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        if status >= 500 or status in (408, 429):
            return f"HTTP {status} {_error_code(exc)}".strip()
    return None


def _error_code(exc: HttpResponseError) -> str:
    return str(getattr(exc, "error_code", None) or "")


def _account_name(account_url: str) -> str:
    """The account in ``https://<account>.blob...`` or ``http://host:port/<account>``."""
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if host.replace(".", "").isdigit() or host == "localhost":
        return parts.path.strip("/").split("/")[0]
    return host.split(".")[0]


class AzureBlobStore(ObjectStore):
    """Blobs under ``prefix`` in an Azure Blob Storage container.

    Args:
        uri: ``az://container/prefix``.
        container: A ``ContainerClient`` for the container.
        retry: The bounds on retries of transient faults.
        secrets: Credential values to keep out of messages.
    """

    schemes = ("az",)

    def __init__(self, uri: str, container: ContainerClient, *,
                 retry: RetryPolicy = DEFAULT_POLICY, secrets: tuple[str, ...] = ()) -> None:
        self.container_name, self.prefix = split_bucket_uri(uri, "az", noun="container")
        super().__init__(f"az://{self.container_name}/{self.prefix}".rstrip("/"))
        self.container = container
        self.retry = retry
        self._secrets = secrets

    @classmethod
    def from_uri(cls, uri: str, options: Mapping[str, str], *,
                 retry: RetryPolicy = DEFAULT_POLICY) -> AzureBlobStore:
        """Build a store from ``az://container/prefix`` and options.

        Options:
            connection_string: A storage account connection string (default:
                ``$AZURE_STORAGE_CONNECTION_STRING``).
            account_url: The blob endpoint, ``https://<account>.blob.core.windows.net``;
                with ``account_key`` or ``sas_token``, or alone for a public container.
            account_key: The account's shared key.
            sas_token: A shared access signature for the account or the container.
        """
        check_options(uri, options, OPTIONS)
        container_name, _ = split_bucket_uri(uri, "az", noun="container")
        connection_string = (options.get("connection_string")
                             or os.environ.get("AZURE_STORAGE_CONNECTION_STRING"))
        secrets = tuple(v for v in [connection_string, *(options.get(k) for k in
                                                         _SECRET_OPTIONS)] if v)
        account_url = options.get("account_url")
        try:
            if account_url:
                credential: Any = None
                if options.get("account_key"):
                    credential = AzureNamedKeyCredential(_account_name(account_url),
                                                         options["account_key"])
                elif options.get("sas_token"):
                    credential = AzureSasCredential(options["sas_token"].lstrip("?"))
                service = BlobServiceClient(account_url, credential=credential,
                                            **_CLIENT_SETTINGS)
            elif connection_string:
                service = BlobServiceClient.from_connection_string(connection_string,
                                                                   **_CLIENT_SETTINGS)
            else:
                raise StoreConfigError(
                    f"store {uri}: no Azure account configured; set the connection_string "
                    "option or AZURE_STORAGE_CONNECTION_STRING, or account_url with "
                    "account_key or sas_token"
                )
        except (ValueError, TypeError) as exc:
            raise StoreConfigError(
                f"store {uri}: cannot set up the Azure client: {redact(str(exc), secrets)}; "
                "check the connection string or account_url"
            ) from None
        return cls(uri, service.get_container_client(container_name), retry=retry,
                   secrets=secrets)

    # -- plumbing ----------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn: Callable[[], T], key: str | None = None, *,
              attempts: int | None = None) -> T:
        where = self.describe(key) if key else self.uri
        try:
            return self.retry.call(fn, transient=_transient, where=where,
                                   secrets=self._secrets, attempts=attempts)
        except HttpResponseError as exc:
            raise self._permanent(exc, where) from None

    def _permanent(self, exc: HttpResponseError, where: str) -> Exception:
        code = _error_code(exc)
        if isinstance(exc, (ResourceExistsError, ResourceModifiedError)) and code in (
                "BlobAlreadyExists", "ConditionNotMet", ""):
            return _KeyExistsError()
        if code == "ContainerNotFound":
            return StoreConfigError(
                f"{where}: container {self.container_name!r} does not exist (store "
                f"{self.uri}); create it or fix the store URI"
            )
        if isinstance(exc, ClientAuthenticationError) and exc.status_code is None:
            return StoreConfigError(
                f"{where}: the account key cannot sign requests (store {self.uri}); use the "
                "base64 key exactly as the portal or `az storage account keys list` shows it"
            )
        if isinstance(exc, ClientAuthenticationError) or exc.status_code in (401, 403):
            return StorePermissionError(
                f"{where}: access denied ({code or exc.status_code}) on store {self.uri}; "
                "check the account key, SAS token or connection string, and that it allows "
                "read, write, list and delete on this container"
            )
        if isinstance(exc, ResourceNotFoundError):
            return ObjectNotFoundError(f"{where}: no such object")
        return StoreError(f"{where}: Azure refused the request: HTTP {exc.status_code} "
                          f"{code}".rstrip())

    # -- primitives --------------------------------------------------------------------

    def _write(self, key: str, data: Data, *, overwrite: bool) -> bool:
        name = self._name(key)
        attempts: int | None = None
        start: int | None = None
        if not isinstance(data, (bytes, bytearray, memoryview)):
            start = data.tell() if data.seekable() else None
            # A stream that cannot be rewound cannot be sent again.
            attempts = None if start is not None else 1

        def upload() -> None:
            if start is not None:
                cast(BinaryIO, data).seek(start)
            body: Any = bytes(data) if isinstance(data, memoryview) else data
            self.container.upload_blob(name, body, overwrite=overwrite, max_concurrency=1)

        try:
            self._call(upload, key, attempts=attempts)
        except _KeyExistsError:
            return False
        return True

    def _open(self, key: str) -> BinaryIO:
        downloader = self._call(lambda: self.container.download_blob(
            self._name(key), max_concurrency=1), key)
        return cast(BinaryIO, _DownloadReader(downloader, self.describe(key)))

    def _list(self, prefix: str) -> Iterator[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        token: str | None = None
        while True:
            def page(token: str | None = token) -> tuple[list[str], str | None]:
                pages: Any = self.container.list_blobs(
                    name_starts_with=root + prefix, results_per_page=_PAGE_SIZE,
                ).by_page(continuation_token=token)
                names = [b.name for b in next(pages)]
                return names, pages.continuation_token
            names, token = self._call(page)
            for name in names:
                yield name[len(root):]
            if not token:
                return

    def _folders(self, prefix: str) -> Iterator[str]:
        start = (f"{self.prefix}/" if self.prefix else "") + prefix

        def walk() -> list[str]:
            found: Any = self.container.walk_blobs(name_starts_with=start, delimiter="/")
            return [item.name for item in found if item.name.endswith("/")]
        for name in self._call(walk):
            yield name[len(start):].rstrip("/")

    def _exists(self, key: str) -> bool:
        try:
            self._call(lambda: self.container.get_blob_client(
                self._name(key)).get_blob_properties(), key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        with contextlib.suppress(ObjectNotFoundError):
            self._call(lambda: self.container.delete_blob(self._name(key)), key)


class _DownloadReader(io.RawIOBase):
    """A blob download as a raw binary stream, with faults made store errors."""

    def __init__(self, downloader: Any, where: str) -> None:
        super().__init__()
        self._downloader = downloader
        self._where = where
        self._position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            whole = size is None or size < 0
            data = self._rest() if whole else bytes(self._downloader.read(size))
        except (HttpResponseError, ServiceRequestError, ServiceResponseError) as exc:
            raise StoreError(f"{self._where}: the read was cut off ({type(exc).__name__}); "
                             "read the object again") from None
        self._position += len(data)
        return data

    def _rest(self) -> bytes:
        """Read to the end into one buffer of the final size.

        The library's own ``readall`` grows a buffer and copies it out, holding the value
        about twice; here the buffer is sized once, filled in place and handed over
        without a copy (``BytesIO.getvalue`` shares a buffer that is exactly full).
        """
        remaining = self._downloader.size - self._position
        if remaining <= 0:
            return b""
        out = io.BytesIO()
        out.seek(remaining - 1)
        out.write(b"\0")  # one allocation of the final size
        out.seek(0)
        self._downloader.readinto(out)
        if out.tell() != remaining:
            raise StoreError(f"{self._where}: the object ended after {out.tell()} of "
                             f"{remaining} bytes; read it again")
        return out.getvalue()

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)
