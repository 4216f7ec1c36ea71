"""Leaving checkpoint calls to pods of their own (``runtime="isolated"`` on a cluster).

A run pod on a cluster does not run an isolated checkpoint's body. When the flow calls
one that has no result yet, the call is *deferred*: its id is noted, and the run goes on
until it needs the result. Then the run ends with outcome ``dispatch``, naming every
deferred call (:class:`~kitaru.records.DispatchRequest`), and the operator runs them:

- one sequential call: the next run is that checkpoint's pod. It runs the flow from the
  top (finished checkpoints are reused), runs the body when it reaches the call, and
  carries the flow on, so a sequential isolated checkpoint costs one pod start;
- calls submitted together (``.map()``, ``.submit()``, ``asyncio.gather``): one branch
  pod each, at once. A branch pod also runs the flow from the top, runs only its own
  call, and stops at the first thing it may not do (another call's body, a wait, the
  end of the flow), recording no outcome; the next run goes on once all have committed.

No argument crosses a process boundary this way: every pod rebuilds the call's
arguments by running the same flow code against the same journal.

A body that fails in its pod with retries left (``@checkpoint(retries=N)``) is not
retried in that pod: the run ends with outcome ``dispatch`` asking for the same call
again (:class:`~kitaru.records.RetryRequest`, with the backoff's earliest start), and the
operator runs the next attempt in a new pod. Each attempt gets a fresh process, and no
pod is held while the backoff runs. In local mode the retries run in the process.

Invariant: a body runs at most in one pod. A branch pod never runs a body it was not
given; a deferred call is never run by the pod that deferred it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from kitaru.records import DispatchedCall, DispatchRequest, ErrorInfo, RetryRequest
from kitaru.timers import utcnow

Runtime = Literal["inline", "isolated"]


class DispatchSuspend(BaseException):
    """Ends the run to let the operator run deferred calls in pods of their own.

    A ``BaseException`` so a flow's ``except Exception`` cannot swallow it.
    """

    def __init__(self, request: DispatchRequest) -> None:
        super().__init__(f"dispatching {', '.join(c.id for c in request.calls)}")
        self.request = request


@dataclass
class DispatchState:
    """How this process treats isolated checkpoints, and what it deferred so far.

    Args:
        enabled: On a cluster: isolated calls are deferred. Off in local mode, where
            every body runs in the flow's process.
        default_runtime: The runtime of checkpoints that name none (the FlowVersion's
            ``spec.checkpointRuntime``).
        assigned: The calls whose bodies this pod runs.
        branch: A branch pod: it runs its assigned calls and nothing else of its own.
        attempt: The attempt this pod makes at its assigned calls' bodies.
    """

    enabled: bool = False
    default_runtime: Runtime = "inline"
    assigned: frozenset[str] = frozenset()
    branch: bool = False
    attempt: int = 1
    retry: tuple[DispatchedCall, RetryRequest] | None = None
    deferred: list[DispatchedCall] = field(default_factory=list)
    fan_out: bool = False

    def runtime_of(self, declared: Runtime | None) -> Runtime:
        """The runtime a checkpoint runs with: its own, else the default."""
        return declared or self.default_runtime

    def defers(self, checkpoint_id: str, declared: Runtime | None) -> bool:
        """Whether this process must leave a call without a result to another pod."""
        if not self.enabled or checkpoint_id in self.assigned:
            return False
        return self.branch or self.runtime_of(declared) == "isolated"

    def defer(self, call: DispatchedCall, *, fan_out: bool) -> None:
        """Note a deferred call."""
        self.deferred.append(call)
        self.fan_out = self.fan_out or fan_out

    def first_attempt(self, checkpoint_id: str) -> int:
        """The number of the first attempt this process makes at a call's body."""
        return self.attempt if self.enabled and checkpoint_id in self.assigned else 1

    def retries_in_new_pod(self, checkpoint_id: str) -> bool:
        """Whether a failed attempt at this call's body is retried in a new pod."""
        return self.enabled and checkpoint_id in self.assigned

    def retry_in_new_pod(self, call: DispatchedCall, attempt: int, delay: float,
                         exc: Exception) -> DispatchSuspend:
        """Note that ``attempt`` at ``call`` failed; return the exception that ends the
        run and asks for attempt + 1 in a new pod after ``delay`` seconds."""
        request = RetryRequest(
            checkpoint=call.id, attempt=attempt,
            error=ErrorInfo(type=type(exc).__name__, message=str(exc), origin="user_code"),
            not_before=utcnow() + timedelta(seconds=delay))
        if self.retry is None:  # two failing at once: the first asks, the other reruns
            self.retry = (call, request)
        return self.suspend()

    def suspend(self) -> DispatchSuspend:
        """The exception that ends the run, naming every call deferred so far (or the
        call to retry in a new pod)."""
        if self.retry is not None:
            call, request = self.retry
            return DispatchSuspend(DispatchRequest(calls=[call], fan_out=self.branch,
                                                   retry=request))
        return DispatchSuspend(DispatchRequest(
            calls=list(self.deferred), fan_out=self.fan_out or len(self.deferred) > 1))
