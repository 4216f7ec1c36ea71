"""Store URIs and options: mistakes fail at once, naming the URI, and never echo secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kitaru.errors import StoreConfigError, StoreUnavailableError
from kitaru.stores import open_store
from kitaru.stores.retry import RetryPolicy, redact

SECRET = "c2VjcmV0LWtleS1tYXRlcmlhbC1mb3Ita2l0YXJ1LXRlc3Rz"


@pytest.mark.parametrize("uri, valid", [
    ("s3://bucket/p", "endpoint_url, region, profile, access_key_id"),
    ("gs://bucket/p", "project, credentials_file"),
    ("az://container/p", "connection_string, account_url, account_key, sas_token"),
])
def test_an_unknown_option_is_named_with_the_valid_ones(uri: str, valid: str) -> None:
    with pytest.raises(StoreConfigError, match=f"unknown option.*endpoint.*{valid}"):
        open_store(uri, options={"endpoint": "http://x"})


@pytest.mark.parametrize("uri", [f"s3://AKIA:{SECRET}@bucket/p", f"gs://bucket/p?sig={SECRET}",
                                 f"az://user:{SECRET}@container/p"])
def test_credentials_in_the_uri_are_refused_without_echoing_them(uri: str) -> None:
    with pytest.raises(StoreConfigError, match="pass credentials as store options") as raised:
        open_store(uri)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize("uri", ["s3://", "gs:///prefix", "az://container/a/../b"])
def test_a_uri_without_a_bucket_or_with_an_unsafe_prefix_is_refused(uri: str) -> None:
    with pytest.raises(StoreConfigError):
        open_store(uri)


def test_an_unreadable_google_key_file_is_a_config_error_without_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({"type": "service_account", "private_key": SECRET,
                                    "client_email": "x@y.iam.gserviceaccount.com"}))
    with pytest.raises(StoreConfigError, match="credentials_file") as raised:
        open_store("gs://bucket/p", options={"credentials_file": str(key_file)})
    assert SECRET not in str(raised.value)
    assert raised.value.__cause__ is None


def test_azure_without_an_account_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    with pytest.raises(StoreConfigError, match="AZURE_STORAGE_CONNECTION_STRING"):
        open_store("az://container/p")


def test_a_malformed_connection_string_is_a_config_error_without_its_secret() -> None:
    with pytest.raises(StoreConfigError, match="az://container/p") as raised:
        open_store("az://container/p", options={"connection_string": f"AccountKey={SECRET}"})
    assert SECRET not in str(raised.value)


def test_redact_removes_signatures_keys_and_given_secrets() -> None:
    text = (f"GET http://h/c/k?sv=1&sig={SECRET}&se=2 AccountKey={SECRET}; "
            f"X-Amz-Signature=abc123 token {SECRET[:20]}")
    cleaned = redact(text, [SECRET[:20]])
    assert SECRET[:20] not in cleaned and "abc123" not in cleaned
    assert "sig=***" in cleaned and "sv=1" in cleaned


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _flaky(failures: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        return "done"
    return calls, fn


def test_backoff_doubles_up_to_its_cap_and_the_call_succeeds() -> None:
    clock = FakeTime()
    policy = RetryPolicy(max_attempts=6, base_delay=1.0, max_delay=3.0, max_total_delay=60,
                         sleep=clock.sleep, clock=lambda: clock.now, jitter=lambda: 1.0)
    calls, fn = _flaky(4, ConnectionResetError())
    assert policy.call(fn, transient=lambda e: "reset", where="s3://b/p") == "done"  # type: ignore[arg-type]
    assert clock.sleeps == [1.0, 2.0, 3.0, 3.0]
    assert len(calls) == 5


def test_jitter_spreads_delays_below_the_cap() -> None:
    clock = FakeTime()
    policy = RetryPolicy(base_delay=2.0, sleep=clock.sleep, clock=lambda: clock.now,
                         jitter=lambda: 0.25)
    _, fn = _flaky(2, ConnectionResetError())
    policy.call(fn, transient=lambda e: "reset", where="x")  # type: ignore[arg-type]
    assert clock.sleeps == [0.5, 1.0]


def test_the_total_delay_bound_ends_retries_before_max_attempts() -> None:
    clock = FakeTime()
    policy = RetryPolicy(max_attempts=50, base_delay=1.0, max_delay=4.0, max_total_delay=6.0,
                         sleep=clock.sleep, clock=lambda: clock.now, jitter=lambda: 1.0)
    calls, fn = _flaky(100, ConnectionResetError())
    with pytest.raises(StoreUnavailableError, match=r"gs://b/p: the store is unreachable"):
        policy.call(fn, transient=lambda e: "reset", where="gs://b/p")  # type: ignore[arg-type]
    assert sum(clock.sleeps) <= 6.0
    assert len(calls) == 3  # slept 1 + 2; a third sleep of 4 would pass the bound


def test_a_permanent_fault_is_not_retried() -> None:
    clock = FakeTime()
    policy = RetryPolicy(sleep=clock.sleep, clock=lambda: clock.now)
    calls, fn = _flaky(1, PermissionError("denied"))
    with pytest.raises(PermissionError):
        policy.call(fn, transient=lambda e: None, where="x")  # type: ignore[arg-type]
    assert len(calls) == 1 and clock.sleeps == []
