"""Kubernetes Events, posted off the reconcile's path.

An Event tells a person what happened (``kubectl describe``, ``kubectl get events``); it
is never what the operator decides from. So a pass does not wait for its Events: it
queues them, and one thread posts them in order, as client-go's event recorder does.
Under a burst (hundreds of Executions applied at once) the API server then serves the
status writes and Job creates first, and the Events follow.

Events are best effort, as in Kubernetes itself: when the queue is full (the API server
far behind), an Event is dropped with a warning in the log rather than slowing every
pass; one still queued when the operator is killed is lost. The log line of each Event
is written at once, whatever becomes of the Event.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("kitaru_operator")

#: Events waiting to be posted at most; more are dropped (with a warning).
CAPACITY = 2000


class EventRecorder:
    """Posts queued Events with ``post(namespace, body)`` on a thread of its own."""

    def __init__(self, post: Callable[[str, dict[str, Any]], None], *,
                 capacity: int = CAPACITY) -> None:
        self._post = post
        # An Event to post, or a flush's signal (set once everything before it is posted).
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | threading.Event] = (
            queue.Queue(capacity))
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0

    def record(self, namespace: str, body: dict[str, Any]) -> None:
        """Queue an Event; returns at once."""
        self._start()
        try:
            self._queue.put_nowait((namespace, body))
        except queue.Full:
            self.dropped += 1
            logger.warning("event %s on %s dropped: %d events are waiting to be posted",
                           body.get("reason"), body.get("involvedObject", {}).get("name"),
                           self._queue.qsize())

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued Event is posted (False: still some after ``timeout``)."""
        done = threading.Event()
        self._start()
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="kitaru-events",
                                                daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            namespace, body = item
            try:
                self._post(namespace, body)
            except Exception as exc:  # an Event must never stop the ones after it
                # An API refusal by its reason (its text holds the whole HTTP answer).
                logger.warning("cannot post event %s on %s: %s", body.get("reason"),
                               body.get("involvedObject", {}).get("name"),
                               getattr(exc, "reason", None) or exc)
