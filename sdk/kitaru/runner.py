"""Running one run of an execution: the flow body from the top, against the journal.

A run claims its number first (``runs/<n>/start.json``, create-once), so two processes
can never both be run ``n``. It ends by writing ``runs/<n>/outcome.json``; a process
killed before that leaves no outcome, which readers report as a failed run that can be
retried.

A store that stays unreachable for longer than the store's retries is not the flow's
fault: the run ends failed with origin ``infrastructure`` (recorded if the store takes it
by then), which every reader treats as retryable, never as the execution's final failure.
"""

from __future__ import annotations

import contextvars
import inspect
import io
import os
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from typing import Any, TextIO

from kitaru.context import (
    RunCancelled,
    RunContext,
    enter_run,
    leave_run,
)
from kitaru.dispatch import DispatchState, DispatchSuspend
from kitaru.errors import (
    KitaruDivergenceError,
    KitaruError,
    KitaruSerializationError,
    StoreError,
    StorePermissionError,
    StoreUnavailableError,
)
from kitaru.journal import ExecutionStore, read_value_bytes, store_value
from kitaru.limits import DEFAULT_MAX_CONCURRENCY
from kitaru.lineage import content_digest
from kitaru.logstream import LogStreamer
from kitaru.records import ErrorInfo, RunOutcome, RunProgress
from kitaru.serialization import decode, encode
from kitaru.waits import WaitSuspend


class _Tee(io.TextIOBase):
    """Writes to the real stream and keeps a copy for the run's stored log."""

    def __init__(self, real: TextIO, copy: list[str]) -> None:
        self._real = real
        self._copy = copy

    def write(self, text: str) -> int:
        self._copy.append(text)
        return self._real.write(text)

    def flush(self) -> None:
        self._real.flush()


def execute_run(
    journal: ExecutionStore,
    run: int,
    fn: Callable[..., Any],
    *,
    allow_pickle: bool = False,
    cache_default: bool | None = None,
    sleep: Callable[[float], None] = time.sleep,
    echo: bool = True,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    dispatch: DispatchState | None = None,
) -> RunOutcome:
    """Run the flow body ``fn`` as run ``run`` (already claimed) and record its outcome.

    Raises:
        KeyboardInterrupt: The run was interrupted; its outcome is recorded first.

    Args:
        journal: The execution's documents.
        run: The run number this process claimed.
        fn: The flow's plain function.
        allow_pickle: The flow opted in to pickle for values JSON cannot hold.
        cache_default: The flow's ``cache`` setting, for checkpoints that set none.
        sleep: How retries wait (injected by tests).
        echo: Also print what the flow prints (off when a launcher captures output).
        max_concurrency: Checkpoint bodies run at once from ``.submit()``/``.map()``.
        dispatch: How isolated checkpoints are treated (a cluster pod); a branch pod's
            run records no outcome: the outcome returned is the branch's own.
    """
    spec = journal.spec()
    ctx = RunContext(
        journal=journal, spec=spec, run=run, records=journal.records(),
        answers=journal.answers(), reusable=journal.reusable() if spec.replay else {},
        allow_pickle=allow_pickle, cache_default=cache_default,
        sleep=sleep, max_concurrency=max_concurrency,
        dispatch=dispatch or DispatchState(),
    )
    for earlier in range(1, run):
        prior = journal.run_outcome(earlier)
        if prior is not None and prior.wait is not None:
            ctx.wait_since.setdefault(prior.wait.name, prior.wait.since)
    ctx.log_event(f"run {run} of execution {journal.exec_id} started "
                  f"({len(ctx.records)} checkpoint(s) on record)")

    printed = ctx.events  # what the flow prints and Kitaru's events, in order
    real_out, real_err = sys.stdout, sys.stderr
    sink = real_out if echo else io.StringIO()
    sys.stdout = _Tee(sink, printed)
    sys.stderr = _Tee(real_err if echo else sink, printed)
    # A branch pod shares its run number with the run that dispatched it: its log goes
    # beside that run's, once, instead of streaming over it.
    streamer = LogStreamer(journal, run, printed, progress=lambda: _progress(ctx))
    if not ctx.dispatch.branch:
        ctx.on_commit = streamer.nudge
        streamer.start()
    token = enter_run(ctx)
    try:
        outcome = _run_body(ctx, fn)
    finally:
        leave_run(token)
        sys.stdout, sys.stderr = real_out, real_err
        if not ctx.dispatch.branch:
            streamer.stop()
    ctx.log_event(f"run {run} ended: {outcome.outcome}")
    try:
        if ctx.dispatch.branch:
            journal.write_branch_log(run, "+".join(sorted(ctx.dispatch.assigned)),
                                     "".join(printed))
        else:
            journal.write_log(run, "".join(printed))
    except StoreUnavailableError as exc:
        # The outcome matters more than the log: try to record it all the same.
        print(f"kitaru: the log of run {run} is lost: {exc}", file=real_err)
    if ctx.dispatch.branch:
        return _branch_outcome(ctx, outcome)  # the run's outcome is its continuation's
    recorded = journal.finish_run(outcome)
    if ctx.interrupted:
        raise KeyboardInterrupt
    return recorded


