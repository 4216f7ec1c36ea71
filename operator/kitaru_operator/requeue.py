"""Reconcile again later: one pending time per object, one thread, a bounded pool.

Decisions ask to be looked at again at a moment (a timer's deadline, a retry's backoff,
a store recheck). Every pass over an object may ask again, and the periodic resync passes
over every unfinished object, so asking must be cheap and must not pile up: each key
holds at most one pending time (the earliest asked for), a single thread sleeps until the
next one is due, and due keys are handed to a fixed pool of workers. A thousand sleeping
executions cost a thousand heap entries, not a thousand threads.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

logger = logging.getLogger("kitaru_operator")
K = TypeVar("K", bound=Hashable)


class Requeues(Generic[K]):
    """Call ``fire(key)`` once at the earliest time asked for each key.

    Args:
        fire: What to run for a due key (in a worker thread; exceptions are logged).
        name: Names the threads, for logs and thread dumps.
        workers: How many ``fire`` calls may run at once.
    """

    def __init__(self, fire: Callable[[K], None], *, name: str, workers: int = 8) -> None:
        self._fire = fire
        self._name = name
        self._workers = workers
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._order = 0  # ties in time keep the order they were asked in
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None

    def after(self, key: K, delay: float) -> None:
        """Fire ``key`` in ``delay`` seconds, unless it is already due sooner."""
        when = time.monotonic() + max(delay, 0.0)
        with self._wake:
            if self._stopped:
                return
            known = self._due.get(key)
            if known is not None and known <= when:
                return
            self._due[key] = when
            self._order += 1
            heapq.heappush(self._heap, (when, self._order, key))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name,
                                                daemon=True)
                self._thread.start()
            if self._heap[0][2] == key:  # the new earliest: the sleeper must wake sooner
                self._wake.notify()

    def pending(self) -> int:
        """How many keys have a time to fire."""
        with self._wake:
            return len(self._due)

    def stop(self) -> None:
        """Drop everything pending and fire nothing more."""
        with self._wake:
            self._stopped = True
            self._due.clear()
            self._heap.clear()
            self._wake.notify()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._wake:
                key = self._next_due()
                if key is None:
                    return
            self._submit(key)

    def _next_due(self) -> K | None:
        """Wait (holding the condition) until a key is due; None once stopped."""
        while not self._stopped:
            if not self._heap:
                self._wake.wait()
                continue
            when, _, key = self._heap[0]
            if self._due.get(key) != when:  # superseded by an earlier time, or fired
                heapq.heappop(self._heap)
                continue
            wait = when - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                continue
            heapq.heappop(self._heap)
            del self._due[key]
            return key
        return None

    def _submit(self, key: K) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix=self._name)
        try:
            self._pool.submit(self._call, key)
        except RuntimeError:  # shut down meanwhile
            return

    def _call(self, key: K) -> None:
        try:
            self._fire(key)
        except Exception:
            logger.exception("%s: the pass for %s failed", self._name, key)
