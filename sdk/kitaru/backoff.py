"""One backoff policy: exponential delays with a cap, and jitter where many clients retry.

Checkpoint retries, a flow's retries after a runtime fault, store retries and the
operator's infrastructure retries all take their delays from :class:`Backoff`, so the
same numbers mean the same thing everywhere. Sleeping and the clock stay with the caller
(injected there), which keeps this a pure function of the attempt number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class Backoff(NamedTuple):
    """Delays that double from ``base`` up to ``cap``.

    Args:
        base: The delay after the first failure, in seconds.
        cap: The longest delay, in seconds.
        jitter: Returns a number in ``[0, 1)`` that scales each delay ("full jitter", so
            many clients retrying at once spread out); None for exact delays.
    """

    base: float
    cap: float
    jitter: Callable[[], float] | None = None

    def delay(self, failures: int) -> float:
        """The delay after failure number ``failures`` (1-based)."""
        exact = min(self.cap, self.base * 2.0 ** max(failures - 1, 0))
        return exact * self.jitter() if self.jitter is not None else exact

    @classmethod
    def jittered(cls, base: float, cap: float) -> Backoff:
        """A backoff with full jitter from :func:`random.random`."""
        return cls(base, cap, _random)


def _random() -> float:
    import random  # here: most processes never back off

    return random.random()