def _progress(ctx: RunContext) -> RunProgress:
    with ctx.lock:
        return RunProgress(run=ctx.run, checkpoints=len(ctx.records),
                           last_checkpoints=list(ctx.recent_checkpoints))


def _run_body(ctx: RunContext, fn: Callable[..., Any]) -> RunOutcome:
    def ended(kind: Any, **fields: Any) -> RunOutcome:
        return RunOutcome(run=ctx.run, outcome=kind, metadata=ctx.metadata,
                          checkpoints_run=ctx.checkpoints_run,
                          checkpoints_reused=ctx.checkpoints_reused,
                          last_checkpoints=list(ctx.recent_checkpoints), **fields)

    try:
        if ctx.journal.cancel_requested():
            raise RunCancelled(ctx.exec_id)
        inputs = _load_inputs(ctx)
        value = _call_flow(ctx, fn, inputs)
        if ctx.dispatch.deferred:  # submitted, never awaited: still theirs to run
            raise ctx.dispatch.suspend()
        _note_unreached(ctx)
        encoded = encode(value, allow_pickle=ctx.allow_pickle,
                         where=f"flow {ctx.spec.flow!r} return value")
        return ended("succeeded", output=store_value(ctx.journal.store, encoded))
    except WaitSuspend as suspend:
        return ended("waiting", wait=suspend.info)
    except DispatchSuspend as suspend:
        return ended("dispatch", dispatch=suspend.request)
    except RunCancelled:
        return ended("cancelled")
    except KeyboardInterrupt:
        # Ctrl-C in a process that lives on (a notebook, a REPL): end the run in a final
        # state now, not when the process exits; execute_run raises it again after.
        ctx.interrupted = True
        if ctx.journal.cancel_requested():
            return ended("cancelled")
        return ended("failed", error=ErrorInfo(
            type="Interrupted", origin="runtime", message=(
                f"run {ctx.run} was interrupted (Ctrl-C) in process {os.getpid()}; retry the "
                "execution to go on from its last checkpoint")))
    except KitaruDivergenceError as exc:
        return ended("failed", error=_error(exc, "divergence"))
    except (StoreUnavailableError, StorePermissionError) as exc:
        # Not a verdict on the flow: the store is away, or refused credentials that can be
        # fixed (a rotated key); the run is started again once the store answers.
        return ended("failed", error=_error(exc, "infrastructure"))
    except StoreError as exc:
        return ended("failed", error=_error(exc, "backend"))
    except KitaruSerializationError as exc:
        return ended("failed", error=_error(exc, "user_code"))
    except KitaruError as exc:
        origin = getattr(exc, "origin", "user_code")
        return ended("failed", error=_error(exc, origin))
    except Exception as exc:
        error = _error(exc, "user_code")
        if ctx.failed_checkpoint:
            error.message = f"checkpoint {ctx.failed_checkpoint!r}: {error.message}"
        return ended("failed", error=error)


