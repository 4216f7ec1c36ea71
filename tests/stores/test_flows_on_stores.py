"""The local-runtime flows run unchanged on every store, configured as a user would.

Each backend is chosen only through ``KITARU_STORE`` and the ecosystem's own environment
variables, so the new processes that answered waits start inherit the same store.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from kitaru import KitaruClient
from tests.sdk.sample_flows import approval_flow, diamond, runs_of
from tests.stores.conftest import Backend


@pytest.fixture
def store_from_env(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point KITARU_STORE (and the backend's usual env variables) at a fresh prefix."""
    if backend.name == "s3":
        for key, value in {"AWS_ENDPOINT_URL": backend.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                           "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
    elif backend.name == "gs":
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", backend.endpoint)
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "kitaru-test")
    elif backend.name == "az":
        assert backend.emulator is not None
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING",
                           backend.emulator.azure_connection_string())
    uri = backend.uri(f"flows-{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("KITARU_STORE", uri)
    return uri


def test_wait_answer_and_resume_in_a_new_process(store_from_env: str, counters: Path) -> None:
    handle = approval_flow.run(topic="tides")
    assert handle.status == "waiting"

    KitaruClient().executions.input(handle.exec_id, wait="approve", value=True)

    assert handle.wait(timeout=120) == "published Draft: notes on tides"
    assert (runs_of(counters, "research"), runs_of(counters, "draft"),
            runs_of(counters, "publish")) == (1, 1, 1)


def test_replay_reuses_records_by_reference(store_from_env: str, counters: Path) -> None:
    source = diamond.run(x=1, label="hi")
    assert source.wait() == "HI:2"

    assert diamond.replay(source.exec_id, at="b").wait() == "HI:2"

    assert {n: runs_of(counters, n) for n in "abcd"} == {"a": 1, "b": 2, "c": 1, "d": 2}
