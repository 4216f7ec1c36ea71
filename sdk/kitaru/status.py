"""An execution's status, derived from what is in the store (never stored separately).

Statuses: ``running``, ``waiting``, ``completed``, ``failed``, ``cancelled``.

A run that has no outcome is running while the process that claimed it is alive. When
that process is gone (killed, crashed, the machine rebooted), the execution is
``failed`` with origin ``runtime``, so it can be retried; it is never left ``running``
forever. Liveness can only be checked on the host that ran it; elsewhere it shows
``running``.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from kitaru.journal import ExecutionStore, read_value_bytes
from kitaru.model import Field, Model
from kitaru.records import CheckpointRecord, ErrorInfo, RunOutcome, RunStart, WaitInfo
from kitaru.serialization import decode_plain
from kitaru.statuses import STATUSES, Status

__all__ = ["STATUSES", "CheckpointSummary", "ExecutionInfo", "Status", "UsageTotals",
           "claimant_alive", "describe", "latest_outcome", "process_alive", "this_host",
           "usage_totals"]


class CheckpointSummary(Model):
    """One checkpoint of an execution, as listed by the client and CLI."""

    id: str
    seq: int
    name: str
    type: str | None = None
    source: str
    run: int
    attempts: int
    parents: list[str]
    value_type: str
    size: int
    started_at: datetime | None = None
    finished_at: datetime
    metadata: dict[str, Any] = Field(default_factory=dict,
                                     description="What the body logged with kitaru.log().")


class UsageTotals(Model):
    """Model usage added up over an execution's checkpoints (``kitaru.llm()`` and the
    adapters record it under ``kitaru.usage``)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = Field(default=None, description="Estimated; None when no "
                                   "call's model had a known price.")
    models: list[str] = Field(default_factory=list)


def usage_totals(checkpoints: list[CheckpointSummary]) -> UsageTotals | None:
    """Add up the usage the checkpoints recorded; None when none recorded any."""
    totals = UsageTotals()
    for c in checkpoints:
        usage = c.metadata.get("kitaru.usage")
        if not isinstance(usage, dict):
            continue
        totals.calls += int(usage.get("calls", 1))
        totals.input_tokens += int(usage.get("input_tokens", 0))
        totals.output_tokens += int(usage.get("output_tokens", 0))
        if usage.get("cost_usd") is not None:
            totals.cost_usd = (totals.cost_usd or 0.0) + float(usage["cost_usd"])
        model = usage.get("model")
        if model and model not in totals.models:
            totals.models.append(str(model))
    return totals if totals.calls else None


class ExecutionInfo(Model):
    """What the client reports about one execution."""

    exec_id: str
    flow: str
    status: Status
    created_at: datetime
    updated_at: datetime
    runs: int = Field(description="How many runs the execution has had.")
    pid: int | None = Field(default=None, description="Process of the current run, if running.")
    checkpoints: list[CheckpointSummary] = Field(default_factory=list)
    pending_wait: WaitInfo | None = None
    output: Any = Field(default=None, description="The flow's return value (JSON view).")
    error: ErrorInfo | None = None
    replay_of: str | None = None
    is_replay: bool = False
    replay_roots: list[str] = Field(default_factory=list, description="In a replay: the "
                                    "checkpoints it was told to run again (its 'at' and "
                                    "the consumers of overridden values).")
    replay_rerun: list[str] = Field(default_factory=list, description="In a replay: the "
                                    "roots and everything downstream of them.")
    metadata: dict[str, Any] = Field(default_factory=dict)
    usage: UsageTotals | None = Field(default=None, description="Model tokens and cost, "
                                      "added up over the checkpoints.")


def this_host() -> str:
    """The name runs record as their host (pid liveness is only checked on it)."""
    if os.environ.get("KITARU_HOST"):
        return os.environ["KITARU_HOST"]
    if hasattr(os, "uname"):
        return os.uname().nodename  # what socket.gethostname() returns, without socket
    import socket

    return socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def claimant_alive(start: RunStart) -> bool:
    """Whether the process that claimed a run may still be running it. Only this host's
    processes can be checked: another host's always may."""
    return start.host != this_host() or process_alive(start.pid)


def _summary(record: CheckpointRecord) -> CheckpointSummary:
    return CheckpointSummary(
        id=record.id, seq=record.seq, name=record.name, type=record.type,
        source=record.source, run=record.run, attempts=record.attempts,
        parents=record.parents, value_type=record.value.type, size=record.value.size,
        started_at=record.started_at, finished_at=record.finished_at, metadata=record.metadata,
    )


def latest_outcome(journal: ExecutionStore) -> tuple[int, RunOutcome | None]:
    """Return the latest run number (0 when none) and its outcome, if it ended."""
    numbers = journal.run_numbers()
    if not numbers:
        return 0, None
    return numbers[-1], journal.run_outcome(numbers[-1])


def describe(journal: ExecutionStore, *, with_checkpoints: bool = True) -> ExecutionInfo:
    """Derive an execution's status and summary from its documents."""
    spec = journal.spec()
    run, outcome = latest_outcome(journal)
    cancelled = journal.cancel_requested()
    status: Status = "running"
    error: ErrorInfo | None = None
    pid: int | None = None
    updated = spec.created_at
    pending: WaitInfo | None = None
    output: Any = None
    if outcome is not None:
        updated = outcome.finished_at
        if outcome.outcome == "succeeded":
            status = "completed"
            if outcome.output is not None:
                output = decode_plain(outcome.output.serializer,
                                      read_value_bytes(journal.store, outcome.output))
        elif outcome.outcome == "cancelled" or cancelled:
            status = "cancelled"
        elif outcome.outcome == "waiting":
            status = "waiting"
            pending = outcome.wait
        else:
            status = "failed"
            error = outcome.error
    elif run:
        start = journal.run_start(run)
        if start is not None:
            updated = start.started_at
            if claimant_alive(start):
                pid = start.pid
            elif cancelled:
                status = "cancelled"
            else:
                status = "failed"
                error = ErrorInfo(
                    type="ProcessExited", origin="runtime",
                    message=f"the process running run {run} (pid {start.pid} on "
                    f"{start.host}) exited without recording an outcome; retry the "
                    "execution to continue from its last checkpoint",
                )
    elif cancelled:
        status = "cancelled"
    records = journal.records() if with_checkpoints else {}
    checkpoints = sorted((_summary(r) for r in records.values()), key=lambda c: c.seq)
    return ExecutionInfo(
        exec_id=spec.exec_id, flow=spec.flow, status=status, created_at=spec.created_at,
        updated_at=updated, runs=run, pid=pid, checkpoints=checkpoints,
        usage=usage_totals(checkpoints),
        pending_wait=pending, output=output, error=error,
        replay_of=spec.replay.source if spec.replay else None,
        is_replay=spec.replay is not None,
        replay_roots=spec.replay.roots if spec.replay else [],
        replay_rerun=spec.replay.rerun if spec.replay else [],
        metadata=outcome.metadata if outcome else {},
    )