def _call_flow(ctx: RunContext, fn: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    """Call the flow body (an ``async def`` one on an event loop of its own) and wait for
    the checkpoints it submitted, so none is still committing when the run ends."""
    try:
        value = fn(**inputs)
        if inspect.iscoroutine(value):
            value = _run_coroutine(value)
        return value
    finally:
        ctx.join()


def _run_coroutine(coro: Coroutine[Any, Any, Any]) -> Any:
    import asyncio  # only async flows pay for importing it
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    # Called from code that already runs a loop in this thread (a notebook): give the
    # flow a loop of its own on another thread, in this context.
    with ThreadPoolExecutor(1, thread_name_prefix="kitaru-flow") as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, coro).result()


def _branch_outcome(ctx: RunContext, run_outcome: RunOutcome) -> RunOutcome:
    """How a branch pod did: whether its own calls committed, whatever the flow did next."""
    mine = sorted(ctx.dispatch.assigned)

    def ended(kind: Any, **fields: Any) -> RunOutcome:
        return RunOutcome(run=ctx.run, outcome=kind, checkpoints_run=ctx.checkpoints_run,
                          checkpoints_reused=ctx.checkpoints_reused, **fields)

    if ctx.failed_checkpoint in ctx.dispatch.assigned and run_outcome.error is not None:
        return ended("failed", error=run_outcome.error)
    if ctx.dispatch.retry is not None:  # its body failed with retries left: a new pod
        return ended("dispatch", dispatch=ctx.dispatch.suspend().request)
    if run_outcome.outcome == "cancelled":
        return ended("cancelled")
    missing = [c for c in mine if c not in ctx.records]
    if not missing:
        return ended("succeeded", last_checkpoints=mine)
    return ended("failed", error=run_outcome.error or ErrorInfo(
        type="BranchNotReached", origin="divergence",
        message=f"the branch pod for {', '.join(missing)} ended ({run_outcome.outcome}) "
        "without reaching it; the flow's calls no longer line up with the run that "
        "dispatched it"))


def _note_unreached(ctx: RunContext) -> None:
    """Say so when a run finished without calling checkpoints an earlier run recorded.

    Flow code need not be deterministic: a run may take another branch than the run it
    resumes (an answer, the clock, a file changed). That is allowed, not an error: the
    unreached results stay on record and are simply not part of this run's path. It is
    logged on the execution, where it explains a result that differs from a first run's.
    """
    unreached = sorted((r for r in ctx.records.values() if r.id not in ctx.used_ids),
                       key=lambda r: r.seq)
    if unreached:
        names = ", ".join(f"{r.id} (run {r.run})" for r in unreached[:10])
        more = f" and {len(unreached) - 10} more" if len(unreached) > 10 else ""
        ctx.log_event(f"run {ctx.run} finished without calling {len(unreached)} recorded "
                      f"checkpoint(s): {names}{more}; the flow took another path than the "
                      "run that recorded them")
        ctx.metadata.setdefault("kitaru.unreached_checkpoints", [r.id for r in unreached])


def _load_inputs(ctx: RunContext) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for name, ref in ctx.spec.inputs.items():
        value = decode(ref.serializer, ref.type, read_value_bytes(ctx.journal.store, ref))
        inputs[name] = value
        ctx.lineage.produced(f"input:{name}", value, digest=content_digest(value))
    return inputs


def _error(exc: BaseException, origin: str) -> ErrorInfo:
    return ErrorInfo(type=type(exc).__name__, message=str(exc), origin=origin,
                     traceback="".join(traceback.format_exception(exc)))
