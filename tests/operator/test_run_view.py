"""What the operator reads from the store about a run, and how little it reads."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from kitaru import KitaruClient
from kitaru.stores import open_store
from kitaru_operator.observe import run_view
from kitaru_operator.observed import RunView
from tests.sdk.sample_flows import approval_flow
from tests.sdk.test_log_stream import _three_steps_blocked, _until
from tests.stores.counting import CountingStore


def test_a_finished_run_is_summarised_from_its_outcome_alone(
    store_uri: str, counters: Path
) -> None:
    handle = approval_flow.run(topic="tides")
    store = CountingStore(store_uri)

    view = run_view(store, handle.exec_id, 1)

    assert view.outcome is not None and view.outcome.outcome == "waiting"
    assert (view.claimed, view.checkpoints, view.last_checkpoints) == (
        True, 2, ("research", "draft"))
    # The outcome record only: no journal listing, no record reads.
    assert store.calls == [f"read executions/{handle.exec_id}/runs/1/outcome.json"]


def test_a_resumed_run_counts_reused_and_new_checkpoints(store_uri: str, counters: Path) -> None:
    handle = approval_flow.run(topic="tides")
    KitaruClient().executions.input(handle.exec_id, wait="approve", value=True)
    handle.wait(timeout=60)

    view = run_view(open_store(store_uri), handle.exec_id, 2)

    assert view.outcome is not None and view.outcome.outcome == "succeeded"
    assert view.checkpoints == 3
    assert view.last_checkpoints == ("research", "draft", "publish")


def test_a_run_without_an_outcome_is_summarised_from_its_journal(
    store_uri: str, counters: Path
) -> None:
    handle = approval_flow.run(topic="tides")
    store = open_store(store_uri)

    view = run_view(store, handle.exec_id, 2)  # run 2 never started

    assert (view.claimed, view.outcome) == (False, None)
    assert view.checkpoints == 2
    assert view.last_checkpoints == ("research", "draft")


def test_a_run_still_going_is_summarised_from_its_progress_without_the_journal(
    store_uri: str, counters: Path
) -> None:
    proc, running = _three_steps_blocked(counters)  # blocked in its second checkpoint
    try:
        store = CountingStore(store_uri)
        prefix = f"executions/{running.exec_id}/runs/1/"

        def seen() -> RunView:
            store.calls.clear()
            return run_view(store, running.exec_id, 1)

        _until(lambda: seen().checkpoints == 1)
        view = seen()
        assert (view.claimed, view.outcome, view.last_checkpoints) == (True, None,
                                                                         ("slow_step",))
        # Two reads, whatever the journal's length: no listing, no record read.
        assert store.calls == [f"read {prefix}outcome.json", f"read {prefix}progress.json"]
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    # Killed, it leaves its last progress: the count the next run starts from.
    assert run_view(store, running.exec_id, 1).checkpoints == 1
