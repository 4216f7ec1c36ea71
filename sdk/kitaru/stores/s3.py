"""The S3 backend (``s3://bucket/prefix``), for AWS and S3-compatible services, via boto3.

Create-if-absent is S3's own precondition, ``If-None-Match: *``, on ``PutObject`` and
on ``CompleteMultipartUpload``: the service decides the race, so of two writers exactly
one gets ``True``. A multipart upload is invisible until it completes, so a writer that
dies midway leaves no partial object (only parts, which are aborted when possible and
otherwise reaped by the bucket's lifecycle rule for incomplete uploads).

botocore's own retries are off; :mod:`kitaru.stores.retry` bounds them instead.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, TypeVar, cast

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from kitaru.errors import (
    ObjectNotFoundError,
    StoreConfigError,
    StoreError,
    StorePermissionError,
)
from kitaru.stores.base import CHUNK_SIZE, Data, ObjectStore, check_options, split_bucket_uri
from kitaru.stores.retry import DEFAULT_POLICY, RetryPolicy, redact

T = TypeVar("T")

OPTIONS = ("endpoint_url", "region", "profile", "access_key_id", "secret_access_key",
           "session_token")
_SECRET_OPTIONS = ("access_key_id", "secret_access_key", "session_token")

_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
                    "ConditionalRequestConflict", "OperationAborted"}
_PERMISSION_CODES = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                     "ExpiredToken", "InvalidToken", "AllAccessDisabled", "403"}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


class _KeyExistsError(Exception):
    """A create-if-absent found the key taken: the caller returns ``False``."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _transient(exc: BaseException) -> str | None:
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return type(exc).__name__
    if isinstance(exc, ClientError):
        status = _status(exc)
        if _code(exc) in _TRANSIENT_CODES or status >= 500 or status == 429:
            return f"HTTP {status} {_code(exc)}".strip()
    return None


