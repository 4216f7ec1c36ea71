"""``KitaruClient``: inspect and act on executions in a store.

Every action that continues an execution (an answer, a retry, a resume, a replay) starts
the next run at once in a new process and returns; no second command is needed.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from kitaru.errors import (
    KitaruStateError,
    KitaruTimeoutError,
    KitaruUsageError,
    ObjectNotFoundError,
)
from kitaru.handle import FlowHandle
from kitaru.journal import ExecutionStore, list_execution_ids, read_value_bytes
from kitaru.records import Answer, ValueRef, WaitInfo
from kitaru.serialization import decode, decode_plain
from kitaru.settled import Settled
from kitaru.status import STATUSES, ExecutionInfo, describe, latest_outcome, this_host
from kitaru.stores import ObjectStore, open_store
from kitaru.timeline import RunSummary, run_timeline
from kitaru.timers import now
from kitaru.waits import check_answer

if TYPE_CHECKING:
    from kitaru.cluster.client import ClusterClient
    from kitaru.diff import ExecutionDiff

_FINAL = ("completed", "cancelled")

# Runs started by these launches belong to a process of their own, so cancel may signal it.
_OWN_PROCESS_REASONS = ("input", "retry", "resume", "replay", "abort")


def _open(store: str | ObjectStore | None) -> ObjectStore:
    return store if isinstance(store, ObjectStore) else open_store(store)


def _launcher() -> Callable[..., int]:
    """``kitaru.launch.launch_run``, which starts an execution's next run in a process of
    its own, with its setting (``KITARU_LAUNCH``) checked now: before the caller records
    anything, so a bad setting loses no answer."""
    from kitaru.launch import check_setting, launch_run  # here: only these commands launch

    check_setting()
    return launch_run


class Executions:
    """Executions in one store; reached as ``KitaruClient().executions``."""

    def __init__(self, store: ObjectStore, settled: Settled | None = None) -> None:
        self._store = store
        # Completed and cancelled executions never change again: a long-lived client (the
        # dashboard, the MCP server) lists them from here instead of re-reading the store.
        self._final: dict[str, ExecutionInfo] = {}
        # Documents that never change once written, read once (see kitaru.settled).
        self._settled = settled if settled is not None else Settled()

    def _journal(self, exec_id: str) -> ExecutionStore:
        journal = ExecutionStore(self._store, exec_id, self._settled)
        if not journal.exists():
            raise KitaruUsageError(f"no execution {exec_id!r} in store {self._store.uri}")
        return journal

    def handle(self, exec_id: str) -> FlowHandle:
        """Return a handle on an execution (to ``wait()`` for it, for example)."""
        return FlowHandle(self._journal(exec_id))

    def get(self, exec_id: str) -> ExecutionInfo:
        """Return an execution's status, checkpoints, pending wait, output or error."""
        return describe(self._journal(exec_id))

    def list(
        self, *, flow: str | None = None, status: str | None = None, limit: int | None = None
    ) -> builtins.list[ExecutionInfo]:
        """Return executions, newest first, optionally filtered by flow and status."""
        if status is not None and status not in STATUSES:
            raise KitaruUsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        found = []
        for exec_id in list_execution_ids(self._store):
            info = self._final.get(exec_id)
            if info is None:
                try:
                    info = describe(ExecutionStore(self._store, exec_id, self._settled),
                                    with_checkpoints=False)
                except ObjectNotFoundError:
                    continue  # its folder exists, its spec not yet: still being created
                if info.status in _FINAL:
                    self._final[exec_id] = info
            if (flow is None or info.flow == flow) and (status is None or info.status == status):
                found.append(info)
        found.sort(key=lambda i: i.created_at, reverse=True)
        return found[:limit] if limit is not None else found

    def latest(self, *, flow: str | None = None) -> ExecutionInfo | None:
        """Return the newest execution (of ``flow``), if any."""
        newest = self.list(flow=flow, limit=1)
        return newest[0] if newest else None

    def timeline(self, exec_id: str) -> builtins.list[RunSummary]:
        """Return the execution's runs, oldest first: when each started and what ended it."""
        return run_timeline(self._journal(exec_id))

    def logs(self, exec_id: str) -> str:
        """Return what every run of the execution printed, with Kitaru's own events."""
        from kitaru.logread import read_new

        return read_new(self._journal(exec_id))[0]

    def follow_logs(self, exec_id: str, *, poll: float = 0.5,
                    sleep: Callable[[float], None] = time.sleep) -> Iterator[str]:
        """Yield what the execution prints, as it prints it, until it stops running.

        Text that is already in the store comes first; then new text about once per
        ``poll`` seconds (a run streams its log at least once a second). Each look reads
        only what is new (see :mod:`kitaru.logread`).
        """
        cursor = ""
        while True:
            chunk = self.logs_since(exec_id, cursor)
            if chunk.text:
                yield chunk.text
            if not chunk.running:
                return
            cursor = chunk.cursor
            sleep(poll)

    def logs_since(self, exec_id: str, cursor: str = "") -> LogChunk:
        """Return the log text written since ``cursor`` (from the start when empty), the
        cursor for the next call, and whether the execution is still running (more may
        come). Joined from the empty cursor on, the texts are what :meth:`logs` returns.

        Raises:
            KitaruUsageError: ``cursor`` was not made by this method.
        """
        from kitaru.logread import read_new

        journal = self._journal(exec_id)
        # Whether it runs is asked first: text written after that is read now or next time.
        running = describe(journal, with_checkpoints=False).status == "running"
        text, cursor = read_new(journal, cursor)
        return LogChunk(text=text, cursor=cursor, running=running)

    def pending_waits(self, exec_id: str) -> builtins.list[WaitInfo]:
        """Return the wait the execution is stopped at (an empty list when none)."""
        info = describe(self._journal(exec_id), with_checkpoints=False)
        return [info.pending_wait] if info.status == "waiting" and info.pending_wait else []

    def _pending(self, exec_id: str, wait: str) -> tuple[ExecutionStore, WaitInfo]:
        journal = self._journal(exec_id)
        info = describe(journal, with_checkpoints=False)
        if info.status != "waiting" or info.pending_wait is None:
            raise KitaruStateError(f"execution {exec_id} is {info.status}, not waiting for input")
        if info.pending_wait.name != wait:
            raise KitaruUsageError(
                f"execution {exec_id} is waiting on {info.pending_wait.name!r}, not {wait!r}"
            )
        return journal, info.pending_wait

    def input(self, exec_id: str, *, wait: str, value: Any) -> FlowHandle:
        """Answer a wait and resume the execution at once in a new process.

        Raises:
            KitaruWaitValidationError: ``value`` does not match the wait's schema; the
                execution stays waiting and can be answered again.
            KitaruStateError: The execution is not waiting, or the wait was answered.
        """
        launch = _launcher()
        journal, pending = self._pending(exec_id, wait)
        if pending.kind == "timer":
            raise KitaruStateError(
                f"execution {exec_id}: {wait!r} is a timer (kitaru.sleep) until "
                f"{pending.deadline.isoformat(timespec='seconds') if pending.deadline else '?'}; "
                "nobody answers it: it continues by itself (kitaru executions resume-due)")
        if pending.deadline is not None and now() >= pending.deadline:
            raise KitaruTimeoutError(
                f"execution {exec_id}: wait {wait!r} timed out at "
                f"{pending.deadline.isoformat(timespec='seconds')}; resume the execution to "
                "let the flow handle the timeout"
            )
        check_answer(exec_id, wait, pending.schema, value)
        recorded, on_file = journal.answer(Answer(wait=wait, value=value))
        if not recorded and on_file.value != value:
            raise KitaruStateError(
                f"execution {exec_id}: wait {wait!r} was already answered with "
                f"{on_file.value!r}; an accepted answer is final"
            )
        launch(journal, reason="input")
        return FlowHandle(journal)

    def abort_wait(self, exec_id: str, *, wait: str) -> FlowHandle:
        """Abort a wait: the flow's ``wait()`` raises and the execution fails."""
        launch = _launcher()
        journal, _ = self._pending(exec_id, wait)
        journal.answer(Answer(wait=wait, aborted=True))
        launch(journal, reason="abort")
        return FlowHandle(journal)

    def retry(self, exec_id: str) -> FlowHandle:
        """Run a failed execution again; finished checkpoints are reused, not re-run."""
        journal = self._journal(exec_id)
        info = describe(journal, with_checkpoints=False)
        if info.status != "failed":
            raise KitaruStateError(
                f"execution {exec_id} is {info.status}; only a failed execution can be retried"
            )
        _launcher()(journal, reason="retry")
        return FlowHandle(journal)

    def resume(self, exec_id: str) -> FlowHandle:
        """Start the next run of a waiting execution whose wait was answered or timed out.

        In the timed-out case the flow's ``wait()`` raises :class:`KitaruTimeoutError`,
        which the flow may catch.
        """
        journal = self._journal(exec_id)
        info = describe(journal, with_checkpoints=False)
        wait = info.pending_wait
        ready = wait is not None and (
            wait.name in journal.answers()
            or (wait.deadline is not None and now() >= wait.deadline)
        )
        if info.status != "waiting" or not ready:
            raise KitaruStateError(
                f"execution {exec_id} is {info.status} with no answered or timed-out wait to "
                "resume; answer it with input(), or retry() a failed execution"
            )
        _launcher()(journal, reason="resume")
        return FlowHandle(journal)

    def resume_due(self) -> builtins.list[str]:
        """Continue every waiting execution whose timer or wait deadline has passed, each
        in a new process; return their ids. Nothing else wakes them locally."""
        launch = _launcher()
        resumed = []
        for info in self.list(status="waiting"):
            wait = info.pending_wait
            if wait is None or wait.deadline is None or now() < wait.deadline:
                continue
            journal = self._journal(info.exec_id)
            if wait.name in journal.answers():
                continue  # answered: its run was started by input()
            launch(journal, reason="timer" if wait.kind == "timer" else "timeout")
            resumed.append(info.exec_id)
        return resumed

    def cancel(self, exec_id: str) -> FlowHandle:
        """Cancel an execution.

        A waiting or failed execution is cancelled at once. A running one stops at its
        next checkpoint call (a body already running finishes and is kept), except a run
        that this client's launches started in a process of its own on this machine
        (an answer, a retry, a resume, a replay): that process is stopped at once with
        SIGTERM. Either way the execution ends ``cancelled``; on a cluster, use
        ``spec.cancel`` on the Execution, which stops the run pod at once.
        """
        journal = self._journal(exec_id)
        info = describe(journal, with_checkpoints=False)
        if info.status in ("completed", "cancelled"):
            raise KitaruStateError(f"execution {exec_id} is {info.status}; nothing to cancel")
        journal.request_cancel()
        run, outcome = latest_outcome(journal)
        start = journal.run_start(run) if run else None
        if (outcome is None and start is not None and start.host == this_host()
                and start.reason in _OWN_PROCESS_REASONS):
            with contextlib.suppress(ProcessLookupError):
                os.kill(start.pid, signal.SIGTERM)
        return FlowHandle(journal)

    def diff(self, a: str, b: str) -> ExecutionDiff:
        """Compare two executions checkpoint by checkpoint (see :mod:`kitaru.diff`)."""
        from kitaru.diff import diff_executions

        return diff_executions(self._journal(a), self._journal(b))

    def replay(
        self,
        exec_id: str,
        *,
        at: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        skip: tuple[str, ...] | builtins.list[str] = (),
    ) -> FlowHandle:
        """Start a replay of ``exec_id`` in a new process; see ``Flow.replay``."""
        from kitaru.replay import start_replay

        launch = _launcher()
        handle = start_replay(self._journal(exec_id), at=at, overrides=overrides or {},
                              skip=skip)
        launch(ExecutionStore(self._store, handle.exec_id), reason="replay")
        return handle


