"""Async flows and checkpoints, and fan-out that runs bodies at once with stable ids.

Concurrency is proven with barriers, not clocks: each group of calls returns only when
every call in it is running at the same time, so one-at-a-time execution fails the test
(by a timeout) instead of merely being slower.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruUsageError, checkpoint, flow
from tests.sdk.sample_flows import bounded_map, gather_flow, map_flow, runs_of


def test_gathered_async_checkpoints_run_at_once_with_ids_in_call_order(
    store_uri: str, counters: Path
) -> None:
    handle = gather_flow.run(n=3)

    info = KitaruClient().executions.get(handle.exec_id)
    assert info.status == "waiting"
    values = {c.id: c.seq for c in info.checkpoints}
    assert values == {"meet_async": 0, "meet_async_2": 1, "meet_async_3": 2}
    assert runs_of(counters, "meet_async") == 3


def test_an_async_flow_resumes_without_rerunning_its_awaited_checkpoints(
    store_uri: str, counters: Path
) -> None:
    handle = gather_flow.run(n=3)

    KitaruClient().executions.input(handle.exec_id, wait="go", value=True)

    assert handle.wait(timeout=60) == [0, 10, 20]
    assert runs_of(counters, "meet_async") == 3


def test_map_runs_its_bodies_at_once_and_returns_results_in_call_order(
    store_uri: str, counters: Path
) -> None:
    handle = map_flow.run(n=4)

    assert handle.wait() == [0, 10, 20, 30]
    info = KitaruClient().executions.get(handle.exec_id)
    assert [c.id for c in sorted(info.checkpoints, key=lambda c: c.seq)] == [
        "meet_threads", "meet_threads_2", "meet_threads_3", "meet_threads_4"]


def test_max_concurrency_bounds_how_many_bodies_run_at_once(store_uri: str) -> None:
    assert bounded_map.run(n=6, limit=2).wait() == 2


def test_run_async_starts_a_flow_from_async_code(store_uri: str, counters: Path) -> None:
    async def main() -> object:
        handle = await map_flow.run_async(n=2)
        return handle.wait()

    assert asyncio.run(main()) == [0, 10]


def test_an_async_checkpoint_is_retried_with_backoff(store_uri: str) -> None:
    attempts: list[int] = []

    @checkpoint(retries=2, retry_delay=0.001)
    async def shaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("not yet")
        return "ok"

    @flow
    async def shaky_flow() -> str:
        return await shaky()

    assert shaky_flow.run().wait() == "ok"
    assert len(attempts) == 3


def test_an_async_checkpoint_outside_a_flow_is_its_plain_coroutine() -> None:
    @checkpoint
    async def double(x: int) -> int:
        return 2 * x

    assert asyncio.run(double(4)) == 8


def test_a_bad_concurrency_bound_is_refused() -> None:
    with pytest.raises(KitaruUsageError, match="max_concurrency must be >= 1, got 0"):
        flow(max_concurrency=0)(lambda: None)