class S3Store(ObjectStore):
    """Objects under ``prefix`` in an S3 bucket.

    Args:
        uri: ``s3://bucket/prefix``.
        client: A boto3 S3 client.
        retry: The bounds on retries of transient faults.
        secrets: Credential values to keep out of messages.
    """

    schemes = ("s3",)

    def __init__(self, uri: str, client: Any, *, retry: RetryPolicy = DEFAULT_POLICY,
                 secrets: tuple[str, ...] = ()) -> None:
        self.bucket, self.prefix = split_bucket_uri(uri, "s3")
        super().__init__(f"s3://{self.bucket}/{self.prefix}".rstrip("/"))
        self.client = client
        self.retry = retry
        self._secrets = secrets

    @classmethod
    def from_uri(cls, uri: str, options: Mapping[str, str], *,
                 retry: RetryPolicy = DEFAULT_POLICY) -> S3Store:
        """Build a store from ``s3://bucket/prefix`` and options.

        Credentials come from the default AWS chain (environment, shared profile, web
        identity / IRSA, instance metadata) unless given as options.

        Options:
            endpoint_url: An S3-compatible endpoint (default: ``$AWS_ENDPOINT_URL_S3``,
                then ``$AWS_ENDPOINT_URL``, then AWS).
            region: The bucket's region.
            profile: A named profile from the shared AWS config.
            access_key_id, secret_access_key, session_token: Static credentials.
        """
        check_options(uri, options, OPTIONS)
        split_bucket_uri(uri, "s3")
        secrets = tuple(options[k] for k in _SECRET_OPTIONS if options.get(k))
        endpoint = (options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
                    or os.environ.get("AWS_ENDPOINT_URL") or None)
        try:
            session = boto3.session.Session(
                profile_name=options.get("profile"),
                aws_access_key_id=options.get("access_key_id"),
                aws_secret_access_key=options.get("secret_access_key"),
                aws_session_token=options.get("session_token"),
                region_name=options.get("region"),
            )
            config = Config(
                retries={"total_max_attempts": 1},
                connect_timeout=10,
                read_timeout=60,
                max_pool_connections=32,
                s3={"addressing_style": "path"} if endpoint else {},
            )
            client = session.client("s3", endpoint_url=endpoint, config=config)
        except ProfileNotFound as exc:
            raise StoreConfigError(
                f"store {uri}: AWS profile {options.get('profile')!r} is not in the shared "
                "AWS config; fix the 'profile' option or ~/.aws/config"
            ) from exc
        except (BotoCoreError, ValueError) as exc:
            raise StoreConfigError(
                f"store {uri}: cannot set up the S3 client: {redact(str(exc), secrets)}"
            ) from None
        return cls(uri, client, retry=retry, secrets=secrets)

    # -- plumbing ----------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn: Callable[[], T], key: str | None = None, *,
              attempts: int | None = None) -> T:
        where = self.describe(key) if key else self.uri
        try:
            return self.retry.call(fn, transient=_transient, where=where,
                                   secrets=self._secrets, attempts=attempts)
        except ClientError as exc:
            raise self._permanent(exc, where) from None
        except (NoCredentialsError, PartialCredentialsError):
            raise StoreConfigError(
                f"{where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, a profile, a web identity (IRSA), or the store "
                "options access_key_id and secret_access_key"
            ) from None
        except BotoCoreError as exc:
            raise StoreError(f"{where}: S3 request failed: "
                             f"{redact(str(exc), self._secrets)}") from None

    def _permanent(self, exc: ClientError, where: str) -> Exception:
        code = _code(exc)
        if code in ("PreconditionFailed", "ConditionalRequestFailed") or _status(exc) == 412:
            return _KeyExistsError()
        if code == "NoSuchBucket":
            return StoreConfigError(
                f"{where}: bucket {self.bucket!r} does not exist (store {self.uri}); create "
                "it or fix the store URI, and check the endpoint and region"
            )
        if code in _PERMISSION_CODES or _status(exc) == 403:
            return StorePermissionError(
                f"{where}: access denied ({code}) on store {self.uri}; check the "
                "credentials and that they allow s3:GetObject, s3:PutObject, "
                "s3:ListBucket and s3:DeleteObject on this bucket and prefix"
            )
        if code in _NOT_FOUND_CODES:
            return ObjectNotFoundError(f"{where}: no such object")
        message = redact(str(exc.response.get("Error", {}).get("Message", "")),
                         self._secrets)
        return StoreError(f"{where}: S3 refused the request: {code} {message}".rstrip())

    # -- primitives --------------------------------------------------------------------

    def _write(self, key: str, data: Data, *, overwrite: bool) -> bool:
        name = self._name(key)
        conditions = {} if overwrite else {"IfNoneMatch": "*"}
        try:
            if isinstance(data, (bytes, bytearray, memoryview)):
                body = bytes(data) if not isinstance(data, bytes) else data
                self._call(lambda: self.client.put_object(
                    Bucket=self.bucket, Key=name, Body=body, **conditions), key)
                return True
            first = data.read(CHUNK_SIZE)
            more = data.read(CHUNK_SIZE) if len(first) == CHUNK_SIZE else b""
            if not more:
                self._call(lambda: self.client.put_object(
                    Bucket=self.bucket, Key=name, Body=first, **conditions), key)
                return True
            self._multipart(key, name, [first, more], data, conditions)
            return True
        except _KeyExistsError:
            return False

    def _multipart(self, key: str, name: str, head: list[bytes], rest: BinaryIO,
                   conditions: dict[str, str]) -> None:
        upload = self._call(lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=name), key)
        upload_id = upload["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            chunks = _chain(head, rest)
            for number, chunk in enumerate(chunks, start=1):
                def send(chunk: bytes = chunk, number: int = number) -> Any:
                    return self.client.upload_part(Bucket=self.bucket, Key=name,
                                                   UploadId=upload_id, PartNumber=number,
                                                   Body=chunk)
                parts.append({"PartNumber": number, "ETag": self._call(send, key)["ETag"]})
            self._call(lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id,
                MultipartUpload={"Parts": parts}, **conditions), key)
        except BaseException:
            # When the abort fails too, the bucket's lifecycle rule for incomplete
            # multipart uploads reaps the parts; they were never visible as an object.
            with contextlib.suppress(BotoCoreError, ClientError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name,
                                                   UploadId=upload_id)
            raise

    def _open(self, key: str) -> BinaryIO:
        response = self._call(lambda: self.client.get_object(
            Bucket=self.bucket, Key=self._name(key)), key)
        return cast(BinaryIO, _BodyReader(response["Body"], self.describe(key)))

    def _list(self, prefix: str) -> Iterator[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(lambda extra=extra: self.client.list_objects_v2(  # type: ignore[misc]
                Bucket=self.bucket, Prefix=root + prefix, **extra))
            for item in page.get("Contents", []):
                yield item["Key"][len(root):]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _folders(self, prefix: str) -> Iterator[str]:
        start = (f"{self.prefix}/" if self.prefix else "") + prefix
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(lambda extra=extra: self.client.list_objects_v2(  # type: ignore[misc]
                Bucket=self.bucket, Prefix=start, Delimiter="/", **extra))
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"][len(start):].rstrip("/")
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def _exists(self, key: str) -> bool:
        try:
            self._call(lambda: self.client.head_object(Bucket=self.bucket,
                                                       Key=self._name(key)), key)
        except ObjectNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call(lambda: self.client.delete_object(Bucket=self.bucket,
                                                     Key=self._name(key)), key)


def _chain(head: list[bytes], rest: BinaryIO) -> Iterator[bytes]:
    yield from head
    while chunk := rest.read(CHUNK_SIZE):
        yield chunk


class _BodyReader(io.RawIOBase):
    """A botocore ``StreamingBody`` as a raw binary stream, with faults made store errors."""

    def __init__(self, body: Any, where: str) -> None:
        super().__init__()
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return bytes(self._body.read(None if size is None or size < 0 else size))
        except (BotoCoreError, OSError) as exc:
            raise StoreError(f"{self._where}: the read was cut off ({type(exc).__name__}); "
                             "read the object again") from None

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._body.close()
        super().close()
