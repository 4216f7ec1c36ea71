"""``python -m kitaru.runtime``: run one run of an execution in this process.

Two ways in:

- Local launches (answering a wait, retry, resume) pass ``--store``, ``--execution`` and
  ``--run``; the run number was claimed for this process by its launcher.
- A run pod on Kubernetes gets its run context from the environment the operator set,
  :class:`~kitaru.runenv.RunEnv` (``KITARU_STORE``, ``KITARU_EXECUTION_ID``,
  ``KITARU_RUN``, ``KITARU_ENTRYPOINT``, ``KITARU_INPUT``, ``KITARU_INPUTS`` for the
  answers, and optionally ``KITARU_FLOW``, ``KITARU_VERSION`` and ``KITARU_REPLAY``). The
  pod creates the execution's spec if it is the first run, records the answers, claims
  the run and runs it.

The outcome goes to the store and, as a :class:`~kitaru.report.RunReport` (a pointer,
never a payload), to the container termination message at ``KITARU_TERMINATION_LOG``
(default ``/dev/termination-log`` when it exists). The exit code is 0 whenever an outcome
was recorded, even a failure in the flow's code; a non-zero exit means the run itself
broke: 2 when it could not start, 3 when the store stayed unreachable.

Store faults that pass are retried for ``KITARU_STORE_RETRY_SECONDS`` (default 120) of
backoff before the run gives up on the store. A run that gives up records nothing final:
its report says origin ``infrastructure``, and the operator starts a new run (reusing
every committed checkpoint) once it can read the store itself. This process never calls
the Kubernetes API.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kitaru.claims import claim_run
from kitaru.errors import (
    KitaruError,
    KitaruUsageError,
    StorePermissionError,
    StoreUnavailableError,
)
from kitaru.flow import Flow, load_flow
from kitaru.journal import ExecutionStore, store_value
from kitaru.records import Answer, ErrorInfo, ExecutionSpec, RunOutcome
from kitaru.replay import start_replay
from kitaru.report import RunReport
from kitaru.runenv import RunEnv
from kitaru.runner import execute_run
from kitaru.serialization import encode
from kitaru.status import this_host
from kitaru.stores import open_store
from kitaru.stores.retry import run_policy

TERMINATION_LOG = "/dev/termination-log"
#: The exit code of a run that stopped because the store stayed unreachable.
EXIT_STORE_UNAVAILABLE = 3
#: The exit code of a branch pod whose checkpoint did not commit.
EXIT_BRANCH_FAILED = 1
_CLAIM_WAIT_SECONDS = 10.0


def _wait_for_claim(journal: ExecutionStore, run: int) -> bool:
    """Wait until the launcher has claimed ``run`` for this process."""
    deadline = time.monotonic() + _CLAIM_WAIT_SECONDS
    while time.monotonic() < deadline:
        start = journal.run_start(run)
        if start is not None:
            return start.pid == os.getpid() and start.host == this_host()
        time.sleep(0.02)
    return False


def _prepare_from_env(journal: ExecutionStore, env: RunEnv) -> None:
    """Create the spec and record the answers a run pod was given through its env."""
    replay = env.replay
    if replay is not None and not journal.exists():
        source = ExecutionStore(journal.store, replay.source)
        start_replay(source, at=replay.at, overrides=replay.overrides, skip=replay.skip,
                     exec_id=journal.exec_id, flow_fn=load_flow(env.entrypoint, None).fn)
    if not journal.exists():
        flow = load_flow(env.entrypoint, None)
        inputs = {
            name: store_value(journal.store, encode(value, allow_pickle=False,
                                                    where=f"input {name!r}"))
            for name, value in env.input.items()
        }
        journal.create(ExecutionSpec(
            exec_id=journal.exec_id, flow=env.flow or flow.name,
            entrypoint=env.entrypoint, inputs=inputs, version=env.version,
        ))
    for wait, value in env.answers.items():
        journal.answer(Answer(wait=wait, value=value))
    run = env.run
    if env.branch:
        return  # a branch pod runs under the run that dispatched it: nothing to claim
    if not claim_run(journal, run, reason="pod"):
        raise KitaruError(f"execution {journal.exec_id}: run {run} was already started by "
                          "another process; refusing to run it twice")


def _write_termination_message(text: str) -> None:
    path = os.environ.get("KITARU_TERMINATION_LOG")
    if path is None and Path(TERMINATION_LOG).exists():
        path = TERMINATION_LOG
    if path:
        try:
            Path(path).write_text(text)
        except OSError as exc:
            print(f"kitaru: cannot write the termination message to {path}: {exc}",
                  file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one run of an execution; see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    exec_id, run = os.environ.get("KITARU_EXECUTION_ID"), os.environ.get("KITARU_RUN", "")
    if not argv and exec_id and run.isdigit() and int(run) >= 1:
        # A run pod: all it is told is in its environment (argparse is not imported).
        return run_when_claimed(os.environ.get("KITARU_STORE"), exec_id, int(run), None)
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kitaru.runtime")
    parser.add_argument("--store", default=os.environ.get("KITARU_STORE"))
    parser.add_argument("--execution", default=os.environ.get("KITARU_EXECUTION_ID"))
    parser.add_argument("--run", type=int, default=int(os.environ.get("KITARU_RUN", "0")))
    args = parser.parse_args(argv)
    if not args.execution or args.run < 1:
        parser.error("needs --execution and --run (or KITARU_EXECUTION_ID and KITARU_RUN)")
    return run_when_claimed(args.store, args.execution, args.run, None)


def run_when_claimed(store_uri: str | None, exec_id: str, run: int,
                     claimed: Callable[[], bool] | None) -> int:
    """Run ``run`` once ``claimed()`` says its launcher claimed it for this process (by
    default: once the claim naming this process is in the store); return the exit code.
    A forked run (``kitaru.launch``) comes in here."""
    try:
        return _run(store_uri, exec_id, run, claimed)
    except _PASSING as exc:
        # Not the flow's fault and not final: the run ends like a lost pod, and its report
        # says why, so the operator starts a new run once the store answers again (or once
        # refused credentials are fixed in their Secret: a rotated key is not final).
        print(f"kitaru: run {run} of {exec_id} stopped: {exc}", file=sys.stderr)
        _write_termination_message(
            RunReport.failure(run, exc, origin="infrastructure").message())
        return EXIT_STORE_UNAVAILABLE


#: Store faults that end a run without a verdict on the execution.
_PASSING = (StoreUnavailableError, StorePermissionError)


def _run(store_uri: str | None, exec_id: str, run: int,
         claimed: Callable[[], bool] | None) -> int:
    try:
        try:
            retry = run_policy()
        except ValueError as exc:
            raise KitaruUsageError(str(exc)) from None
        journal = ExecutionStore(open_store(store_uri, retry=retry), exec_id)
        env = RunEnv.from_environ(os.environ)
        if env is not None:
            _prepare_from_env(journal, env)
        elif not (claimed() if claimed is not None else _wait_for_claim(journal, run)):
            return 0  # another launcher won this run number; nothing to do
    except _PASSING:
        raise
    except KitaruError as exc:
        print(f"kitaru: run {run} of {exec_id} could not start: {exc}", file=sys.stderr)
        _write_termination_message(RunReport.failure(run, exc, origin="runtime").message())
        return 2
    try:
        spec = journal.spec()
        if spec.cwd and os.path.isdir(spec.cwd):
            os.chdir(spec.cwd)
        flow: Flow[..., Any] = load_flow(spec.entrypoint, spec.source_dir)
    except _PASSING:
        raise
    except KitaruError as exc:
        # The run is claimed, so record why it could not run rather than leave it open.
        outcome = journal.finish_run(RunOutcome(run=run, outcome="failed", error=ErrorInfo(
            type=type(exc).__name__, message=str(exc), origin="runtime")))
    else:
        outcome = execute_run(journal, run, flow.fn, allow_pickle=flow.pickle,
                              cache_default=flow.cache, max_concurrency=flow.max_concurrency,
                              dispatch=env.dispatch_state() if env else None)
    report = RunReport.of(outcome)
    if env is not None and env.branch:
        # A branch records no outcome of its own: its pod's exit code and report are how
        # the operator tells a committed branch from a failed one.
        report = report.model_copy(update={"branch": sorted(env.checkpoints),
                                           "recorded": False})
        _write_termination_message(report.message())
        print(f"kitaru: branch {', '.join(env.checkpoints)} of run {outcome.run} of "
              f"{exec_id} ended: {outcome.outcome}")
        return 0 if outcome.outcome == "succeeded" else EXIT_BRANCH_FAILED
    _write_termination_message(report.message())
    print(f"kitaru: run {outcome.run} of {exec_id} ended: {outcome.outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
