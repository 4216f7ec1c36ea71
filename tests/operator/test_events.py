"""Events go out on a thread of their own, in order, and never hold up a pass."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from kitaru_operator.events import EventRecorder


def _event(reason: str) -> dict[str, Any]:
    return {"reason": reason, "involvedObject": {"name": "e1"}}


def test_a_pass_does_not_wait_for_a_slow_api_server_and_events_keep_their_order() -> None:
    release, posted = threading.Event(), []

    def post(namespace: str, body: dict[str, Any]) -> None:
        release.wait(10)
        posted.append((namespace, body["reason"]))

    recorder = EventRecorder(post)
    for reason in ("Started", "Waiting", "InputAccepted"):
        recorder.record("ns", _event(reason))  # returns although the post is held
    assert posted == []
    release.set()
    assert recorder.flush(timeout=5)
    assert posted == [("ns", "Started"), ("ns", "Waiting"), ("ns", "InputAccepted")]


def test_a_failing_post_is_logged_and_the_next_events_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    posted: list[str] = []

    def post(_namespace: str, body: dict[str, Any]) -> None:
        if body["reason"] == "Bad":
            raise ConnectionError("the API server hung up")
        posted.append(body["reason"])

    recorder = EventRecorder(post)
    for reason in ("Bad", "Good"):
        recorder.record("ns", _event(reason))
    assert recorder.flush(timeout=5)
    assert posted == ["Good"]
    assert "cannot post event Bad on e1: the API server hung up" in caplog.text


def test_events_beyond_the_queue_are_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release, posted = threading.Event(), []
    recorder = EventRecorder(lambda _ns, body: (release.wait(10), posted.append(body)),
                             capacity=3)
    with caplog.at_level(logging.WARNING, logger="kitaru_operator"):
        for i in range(10):
            recorder.record("ns", _event(f"E{i}"))
    release.set()
    assert recorder.flush(timeout=5)
    # Three queued (and perhaps one more taken by the thread): the rest dropped, each said.
    assert 3 <= len(posted) <= 4 and recorder.dropped == 10 - len(posted)
    assert caplog.text.count("dropped: 3 events are waiting to be posted") == recorder.dropped

