"""Bounded retries of transient store faults, and the messages they end with.

Cloud backends turn off their client library's own retries and call through
:meth:`RetryPolicy.call` instead, so there is one bound on how long a store operation
may keep trying: at most ``max_attempts`` attempts and ``max_total_delay`` seconds of
sleeping between them. Delays grow exponentially with full jitter, so many pods hitting
a throttled bucket spread out instead of retrying in step. When the bound is reached the
last fault becomes a :class:`StoreUnavailableError` that says the store is unreachable.

Invariant: nothing here (messages, log lines) may carry credentials. Fault texts from
client libraries can quote request URLs with SAS tokens or signatures, so every text
that reaches a message passes through :func:`redact` first.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

from kitaru import pylog
from kitaru.backoff import Backoff
from kitaru.errors import StoreUnavailableError

T = TypeVar("T")


# Query parameters and connection-string fields that carry secrets in any of the three
# ecosystems: SAS signatures, SigV4 presigned URLs, Google signed URLs, account keys.
_SECRET_FIELDS = re.compile(
    r"(?i)((?:sig|signature|x-amz-signature|x-amz-security-token|x-amz-credential|"
    r"x-goog-signature|x-goog-credential|accountkey|sharedaccesssignature|"
    r"access_token|token)=)[^&;\s'\"]+"
)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` without the given secret values or any secret-bearing fields."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _SECRET_FIELDS.sub(r"\1***", text)


class RetryPolicy(NamedTuple):
    """How long a store keeps retrying transient faults.

    Args:
        max_attempts: Attempts in total, the first included.
        base_delay: The cap of the first delay, in seconds; doubled for each retry.
        max_delay: The cap of any one delay, in seconds.
        max_total_delay: The most time spent sleeping between attempts of one call.
        sleep: Sleeps for the given seconds; injected by tests.
        clock: A monotonic clock in seconds; injected by tests.
        jitter: Returns a number in ``[0, 1)`` that scales each delay.
        on_retry: Called with ``(attempt, fault, delay)`` before each sleep.
    """

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 5.0
    max_total_delay: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random
    on_retry: Callable[[int, BaseException, float], None] | None = None

    def delay(self, attempt: int) -> float:
        """The sleep after failed attempt number ``attempt`` (1-based), with full jitter."""
        return Backoff(self.base_delay, self.max_delay, self.jitter).delay(attempt)

    def call(
        self,
        fn: Callable[[], T],
        *,
        transient: Callable[[BaseException], str | None],
        where: str,
        secrets: Iterable[str | None] = (),
        attempts: int | None = None,
    ) -> T:
        """Return ``fn()``, retrying while it raises faults that ``transient`` names.

        Args:
            fn: The operation; it must be safe to repeat.
            transient: Returns a short reason for a transient fault, ``None`` for any other
                exception (which propagates at once).
            where: The store or object URI, for the message.
            secrets: Values that must not appear in the message.
            attempts: Overrides ``max_attempts``, e.g. ``1`` for a stream that cannot be
                rewound.

        Raises:
            StoreUnavailableError: Transient faults outlasted the bounds.
        """
        limit = attempts if attempts is not None else self.max_attempts
        started = self.clock()
        slept = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                reason = transient(exc)
                if reason is None:
                    raise
                delay = self.delay(attempt)
                if attempt >= limit or slept + delay > self.max_total_delay:
                    elapsed = self.clock() - started
                    reason = redact(reason, secrets)
                    raise StoreUnavailableError(
                        f"{where}: the store is unreachable or keeps failing "
                        f"({reason}); gave up after {attempt} attempt(s) "
                        f"in {elapsed:.1f}s. Check that the endpoint is up and reachable "
                        "from here, then retry", where=where, reason=reason,
                    ) from None
                pylog.debug("kitaru.stores", "%s: transient fault (%s), retry %d in %.2fs",
                            where, redact(reason, secrets), attempt, delay)
                if self.on_retry is not None:
                    self.on_retry(attempt, exc, delay)
                self.sleep(delay)
                slept += delay


#: Interactive use (the CLI, a flow run in a notebook): give up within about 20 s, so a
#: person who typed a wrong endpoint hears about it soon.
DEFAULT_POLICY = RetryPolicy()

#: How long a run process rides out a store outage by default (``KITARU_STORE_RETRY_SECONDS``
#: overrides it). Object stores do answer 503 or throttle for tens of seconds now and then;
#: a run that gave up would only be started again, so it waits for a couple of minutes.
RUN_RETRY_SECONDS = 120.0
RUN_RETRY_ENV = "KITARU_STORE_RETRY_SECONDS"

#: The operator's own store reads: a few quick attempts, then the reconcile notes that the
#: store is unavailable and checks again later, so no reconcile worker waits long on it.
OPERATOR_POLICY = RetryPolicy(max_attempts=3, base_delay=0.2, max_total_delay=1.0)


def run_policy(seconds: float | None = None) -> RetryPolicy:
    """Return the policy of a run process: retry transient faults for ``seconds``.

    Args:
        seconds: Time to spend sleeping between attempts before giving up; default
            ``$KITARU_STORE_RETRY_SECONDS``, else :data:`RUN_RETRY_SECONDS`.

    Raises:
        ValueError: ``$KITARU_STORE_RETRY_SECONDS`` is not a number of seconds >= 0.
    """
    if seconds is None:
        raw = os.environ.get(RUN_RETRY_ENV)
        try:
            seconds = float(raw) if raw else RUN_RETRY_SECONDS
        except ValueError:
            seconds = -1.0
        if not seconds >= 0:  # also refuses NaN
            raise ValueError(f"{RUN_RETRY_ENV}={raw!r}: expected a number of seconds >= 0")
    # Attempts are bounded by time alone; each delay is capped at 10 s, so a run picks up
    # within about 10 s of the store coming back.
    return RetryPolicy(max_attempts=1_000_000, base_delay=0.5, max_delay=10.0,
                       max_total_delay=seconds)
