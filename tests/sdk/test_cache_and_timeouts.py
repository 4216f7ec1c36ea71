"""Cross-execution cache and wait timeouts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import kitaru
from kitaru import (
    KitaruClient,
    KitaruExecutionError,
    KitaruStateError,
    KitaruTimeoutError,
    checkpoint,
    flow,
)
from tests.sdk.sample_flows import bump, runs_of


@checkpoint(cache=True)
def expensive(prompt: str) -> str:
    bump("expensive")
    return prompt[::-1]


@checkpoint
def cheap(prompt: str) -> str:
    bump("cheap")
    return prompt.upper()


@flow
def cached_flow(prompt: str) -> str:
    return expensive(prompt) + cheap(prompt)


@flow(cache=True)
def flow_level_cache(prompt: str) -> str:
    return cheap(prompt)


@checkpoint(cache=False)
def never_cached(prompt: str) -> str:
    bump("never")
    return prompt


@flow(cache=True)
def checkpoint_flag_wins(prompt: str) -> str:
    return never_cached(prompt)


@flow
def timed_wait() -> str:
    answer = kitaru.wait(name="soon", schema=str, timeout=0.2)
    return f"got {answer}"


def test_cache_reuses_results_across_executions_only_when_asked(
    store_uri: str, counters: Path
) -> None:
    assert cached_flow.run(prompt="abc").wait() == "cbaABC"
    assert cached_flow.run(prompt="abc").wait() == "cbaABC"
    assert cached_flow.run(prompt="xyz").wait() == "zyxXYZ"

    assert runs_of(counters, "expensive") == 2  # "abc" once, "xyz" once
    assert runs_of(counters, "cheap") == 3  # cache is off by default


def test_replay_root_always_runs_even_when_cached(store_uri: str, counters: Path) -> None:
    first = cached_flow.run(prompt="abc")
    first.wait()

    replay = cached_flow.replay(first.exec_id, at="expensive")

    assert replay.wait() == "cbaABC"
    assert runs_of(counters, "expensive") == 2
    sources = {c.id: c.source for c in KitaruClient().executions.get(replay.exec_id).checkpoints}
    assert sources["expensive"] == "run"


def test_flow_cache_is_a_default_and_checkpoint_flags_win(
    store_uri: str, counters: Path
) -> None:
    for _ in range(2):
        flow_level_cache.run(prompt="a").wait()
        checkpoint_flag_wins.run(prompt="a").wait()

    assert runs_of(counters, "cheap") == 1
    assert runs_of(counters, "never") == 2


def test_late_answer_is_refused_and_resume_lets_the_flow_see_the_timeout(
    store_uri: str,
) -> None:
    handle = timed_wait.run()
    client = KitaruClient()
    info = client.executions.get(handle.exec_id)
    assert info.status == "waiting"
    assert info.pending_wait is not None and info.pending_wait.deadline is not None
    with pytest.raises(KitaruStateError, match="no answered or timed-out wait"):
        client.executions.resume(handle.exec_id)

    time.sleep(0.3)
    with pytest.raises(KitaruTimeoutError, match="wait 'soon' timed out at"):
        client.executions.input(handle.exec_id, wait="soon", value="late")
    assert handle.status == "waiting"

    client.executions.resume(handle.exec_id)
    with pytest.raises(KitaruExecutionError, match="got no answer before"):
        handle.wait(timeout=60)
