"""Checkpoint semantics inside one process: ids, retries, values, misuse."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import kitaru
from kitaru import (
    KitaruClient,
    KitaruContextError,
    KitaruExecutionError,
    KitaruSerializationError,
    KitaruUsageError,
    checkpoint,
    flow,
)
from kitaru.journal import ExecutionStore
from kitaru.records import CheckpointRecord, ValueRef
from kitaru.stores import open_store
from tests.sdk.sample_flows import flaky_flow, runs_of, step


class Point(BaseModel):
    x: int
    y: int


class Opaque:
    def __init__(self, n: int) -> None:
        self.n = n


@checkpoint
def make_point() -> Point:
    return Point(x=1, y=2)


@checkpoint
def make_bytes() -> bytes:
    return b"\x00\xffraw"


@checkpoint
def make_tuple() -> tuple[int, str]:
    return (1, "a")


@checkpoint(pickle=True)
def make_opaque() -> Opaque:
    return Opaque(7)


@checkpoint
def make_unstorable() -> Opaque:
    return Opaque(1)


@flow
def typed_values() -> dict[str, Any]:
    point = make_point()
    raw = make_bytes()
    pair = make_tuple()
    opaque = make_opaque()
    assert isinstance(point, Point) and isinstance(pair, tuple)
    return {"point": point.x + point.y, "raw": len(raw), "pair": list(pair), "opaque": opaque.n}


@flow
def unstorable() -> None:
    make_unstorable()


@flow
def repeated_calls() -> list[int]:
    return [step(1)["i"], step(2)["i"], step(3, id="third")["i"], step(4)["i"]]


@checkpoint
def outer() -> int:
    return step(1)["i"]


@flow
def nested() -> int:
    return outer()


@checkpoint
def tagged(x: int) -> int:
    kitaru.log(tokens=42, model="small")
    kitaru.save("note", {"x": x}, type="context", tags=["t"])
    return x


@flow
def logging_flow() -> int:
    kitaru.log(customer="acme")
    return tagged(5)


@checkpoint
def reader(source: str) -> dict[str, int]:
    return kitaru.load(source, "note")  # type: ignore[no-any-return]


@flow
def load_flow(source: str) -> dict[str, int]:
    return reader(source)


@checkpoint
def add(x: int, y: int) -> int:
    return x + y


@flow
def fan_out(n: int) -> list[int]:
    futures = step.map(range(n))
    single = step.submit(100)
    pairs = add.product([1, 2], [10])
    return [f.result()["i"] for f in futures] + [single.result()["i"]] + [
        p.result() for p in pairs]


def test_repeated_calls_get_stable_ids_and_explicit_ids_are_kept(store_uri: str) -> None:
    handle = repeated_calls.run()
    assert handle.wait() == [1, 2, 3, 4]
    ids = [c.id for c in KitaruClient().executions.get(handle.exec_id).checkpoints]
    assert ids == ["step", "step_2", "third", "step_3"]


def test_typed_values_round_trip_through_the_journal(store_uri: str) -> None:
    handle = typed_values.run()
    assert handle.wait() == {"point": 3, "raw": 5, "pair": [1, "a"], "opaque": 7}
    types = {c.id: c.value_type for c in KitaruClient().executions.get(handle.exec_id).checkpoints}
    assert types["make_point"].endswith(":Point")
    assert types["make_bytes"] == "builtins:bytes"
    assert types["make_opaque"].endswith(":Opaque")

    replay = typed_values.replay(handle.exec_id, at="make_opaque")  # others read back typed
    assert replay.wait() == handle.wait()


def test_unserializable_value_names_the_checkpoint_and_type(store_uri: str) -> None:
    handle = unstorable.run()
    with pytest.raises(KitaruExecutionError) as failed:
        handle.wait()
    assert failed.value.error_type == KitaruSerializationError.__name__
    assert "checkpoint 'make_unstorable'" in str(failed.value)
    assert "Opaque" in str(failed.value)
    assert KitaruClient().executions.get(handle.exec_id).checkpoints == []


def test_retries_with_backoff_then_success(store_uri: str, counters: Path) -> None:
    handle = flaky_flow.run()
    assert handle.wait() == "ok"
    assert runs_of(counters, "flaky") == 3
    (record,) = KitaruClient().executions.get(handle.exec_id).checkpoints
    assert record.attempts == 3
    logs = KitaruClient().executions.logs(handle.exec_id)
    assert "retrying in 0.01 s" in logs and "retrying in 0.02 s" in logs


def test_misuse_is_reported_clearly(store_uri: str) -> None:
    with pytest.raises(KitaruUsageError, match="cannot be called directly"):
        repeated_calls()
    with pytest.raises(KitaruContextError, match="only be called while a @flow runs"):
        kitaru.wait()
    handle = nested.run()
    with pytest.raises(KitaruExecutionError, match="checkpoints cannot be nested"):
        handle.wait()
    assert kitaru.current_execution_id() is None and kitaru.is_replay() is False


def test_a_checkpoint_outside_a_flow_is_its_plain_function(store_uri: str) -> None:
    assert step(3) == {"i": 3}
    future = step.submit(4)
    assert future.done() and future.result() == {"i": 4}
    assert [f.result() for f in step.map([5, 6])] == [{"i": 5}, {"i": 6}]
    assert not Path(store_uri).exists()  # nothing was journaled


def test_log_save_and_load_across_executions(store_uri: str) -> None:
    first = logging_flow.run()
    assert first.wait() == 5
    client = KitaruClient()
    info = client.executions.get(first.exec_id)
    assert info.metadata == {"customer": "acme"}
    records = ExecutionStore(open_store(), first.exec_id).records()
    assert records["tagged"].metadata == {"tokens": 42, "model": "small"}
    saved = client.artifacts.get(f"{first.exec_id}/artifacts/note")
    assert saved.kind == "saved" and saved.type == "context" and saved.load() == {"x": 5}

    assert load_flow.run(source=first.exec_id).wait() == {"x": 5}


def test_submit_map_and_product_record_like_plain_calls(store_uri: str) -> None:
    handle = fan_out.run(n=3)
    assert handle.wait() == [0, 1, 2, 100, 11, 12]
    ids = [c.id for c in KitaruClient().executions.get(handle.exec_id).checkpoints]
    assert ids == ["step", "step_2", "step_3", "step_4", "add", "add_2"]


def test_flow_store_can_be_chosen_in_code(tmp_path: Path, store_uri: str) -> None:
    other = str(tmp_path / "elsewhere")
    handle = repeated_calls.options(store=other).run()
    assert handle.wait() == [1, 2, 3, 4]
    assert KitaruClient(other).executions.list()[0].exec_id == handle.exec_id
    assert KitaruClient().executions.list() == []


def test_racing_writers_of_one_record_commit_exactly_one(store_uri: str) -> None:
    journal = ExecutionStore(open_store(), "race-1")
    now = datetime.now(UTC)
    results: list[tuple[bool, CheckpointRecord]] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        record = CheckpointRecord(
            id="draft", seq=0, name="draft", run=n, started_at=now, finished_at=now,
            value=ValueRef(serializer="json", type="builtins:int", size=1, digest=str(n),
                           inline=str(n)),
        )
        outcome = journal.commit(record)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [r for created, r in results if created]
    assert len(winners) == 1
    assert {r.run for _, r in results} == {winners[0].run}
    assert journal.records()["draft"].run == winners[0].run
