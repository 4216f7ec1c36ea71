"""Caller-chosen execution ids start a flow exactly once; child flows are journaled."""

from __future__ import annotations

from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruStateError
from kitaru.journal import list_execution_ids
from kitaru.stores import open_store
from tests.sdk.sample_flows import approval_flow, diamond, parent_flow, runs_of


def test_run_with_an_execution_id_twice_returns_the_same_execution(
    store_uri: str, counters: Path
) -> None:
    first = diamond.run(x=1, label="hi", execution_id="order-123")
    again = diamond.run(x=1, label="hi", execution_id="order-123")

    assert first.exec_id == again.exec_id == "order-123"
    assert again.wait() == "HI:2"
    assert runs_of(counters, "a") == 1
    assert list_execution_ids(open_store(store_uri)) == ["order-123"]


def test_the_same_execution_id_with_other_inputs_is_refused(
    store_uri: str, counters: Path
) -> None:
    diamond.run(x=1, label="hi", execution_id="order-124")

    with pytest.raises(KitaruStateError, match="was started with another input 'x'"):
        diamond.run(x=2, label="hi", execution_id="order-124")
    with pytest.raises(KitaruStateError, match="is an execution of flow 'diamond'"):
        approval_flow.run(topic="x", execution_id="order-124")
    assert runs_of(counters, "a") == 1


def test_a_child_flow_is_reused_when_its_parent_runs_again(
    store_uri: str, counters: Path
) -> None:
    parent = parent_flow.run(n=3)
    child_id = f"{parent.exec_id}.child_flow"
    assert KitaruClient().executions.get(child_id).status == "completed"

    KitaruClient().executions.input(parent.exec_id, wait="go", value=True)

    assert parent.wait(timeout=60) == 10
    assert runs_of(counters, "square") == 1
    assert sorted(list_execution_ids(open_store(store_uri))) == sorted(
        [parent.exec_id, child_id])
    assert f"child flow {child_id}: already started; reused" in KitaruClient().executions.logs(
        parent.exec_id)
