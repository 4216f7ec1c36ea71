"""The state of the run in progress, reachable from anywhere in the flow's code.

A :class:`RunContext` exists while a flow body runs; a :class:`CheckpointScope` while a
checkpoint body runs. Both live in context variables, so primitives called in the wrong
place (a checkpoint outside a flow, ``save`` outside a checkpoint) fail with a clear
:class:`KitaruContextError` instead of doing something surprising.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kitaru import pylog
from kitaru.dispatch import DispatchState
from kitaru.errors import KitaruContextError
from kitaru.journal import ExecutionStore
from kitaru.limits import DEFAULT_MAX_CONCURRENCY
from kitaru.lineage import LineageTracker
from kitaru.records import Answer, CheckpointRecord, ExecutionSpec, ReusableRecord
from kitaru.timers import utcnow

if TYPE_CHECKING:  # concurrent.futures is imported when a run first needs a pool
    from concurrent.futures import Future, ThreadPoolExecutor


#: Seconds between checks of the store for a cancel request while a flow runs.
CANCEL_CHECK_INTERVAL = 1.0


class RunCancelled(BaseException):
    """Raised inside a flow to stop it after a cancel request.

    A ``BaseException`` so a flow's ``except Exception`` cannot swallow it.
    """

    def __init__(self, exec_id: str) -> None:
        super().__init__(f"execution {exec_id} was cancelled")


async def _sleep(seconds: float) -> None:
    import asyncio  # only async flows pay for importing it

    await asyncio.sleep(seconds)


@dataclass
class RunContext:
    """Everything a run of one execution knows while its flow body runs."""

    journal: ExecutionStore
    spec: ExecutionSpec
    run: int
    records: dict[str, CheckpointRecord]
    answers: dict[str, Answer]
    #: A replay's offers from its source, by checkpoint id (empty for other executions).
    reusable: dict[str, ReusableRecord] = field(default_factory=dict)
    allow_pickle: bool = False
    cache_default: bool | None = None
    sleep: Callable[[float], None] = field(default=lambda _s: None)
    lineage: LineageTracker = field(default_factory=LineageTracker)
    seq: int = 0
    used_ids: set[str] = field(default_factory=set)
    name_counts: dict[str, int] = field(default_factory=dict)
    wait_counts: dict[str, int] = field(default_factory=dict)
    #: Child flows started so far in this run, by flow name (their ids count on it).
    child_counts: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    checkpoints_run: int = 0
    checkpoints_reused: int = 0
    wait_since: dict[str, datetime] = field(default_factory=dict)
    by_seq: dict[int, CheckpointRecord] = field(default_factory=dict)
    last_checkpoint_id: str = ""
    #: Ids of the checkpoints this run committed or reused, newest last (a few only).
    recent_checkpoints: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    failed_checkpoint: str | None = None
    #: How isolated checkpoints are treated here, and the calls deferred to other pods.
    dispatch: DispatchState = field(default_factory=DispatchState)
    #: Called after each commit (the run's log streamer writes a part then).
    on_commit: Callable[[], None] = field(default=lambda: None)
    #: Set when Ctrl-C stopped the flow: the run records an outcome, then re-raises.
    interrupted: bool = False
    events: list[str] = field(default_factory=list)
    clock: Callable[[], float] = time.monotonic
    #: How ``async def`` checkpoints wait between retries (injected by tests).
    async_sleep: Callable[[float], Awaitable[None]] = _sleep
    #: Checkpoint bodies running at once from ``.submit()`` and ``.map()``.
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    #: Guards the state above when bodies run on several threads.
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_cancel_check: float = 0.0
    _pool: ThreadPoolExecutor | None = None
    _running: list[Future[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_seq = {r.seq: r for r in self.records.values()}

    def pool(self) -> ThreadPoolExecutor:
        """The run's threads for submitted checkpoint bodies (made on first use)."""
        with self.lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.max_concurrency,
                                                thread_name_prefix="kitaru-checkpoint")
            return self._pool

    def track(self, future: Future[Any]) -> None:
        """Remember a submitted call, so the run does not end before it does."""
        with self.lock:
            self._running.append(future)

    def join(self) -> None:
        """Wait for every submitted call to finish (its record committed or its error
        kept in its future), then release the run's threads."""
        with self.lock:
            running, self._running = self._running, []
            pool, self._pool = self._pool, None
        if running:
            from concurrent import futures

            futures.wait(running)
        if pool is not None:
            pool.shutdown(wait=True)

    def log_event(self, message: str) -> None:
        """Add a line to the run's log (stored with what the run printed)."""
        t = utcnow()  # formatted by hand: strftime costs more than the rest of the call
        self.events.append(f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}."
                           f"{t.microsecond // 1000:03d} [kitaru] {message}\n")
        pylog.debug("kitaru", "%s: %s", self.exec_id, message)

    def check_cancel(self) -> None:
        """Stop the run when a cancel was requested (checked at most once a second)."""
        now = self.clock()
        if now < self._next_cancel_check:
            return
        self._next_cancel_check = now + CANCEL_CHECK_INTERVAL
        if self.journal.cancel_requested():
            raise RunCancelled(self.exec_id)

    @property
    def exec_id(self) -> str:
        """The execution's id."""
        return self.journal.exec_id

    @property
    def is_replay(self) -> bool:
        """Whether this execution is a replay of another."""
        return self.spec.replay is not None



@dataclass
class CheckpointScope:
    """The checkpoint whose body is running."""

    checkpoint_id: str
    metadata: dict[str, Any] = field(default_factory=dict)


_run: contextvars.ContextVar[RunContext | None] = contextvars.ContextVar(
    "kitaru_run", default=None
)
_scope: contextvars.ContextVar[CheckpointScope | None] = contextvars.ContextVar(
    "kitaru_checkpoint", default=None
)


def current_run() -> RunContext | None:
    """Return the run in progress, if any."""
    return _run.get()


def require_run(what: str) -> RunContext:
    """Return the run in progress or raise an error saying ``what`` needs a flow."""
    ctx = _run.get()
    if ctx is None:
        raise KitaruContextError(f"{what} can only be called while a @flow runs")
    return ctx


def current_scope() -> CheckpointScope | None:
    """Return the checkpoint whose body is running, if any."""
    return _scope.get()


def enter_run(ctx: RunContext) -> contextvars.Token[RunContext | None]:
    """Make ``ctx`` the run in progress."""
    return _run.set(ctx)


def leave_run(token: contextvars.Token[RunContext | None]) -> None:
    """Undo :func:`enter_run`."""
    _run.reset(token)


def enter_scope(scope: CheckpointScope) -> contextvars.Token[CheckpointScope | None]:
    """Mark a checkpoint body as running."""
    return _scope.set(scope)


def leave_scope(token: contextvars.Token[CheckpointScope | None]) -> None:
    """Undo :func:`enter_scope`."""
    _scope.reset(token)


def current_execution_id() -> str | None:
    """Return the id of the execution in progress, or None outside a flow."""
    ctx = _run.get()
    return ctx.exec_id if ctx else None


def is_replay() -> bool:
    """Return True while a replay execution runs; use it to guard side effects."""
    ctx = _run.get()
    return bool(ctx and ctx.is_replay)
