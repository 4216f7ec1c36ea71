"""Damaged or missing store data is detected, never silently used."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruExecutionError, checkpoint, flow
from kitaru.journal import ExecutionStore
from kitaru.stores import open_store


@checkpoint
def big() -> str:
    return "x" * 10_000  # over the inline limit, so it lives in a blob


@checkpoint
def after(text: str) -> int:
    return len(text)


@flow
def two_steps(fail: bool) -> int:
    n = after(big())
    if fail:
        raise ValueError("stop here")
    return n


def test_corrupted_blob_is_detected_by_digest_on_resume(store_uri: str) -> None:
    handle = two_steps.run(fail=True)
    assert handle.status == "failed"
    record = ExecutionStore(open_store(), handle.exec_id).records()["big"]
    blob = Path(store_uri) / record.value.blob_key
    blob.write_bytes(b"y" * 10_000)

    replay = two_steps.replay(handle.exec_id, at="after", fail=False)

    with pytest.raises(KitaruExecutionError) as failed:
        replay.wait()
    assert failed.value.origin == "backend"
    assert failed.value.error_type == "ArtifactCorruptedError"
    assert f"sha256:{record.value.digest}" in str(failed.value)


def test_records_are_created_once_and_never_replaced(store_uri: str) -> None:
    handle = two_steps.run(fail=False)
    journal = ExecutionStore(open_store(), handle.exec_id)
    record = journal.records()["after"]

    committed, on_file = journal.commit(record.model_copy(update={"run": 99}))

    assert committed is False and on_file.run == record.run
    assert KitaruClient().executions.get(handle.exec_id).checkpoints[1].run == 1
