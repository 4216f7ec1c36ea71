"""Reconciles asked for later: one pending time per object, no thread per request."""

from __future__ import annotations

import threading
import time

import pytest

from kitaru_operator.requeue import Requeues


class Fired:
    """Records which keys fired, and lets a test wait for a count of them."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._cond = threading.Condition()

    def __call__(self, key: str) -> None:
        with self._cond:
            self.keys.append(key)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.keys) >= count, timeout)
            return list(self.keys)


def test_asking_again_and_again_keeps_one_pending_time_and_fires_once() -> None:
    fired = Fired()
    requeues: Requeues[str] = Requeues(fired, name="test-requeue", workers=2)
    before = threading.active_count()
    for _ in range(1000):  # what a resync every few seconds does to a sleeping execution
        requeues.after("nap-1", 0.2)
    assert requeues.pending() == 1
    assert threading.active_count() <= before + 1  # one sleeper, no thread per request
    assert fired.wait_for(1) == ["nap-1"]
    time.sleep(0.3)
    assert fired.keys == ["nap-1"]
    assert requeues.pending() == 0
    requeues.stop()


def test_an_earlier_time_replaces_a_later_one_and_a_later_one_waits_its_turn() -> None:
    fired = Fired()
    requeues: Requeues[str] = Requeues(fired, name="test-requeue", workers=1)
    requeues.after("store-recheck", 60)  # a long requeue first, then a due timer
    requeues.after("store-recheck", 0.05)
    requeues.after("later", 0.3)
    requeues.after("sooner", 0.1)
    assert fired.wait_for(3) == ["store-recheck", "sooner", "later"]
    requeues.stop()


def test_many_due_at_once_all_fire_across_the_pool() -> None:
    fired = Fired()
    requeues: Requeues[str] = Requeues(fired, name="test-requeue", workers=4)
    names = [f"nap-{i}" for i in range(500)]
    for name in names:
        requeues.after(name, 0.05)
    assert sorted(fired.wait_for(500)) == sorted(names)
    requeues.stop()


def test_a_failing_pass_is_logged_and_the_others_still_fire(
        caplog: pytest.LogCaptureFixture) -> None:
    fired = Fired()

    def fire(key: str) -> None:
        if key == "broken":
            raise RuntimeError("the API server went away")
        fired(key)

    requeues: Requeues[str] = Requeues(fire, name="test-requeue", workers=1)
    requeues.after("broken", 0.01)
    requeues.after("fine", 0.05)
    assert fired.wait_for(1) == ["fine"]
    requeues.stop()
    assert "the pass for broken failed" in caplog.text
    assert "the API server went away" in caplog.text


def test_after_stop_nothing_fires() -> None:
    fired = Fired()
    requeues: Requeues[str] = Requeues(fired, name="test-requeue")
    requeues.after("nap-1", 0.05)
    requeues.stop()
    requeues.after("nap-2", 0.01)
    time.sleep(0.2)
    assert fired.keys == []
