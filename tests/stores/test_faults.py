"""Transient and permanent faults of the cloud backends, against their emulators.

A proxy in front of each emulator injects 503s, drops connections or goes away in the
middle of an upload; sleeps are recorded instead of slept, so the bounded backoff is
checked without waiting for it.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator

import pytest

from kitaru.errors import (
    ObjectNotFoundError,
    StoreConfigError,
    StorePermissionError,
    StoreUnavailableError,
)
from kitaru.stores import sha256_hex
from kitaru.stores.retry import RetryPolicy
from tests.stores import emulators
from tests.stores.conftest import CLOUD, Backend
from tests.stores.proxy import FaultProxy, fault_proxy

pytestmark = pytest.mark.integration


class Recorder:
    """A retry policy whose sleeps and retries are recorded, not slept."""

    def __init__(self, max_attempts: int = 4) -> None:
        self.sleeps: list[float] = []
        self.retries: list[str] = []
        self.policy = RetryPolicy(
            max_attempts=max_attempts, base_delay=0.5, max_delay=4.0, max_total_delay=30.0,
            sleep=self.sleeps.append, clock=lambda: sum(self.sleeps), jitter=lambda: 1.0,
            on_retry=lambda attempt, exc, delay: self.retries.append(type(exc).__name__),
        )


@pytest.fixture(params=[pytest.param(name) for name in CLOUD])
def cloud(request: pytest.FixtureRequest, tmp_path: object,
          monkeypatch: pytest.MonkeyPatch) -> Backend:
    emulator = request.getfixturevalue(f"{request.param}_emulator")
    return Backend(request.param, emulator, tmp_path, monkeypatch)  # type: ignore[arg-type]


@pytest.fixture
def proxy(cloud: Backend) -> Iterator[FaultProxy]:
    # google-cloud-storage fetches bucket metadata in a background thread and shrugs off
    # failures; faults aimed at those calls would prove nothing about the store.
    background = r"^/storage/v1/b/[^/?]+(\?|$)" if cloud.name == "gs" else None
    with fault_proxy(cloud.endpoint, always_forward=background) as running:
        yield running


def test_two_503s_then_success_is_retried_and_the_write_succeeds(
    cloud: Backend, proxy: FaultProxy
) -> None:
    recorder = Recorder()
    store = cloud.store("root", endpoint=proxy.endpoint, retry=recorder.policy)

    proxy.fail_next(2, status=503)
    assert store.put_if_absent("journal/1.json", b'{"ok": true}') is True

    assert proxy.failures_sent == 2
    assert len(recorder.retries) == 2
    assert recorder.sleeps == [0.5, 1.0]  # exponential, capped by the jitter factor 1.0
    proxy.fail_next(2, status=503)
    assert store.get("journal/1.json", digest=sha256_hex(b'{"ok": true}')) == b'{"ok": true}'
    assert len(recorder.retries) == 4


def test_throttling_that_outlasts_the_bound_ends_unavailable(
    cloud: Backend, proxy: FaultProxy
) -> None:
    recorder = Recorder(max_attempts=3)
    store = cloud.store("root", endpoint=proxy.endpoint, retry=recorder.policy)
    proxy.fail_next(100, status=503)
    with pytest.raises(StoreUnavailableError, match="unreachable") as raised:
        store.put("k", b"v")
    assert "gave up after 3 attempt(s)" in str(raised.value)
    assert proxy.failures_sent == 3


def test_a_store_that_is_down_says_it_is_unreachable(cloud: Backend) -> None:
    recorder = Recorder()
    endpoint = f"http://127.0.0.1:{emulators.free_port()}"
    store = cloud.store("root", endpoint=endpoint, retry=recorder.policy)
    with pytest.raises(StoreUnavailableError, match=r"unreachable.*endpoint is up") as raised:
        store.put_if_absent("journal/1.json", b"v")
    assert store.uri in str(raised.value)
    assert len(recorder.retries) == 3
    with pytest.raises(StoreUnavailableError):
        store.get("journal/1.json")


def test_a_store_lost_mid_upload_leaves_no_partial_record(
    cloud: Backend, proxy: FaultProxy
) -> None:
    recorder = Recorder()
    store = cloud.store("root", endpoint=proxy.endpoint, retry=recorder.policy)
    data = bytes(range(256)) * (80 * 1024)  # 20 MB: a multipart / resumable / block upload

    proxy.cut_after(1)  # the upload starts, then the store goes away
    with pytest.raises(StoreUnavailableError, match="unreachable"):
        store.put_if_absent("blobs/big", io.BytesIO(data))
    proxy.up()

    assert store.exists("blobs/big") is False
    assert store.list() == []
    with pytest.raises(ObjectNotFoundError):
        store.get("blobs/big")
    assert store.put_if_absent("blobs/big", io.BytesIO(data)) is True
    assert store.get("blobs/big", digest=sha256_hex(data)) == data


def test_a_missing_bucket_is_a_config_error_naming_the_uri(cloud: Backend) -> None:
    missing = f"missing-{uuid.uuid4().hex[:10]}"
    store = cloud.store("root", bucket=missing)
    with pytest.raises(StoreConfigError, match=f"{cloud.name}://{missing}/root") as raised:
        store.put("k", b"v")
    assert "does not exist" in str(raised.value)
    with pytest.raises(StoreConfigError, match=missing):
        store.get("k")
    with pytest.raises(StoreConfigError, match=missing):
        store.list()


def test_a_missing_object_is_not_found(cloud: Backend) -> None:
    store = cloud.store("root")
    with pytest.raises(ObjectNotFoundError, match=r"root/nothing/here"):
        store.get("nothing/here")
    assert store.exists("nothing/here") is False
    store.delete("nothing/here")


@pytest.fixture(scope="module")
def s3_with_auth() -> Iterator[emulators.Emulator]:
    """A moto server that checks credentials (and knows none)."""
    emulator = emulators.start("s3", env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        yield emulator
    finally:
        emulator.stop()


SECRET = "c2VjcmV0LWtleS1tYXRlcmlhbC1mb3Ita2l0YXJ1LXRlc3Rz"  # base64, as account keys are


def test_bad_s3_credentials_are_a_permission_error_without_the_secret(
    s3_with_auth: emulators.Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    from kitaru.stores import open_store

    caplog.set_level("DEBUG", logger="kitaru")
    store = open_store("s3://bucket/root", options={
        "endpoint_url": s3_with_auth.endpoint, "region": "us-east-1",
        "access_key_id": "AKIAKITARUTEST", "secret_access_key": SECRET,
        "session_token": SECRET + "-token"})
    with pytest.raises(StorePermissionError, match="access denied") as raised:
        store.put("k", b"v")
    _assert_secret_free(raised.value, caplog, SECRET)


def test_bad_azure_key_is_a_permission_error_without_the_key(
    az_emulator: emulators.Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    from kitaru.stores import open_store

    caplog.set_level("DEBUG", logger="kitaru")
    wrong_key = "d3Jvbmcta2V5LWZvci1raXRhcnUtdGVzdHMtMDEyMzQ1Njc4OQ=="
    store = open_store("az://container/root", options={
        "account_url": f"{az_emulator.endpoint}/{emulators.AZURITE_ACCOUNT}",
        "account_key": wrong_key})
    with pytest.raises(StorePermissionError, match="access denied") as raised:
        store.put("k", b"v")
    _assert_secret_free(raised.value, caplog, wrong_key)


def test_a_malformed_azure_key_is_a_config_error_without_the_key(
    az_emulator: emulators.Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    from kitaru.stores import open_store

    caplog.set_level("DEBUG", logger="kitaru")
    store = open_store("az://container/root", options={
        "account_url": f"{az_emulator.endpoint}/{emulators.AZURITE_ACCOUNT}",
        "account_key": "not base64 at all: " + SECRET})
    with pytest.raises(StoreConfigError, match="cannot sign") as raised:
        store.get("k")
    _assert_secret_free(raised.value, caplog, SECRET)


def test_credentials_never_reach_errors_when_the_store_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from kitaru.stores.azure import AzureBlobStore
    from kitaru.stores.s3 import S3Store

    caplog.set_level("DEBUG", logger="kitaru")
    endpoint = f"http://127.0.0.1:{emulators.free_port()}"
    sas = f"sv=2024-01-01&sp=rwdl&sig={SECRET}"
    stores = [
        S3Store.from_uri("s3://bucket/root", {
            "endpoint_url": endpoint, "region": "us-east-1", "access_key_id": "AKIA",
            "secret_access_key": SECRET}, retry=Recorder().policy),
        AzureBlobStore.from_uri("az://container/root", {
            "account_url": f"{endpoint}/acct", "sas_token": sas}, retry=Recorder().policy),
        AzureBlobStore.from_uri("az://container/root", {
            "connection_string": f"DefaultEndpointsProtocol=http;AccountName=acct;"
                                 f"AccountKey={SECRET};BlobEndpoint={endpoint}/acct;"},
            retry=Recorder().policy),
    ]
    for store in stores:
        with pytest.raises(StoreUnavailableError) as raised:
            store.get("k")
        _assert_secret_free(raised.value, caplog, SECRET)


def _assert_secret_free(error: BaseException, caplog: pytest.LogCaptureFixture,
                        secret: str) -> None:
    """The error, its whole chain and every captured log line are free of ``secret``."""
    seen = []
    current: BaseException | None = error
    while current is not None:
        seen.append(str(current))
        current = current.__cause__ or current.__context__
    text = "\n".join(seen + [r.getMessage() for r in caplog.records])
    assert secret not in text
    assert secret[:12] not in text
