"""Time in flows: ``kitaru.sleep`` and the clock waits and timers read.

``kitaru.sleep(duration)`` is a timer: the first run to reach it records the wake-up
time durably (the run ends ``waiting`` on the timer, as at an unanswered wait) and no
process or pod is held while it sleeps. A later run continues past it once the time has
come; a run after that never sleeps there again. Nobody answers a timer: locally
``kitaru executions resume-due`` continues every execution whose timer is due (once, or
``--watch`` in the foreground); on a cluster the operator does it at the time.

The clock is injectable (:func:`use_clock`) so tests need not sleep for real.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from kitaru.errors import KitaruContextError


def utcnow() -> datetime:
    """Return the current time in UTC (the one clock records use)."""
    return datetime.now(UTC)


_clock: list[Callable[[], datetime]] = [utcnow]


def now() -> datetime:
    """The time waits and timers go by (UTC)."""
    return _clock[-1]()


@contextmanager
def use_clock(clock: Callable[[], datetime]) -> Iterator[None]:
    """Make ``clock`` the time source in this block (tests)."""
    _clock.append(clock)
    try:
        yield
    finally:
        _clock.pop()


def sleep(duration: float | timedelta) -> None:
    """Sleep durably for ``duration`` (seconds or a timedelta); call from the flow body.

    Zero or negative returns at once. The wake-up time is measured from when a run first
    reached this call, so a resumed or retried run does not start the sleep over.
    """
    from kitaru.context import current_scope, require_run
    from kitaru.records import WaitInfo
    from kitaru.waits import WaitSuspend

    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    ctx = require_run("kitaru.sleep()")
    scope = current_scope()
    if scope is not None:
        raise KitaruContextError(f"kitaru.sleep() was called inside checkpoint "
                                 f"{scope.checkpoint_id!r}; call it from the flow body (inside "
                                 "a checkpoint, time.sleep holds the process)")
    count = ctx.wait_counts.get("sleep", 0) + 1
    ctx.wait_counts["sleep"] = count
    name = "sleep" if count == 1 else f"sleep_{count}"
    if seconds <= 0:
        return
    since = ctx.wait_since.get(name, now())
    wake = since + timedelta(seconds=seconds)
    if now() >= wake:
        ctx.log_event(f"timer {name}: woke (due {wake.isoformat(timespec='seconds')})")
        return
    ctx.log_event(f"timer {name}: sleeping until {wake.isoformat(timespec='seconds')}; "
                  "the run stops here")
    raise WaitSuspend(WaitInfo(name=name, kind="timer", since=since, deadline=wake,
                               question=f"sleeping until {wake.isoformat(timespec='seconds')}"))
