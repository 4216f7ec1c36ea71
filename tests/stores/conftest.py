"""The ``store`` fixture: one contract suite, parametrized over every backend.

Cloud backends run against emulators started once per session on free loopback ports
(see :mod:`tests.stores.emulators`) and stopped by PID at the end. Every test gets a
fresh bucket (container) and prefix, so tests never see each other's keys.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from kitaru.stores import ObjectStore, open_store
from kitaru.stores.retry import RetryPolicy
from tests.stores import emulators

BACKENDS = ["file", "s3", "gs", "az"]
CLOUD = ["s3", "gs", "az"]
STORE_CLASSES = {"s3": "kitaru.stores.s3:S3Store", "gs": "kitaru.stores.gcs:GCSStore",
                 "az": "kitaru.stores.azure:AzureBlobStore"}


def _start(name: str) -> Iterator[emulators.Emulator]:
    try:
        emulator = emulators.start(name)
    except emulators.EmulatorMissingError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def s3_emulator() -> Iterator[emulators.Emulator]:
    yield from _start("s3")


@pytest.fixture(scope="session")
def gs_emulator() -> Iterator[emulators.Emulator]:
    yield from _start("gs")


@pytest.fixture(scope="session")
def az_emulator() -> Iterator[emulators.Emulator]:
    yield from _start("az")


_BARE_CLIENTS: dict[tuple[str, str], Any] = {}


class Backend:
    """Makes buckets and stores of one backend against its emulator (or a proxy of it)."""

    def __init__(self, name: str, emulator: emulators.Emulator | None, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = name
        self.emulator = emulator
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.bucket = self.new_bucket()

    @property
    def endpoint(self) -> str:
        assert self.emulator is not None
        return self.emulator.endpoint

    def options(self, endpoint: str | None = None) -> dict[str, str]:
        """Store options that reach the emulator, or ``endpoint`` in front of it."""
        endpoint = endpoint or (self.emulator.endpoint if self.emulator else "")
        if self.name == "s3":
            return {"endpoint_url": endpoint, "region": "us-east-1",
                    "access_key_id": "testing", "secret_access_key": "testing"}
        if self.name == "gs":
            self.monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
            return {"project": "kitaru-test"}
        if self.name == "az":
            assert self.emulator is not None
            return {"connection_string": self.emulator.azure_connection_string(endpoint)}
        return {}

    def new_bucket(self) -> str:
        """Create and return a fresh bucket (or container, or folder)."""
        name = f"kt{uuid.uuid4().hex[:16]}"
        if self.name == "file":
            return str(self.tmp_path / name)
        if self.name == "s3":
            self.bare_client().create_bucket(Bucket=name)
        elif self.name == "gs":
            self.bare_client().create_bucket(name)
        else:
            self.bare_client().create_container(name)
        return name

    def bare_client(self) -> Any:
        """The backend's own client library, pointed at the emulator."""
        if self.name == "gs":
            self.monkeypatch.setenv("STORAGE_EMULATOR_HOST", self.endpoint)
        key = (self.name, self.endpoint)
        if key not in _BARE_CLIENTS:
            _BARE_CLIENTS[key] = self._new_bare_client()
        return _BARE_CLIENTS[key]

    def _new_bare_client(self) -> Any:
        if self.name == "s3":
            import boto3  # type: ignore[import-untyped]
            return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        if self.name == "gs":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage  # type: ignore[import-untyped]
            return storage.Client(project="kitaru-test", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
        from azure.storage.blob import BlobServiceClient
        assert self.emulator is not None
        return BlobServiceClient.from_connection_string(
            self.emulator.azure_connection_string())

    def uri(self, prefix: str = "", bucket: str | None = None) -> str:
        bucket = bucket or self.bucket
        if self.name == "file":
            return str(Path(bucket) / prefix) if prefix else bucket
        return f"{self.name}://{bucket}/{prefix}"

    def store(self, prefix: str = "", *, bucket: str | None = None,
              endpoint: str | None = None, options: Mapping[str, str] | None = None,
              retry: RetryPolicy | None = None) -> ObjectStore:
        """Open a store of this backend at ``prefix`` of the test's bucket."""
        uri = self.uri(prefix, bucket)
        opts = dict(self.options(endpoint) if options is None else options)
        if retry is None:
            return open_store(uri, options=opts)
        module, _, name = STORE_CLASSES[self.name].partition(":")
        factory = getattr(importlib.import_module(module), name)
        return factory.from_uri(uri, opts, retry=retry)  # type: ignore[no-any-return]

    def raw_put(self, key: str, data: bytes) -> None:
        """Write ``data`` under the object name ``key`` behind the store's back."""
        if self.name == "file":
            path = Path(self.bucket) / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        elif self.name == "s3":
            self.bare_client().put_object(Bucket=self.bucket, Key=key, Body=data)
        elif self.name == "gs":
            self.bare_client().bucket(self.bucket).blob(key).upload_from_string(data)
        else:
            self.bare_client().get_container_client(self.bucket).upload_blob(
                key, data, overwrite=True)


@pytest.fixture(params=[pytest.param(b, marks=[pytest.mark.integration] if b in CLOUD else [])
                        for b in BACKENDS])
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Backend:
    """One backend, with a fresh bucket; cloud ones against their session emulator."""
    name: str = request.param
    emulator = request.getfixturevalue(f"{name}_emulator") if name in CLOUD else None
    return Backend(name, emulator, tmp_path, monkeypatch)


@pytest.fixture
def store(backend: Backend) -> ObjectStore:
    """A fresh, empty store of each backend, under a prefix of a fresh bucket."""
    return backend.store(f"root-{uuid.uuid4().hex[:8]}")
