"""A long-lived client reads each document that never changes only once, and still sees
every change: a new run, its outcome, an answer."""

from __future__ import annotations

from pathlib import Path

from kitaru import KitaruClient
from kitaru.settled import Settled
from tests.sdk.sample_flows import approval_flow
from tests.stores.counting import CountingStore


def _reads(store: CountingStore) -> list[str]:
    """The objects read since the last call, relative to their execution's folder."""
    reads = [c.removeprefix("read ").split("/", 2)[-1] for c in store.calls
             if c.startswith("read ")]
    store.calls.clear()
    return reads


def test_polling_an_execution_rereads_only_what_can_change(store_uri: str,
                                                           counters: Path) -> None:
    handle = approval_flow.run(topic="kelp")
    store = CountingStore(store_uri)
    client = KitaruClient(store)

    first = client.executions.get(handle.exec_id)
    runs = client.executions.timeline(handle.exec_id)
    assert first.status == "waiting"
    assert len(first.checkpoints) == 2
    read_first = _reads(store)
    assert {"execution.json", "runs/1/start.json", "runs/1/outcome.json"} <= set(read_first)
    assert sum(r.startswith("journal/") for r in read_first) == 2

    # The page polls: the same answer, with none of those documents read again.
    again = client.executions.get(handle.exec_id)
    assert client.executions.timeline(handle.exec_id) == runs
    assert again == first
    assert _reads(store) == []

    # It changes: answered, run 2 resumes and finishes. The new run's documents are read.
    client.executions.input(handle.exec_id, wait="approve", value=True)
    assert handle.wait(timeout=60) == "published Draft: notes on kelp"
    store.calls.clear()
    done = client.executions.get(handle.exec_id)
    assert done.status == "completed"
    assert done.runs == 2 and len(done.checkpoints) == 3
    read_now = _reads(store)
    assert {"runs/2/outcome.json", "journal/publish.json"} <= set(read_now), read_now
    assert "journal/research.json" not in read_now


def test_the_keeper_holds_at_most_its_budget_dropping_the_least_recently_used() -> None:
    kept = Settled(budget=100)
    kept.keep("a", "A", 40)
    kept.keep("b", "B", 40)
    assert kept.get("a") == "A"  # a is now the most recently used
    kept.keep("c", "C", 40)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == ("A", None, "C")
    assert kept.held == 80
    kept.keep("huge", "H", 101)  # larger than the whole budget: not kept, nothing dropped
    assert kept.get("huge") is None and len(kept) == 2
