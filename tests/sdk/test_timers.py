"""Durable time: kitaru.sleep and wait timeouts, with an injected clock (no real sleeps),
and one short real sleep resumed by ``kitaru executions resume-due``."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruStateError
from kitaru.claims import claim_run
from kitaru.journal import ExecutionStore
from kitaru.records import Answer
from kitaru.runner import execute_run
from kitaru.stores import open_store
from kitaru.timers import use_clock, utcnow
from tests.sdk.sample_flows import deadline_flow, nap_flow, runs_of

ROOT = Path(__file__).resolve().parents[2]
T0 = utcnow()


def at(seconds: float):  # type: ignore[no-untyped-def]
    return use_clock(lambda: T0 + timedelta(seconds=seconds))


def next_run(store_uri: str, exec_id: str, fn: object, seconds: float) -> str:
    journal = ExecutionStore(open_store(store_uri), exec_id)
    run = max(journal.run_numbers()) + 1
    with at(seconds):
        claim_run(journal, run, reason="test")
        outcome = execute_run(journal, run, fn, echo=False)  # type: ignore[arg-type]
    return outcome.outcome


def test_a_sleep_holds_no_process_and_a_run_after_it_never_sleeps_again(
    store_uri: str, counters: Path,
) -> None:
    with at(0):
        handle = nap_flow.run(seconds=3600)
    client = KitaruClient()
    info = client.executions.get(handle.exec_id)
    assert info.status == "waiting" and info.pid is None
    wait = info.pending_wait
    assert wait is not None and (wait.name, wait.kind) == ("sleep", "timer")
    assert wait.deadline == T0 + timedelta(hours=1)
    with pytest.raises(KitaruStateError, match=r"is a timer .* nobody answers it"):
        client.executions.input(handle.exec_id, wait="sleep", value=True)

    assert next_run(store_uri, handle.exec_id, nap_flow.fn, 1800) == "waiting"  # too early
    assert client.executions.get(handle.exec_id).pending_wait.name == "sleep"  # type: ignore[union-attr]
    assert next_run(store_uri, handle.exec_id, nap_flow.fn, 3601) == "waiting"  # woke; at "go"
    assert client.executions.get(handle.exec_id).pending_wait.name == "go"  # type: ignore[union-attr]
    journal = ExecutionStore(open_store(store_uri), handle.exec_id)
    journal.answer(Answer(wait="go", value=True))
    assert next_run(store_uri, handle.exec_id, nap_flow.fn, 3602) == "succeeded"
    assert (runs_of(counters, "stamp_before"), runs_of(counters, "stamp_after")) == (1, 1)


def test_a_timed_out_wait_returns_its_default_or_raises_for_the_flow_to_catch(
    store_uri: str,
) -> None:
    for with_default, expected in ((True, "answered False"), (False, "timed out")):
        with at(0):
            handle = deadline_flow.run(with_default=with_default)
        info = KitaruClient().executions.get(handle.exec_id)
        assert info.pending_wait is not None and info.pending_wait.kind == "input"
        assert info.pending_wait.deadline == T0 + timedelta(seconds=60)
        assert next_run(store_uri, handle.exec_id, deadline_flow.fn, 30) == "waiting"
        assert next_run(store_uri, handle.exec_id, deadline_flow.fn, 61) == "succeeded"
        assert handle.wait(timeout=5) == expected


def test_resume_due_continues_what_is_due_and_nothing_else(
    store_uri: str, counters: Path,
) -> None:
    short = nap_flow.run(seconds=1)
    long = nap_flow.run(seconds=3600)
    client = KitaruClient()
    listed = subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "list"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "sleep (timer " in listed
    time.sleep(1.2)  # the one real wait: a new process reads the real clock
    due = subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "resume-due"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert due == f"{short.exec_id}: due; resuming\n"
    deadline = time.monotonic() + 30
    while (info := client.executions.get(short.exec_id)).pending_wait is None or \
            info.pending_wait.name != "go":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert client.executions.get(long.exec_id).pending_wait.name == "sleep"  # type: ignore[union-attr]
    assert client.executions.resume_due() == []  # nothing else is due
