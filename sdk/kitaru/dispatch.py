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

Invariant: a body runs at most in one pod. A branch pod never runs a body it was not
given; a deferred call is never run by the pod that deferred it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kitaru.records import DispatchedCall, DispatchRequest

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
    """

    enabled: bool = False
    default_runtime: Runtime = "inline"
    assigned: frozenset[str] = frozenset()
    branch: bool = False
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

    def suspend(self) -> DispatchSuspend:
        """The exception that ends the run, naming every call deferred so far."""
        return DispatchSuspend(DispatchRequest(
            calls=list(self.deferred), fan_out=self.fan_out or len(self.deferred) > 1))