class LogChunk(NamedTuple):
    """What :meth:`Executions.logs_since` read: new text, where to go on from, and
    whether the execution still runs."""

    text: str
    cursor: str
    running: bool


class Artifact(NamedTuple):
    """A stored value: a checkpoint's result or a named artifact from ``kitaru.save``."""

    id: str
    exec_id: str
    name: str
    kind: str
    type: str
    value: ValueRef
    store: ObjectStore

    def load(self) -> Any:
        """Read the value back (verifying its digest)."""
        return decode(self.value.serializer, self.value.type, self.data())

    def data(self) -> bytes:
        """The value as stored: its serialized bytes (verifying its digest)."""
        return read_value_bytes(self.store, self.value)

    def plain(self) -> Any:
        """Read the value back as plain JSON, without importing its Python type."""
        data = read_value_bytes(self.store, self.value)
        return decode_plain(self.value.serializer, data)


class Artifacts:
    """Stored values of executions; reached as ``KitaruClient().artifacts``."""

    def __init__(self, store: ObjectStore, settled: Settled | None = None) -> None:
        self._store = store
        self._settled = settled

    def list(self, exec_id: str) -> builtins.list[Artifact]:
        """Return every checkpoint result and named artifact of an execution."""
        journal = ExecutionStore(self._store, exec_id, self._settled)
        if not journal.exists():
            raise KitaruUsageError(f"no execution {exec_id!r} in store {self._store.uri}")
        found = [
            Artifact(f"{exec_id}/{r.id}", exec_id, r.id, "checkpoint", r.type or "checkpoint",
                     r.value, self._store)
            for r in sorted(journal.records().values(), key=lambda r: r.seq)
        ]
        found += [
            Artifact(f"{exec_id}/artifacts/{a.name}", exec_id, a.name, "saved", a.type,
                     a.value, self._store)
            for a in journal.artifacts()
        ]
        return found

    def get(self, artifact_id: str) -> Artifact:
        """Return one artifact by the id :meth:`list` gives it."""
        for artifact in self.list(artifact_id.split("/", 1)[0]):
            if artifact.id == artifact_id:
                return artifact
        raise ObjectNotFoundError(f"no artifact {artifact_id!r} in store {self._store.uri}")


class KitaruClient:
    """Entry point for inspecting and driving executions.

    Args:
        store: Store URI or object (default ``$KITARU_STORE`` or ``./.kitaru``).
    """

    @staticmethod
    def cluster(*, context: str | None = None, namespace: str | None = None) -> ClusterClient:
        """The same verbs on a cluster's Execution, Flow and FlowVersion resources, with
        the user's kube credentials (``pip install 'kitaru[cluster]'``)."""
        from kitaru.cluster.client import ClusterClient

        return ClusterClient(context=context, namespace=namespace)

    def __init__(self, store: str | ObjectStore | None = None) -> None:
        self.store = _open(store)
        settled = Settled()  # shared: both read the same executions' documents
        self.executions = Executions(self.store, settled)
        self.artifacts = Artifacts(self.store, settled)
