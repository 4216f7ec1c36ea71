"""Starting a run of an existing execution in a new process.

Answering a wait, retrying a failed execution and resuming one all end here: the caller
claims the next run number for a new process and returns at once. The claim names the
new process's pid, so status readers can tell a live run from a dead one, and a second
launcher racing for the same run number loses cleanly.

The new process is made one of two ways (``KITARU_LAUNCH``: ``auto``, the default,
``fork`` or ``spawn``):

- **fork** (``auto`` on Linux when this process has one thread, as a CLI command does):
  the process forks, so the run starts with Kitaru already imported and pays no
  interpreter start. The run process is a grandchild in a session of its own (nothing
  is left for this process to reap), its standard streams go to ``/dev/null`` as a
  spawned run's do, and it waits on a pipe until its run is claimed for it: it starts
  the moment the claim is written, or exits when the launcher loses the claim or dies.
  It ends as an interpreter does: its non-daemon threads are waited for and its own
  exit functions run (the launcher's are dropped at the fork).
- **spawn** (elsewhere: macOS and Windows, where forking without exec is unsafe, and a
  process with threads, such as the dashboard's server): a fresh ``python -m
  kitaru.runtime``, which polls for its claim.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

from kitaru.claims import claim_run, next_run_number
from kitaru.errors import KitaruStateError, KitaruUsageError
from kitaru.journal import ExecutionStore

if TYPE_CHECKING:
    import subprocess

__all__ = ["check_setting", "launch_run"]

_MODES = ("auto", "fork", "spawn")


def check_setting() -> None:
    """Raise :class:`KitaruUsageError` when ``KITARU_LAUNCH`` is set to no known way."""
    _mode()


def _mode() -> str:
    mode = os.environ.get("KITARU_LAUNCH", "auto") or "auto"
    if mode not in _MODES:
        raise KitaruUsageError(f"KITARU_LAUNCH must be one of {', '.join(_MODES)}, "
                               f"got {mode!r}")
    if mode == "auto":
        return "fork" if sys.platform == "linux" and _one_thread() else "spawn"
    if mode == "fork" and not hasattr(os, "fork"):
        raise KitaruUsageError(f"KITARU_LAUNCH=fork: this platform ({sys.platform}) cannot "
                               "fork; use spawn")
    return mode


def _one_thread() -> bool:
    """Whether this process runs a single thread, counting threads Python did not start."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def launch_run(journal: ExecutionStore, *, reason: str) -> int:
    """Start the next run of the execution in a detached process; return its number.

    Raises:
        KitaruStateError: Another process claimed the same run number first.
    """
    spec = journal.spec()
    run = next_run_number(journal)
    cwd = spec.cwd if spec.cwd and os.path.isdir(spec.cwd) else None
    if _mode() == "fork":
        pid, go = _fork_run(journal.store.uri, journal.exec_id, run, cwd, spec.source_dir)
        claimed = claim_run(journal, run, reason=reason, pid=pid)
        try:
            if claimed:
                os.write(go, b"1")
        finally:
            os.close(go)  # unclaimed, the run process reads nothing and exits
    else:
        process = _spawn_run(journal.store.uri, journal.exec_id, run, cwd, spec.source_dir)
        claimed = claim_run(journal, run, reason=reason, pid=process.pid)
        if not claimed:
            process.kill()
            process.wait()
    if not claimed:
        raise KitaruStateError(
            f"execution {journal.exec_id}: another process started run {run} first"
        )
    return run


def _spawn_run(store: str, exec_id: str, run: int, cwd: str | None,
               source_dir: str | None) -> subprocess.Popen[bytes]:
    import subprocess  # here: a forked run needs none of it

    env = dict(os.environ)
    if source_dir:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (source_dir, env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "kitaru.runtime", "--store", store,
               "--execution", exec_id, "--run", str(run)]
    return subprocess.Popen(
        command, cwd=cwd, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def _fork_run(store: str, exec_id: str, run: int, cwd: str | None,
              source_dir: str | None) -> tuple[int, int]:
    """Fork the run process; return its pid and the pipe end that tells it to go."""
    go_read, go_write = os.pipe()
    pid_read, pid_write = os.pipe()
    _flush_streams()  # or the child would write this process's buffered output again
    child = os.fork()
    if child == 0:  # the middle process: a new session, then the run process, then out
        try:
            os.close(go_write)
            os.close(pid_read)
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                os.write(pid_write, str(grandchild).encode())
            else:
                os.close(pid_write)
                _run_forked(store, exec_id, run, cwd, source_dir, go=go_read)
        finally:
            os._exit(0)
    os.close(go_read)
    os.close(pid_write)
    os.waitpid(child, 0)
    with os.fdopen(pid_read, "rb") as answer:
        text = answer.read()
    if not text:
        os.close(go_write)
        raise KitaruStateError(f"execution {exec_id}: the process for run {run} could "
                               "not be started")
    return int(text), go_write


def _run_forked(store: str, exec_id: str, run: int, cwd: str | None,
                source_dir: str | None, *, go: int) -> None:
    """The run process: as ``python -m kitaru.runtime`` in ``cwd`` would be, and it ends
    as that interpreter would (see :func:`_exit_as_python_does`)."""
    code = 1
    try:
        # The launcher's exit functions are the launcher's to run; the run's own (a
        # tracing exporter's flush, say) are registered from here on.
        if hasattr(atexit, "_clear"):
            atexit._clear()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        if source_dir:
            os.environ["PYTHONPATH"] = os.pathsep.join(
                p for p in (source_dir, os.environ.get("PYTHONPATH", "")) if p)
            sys.path.insert(0, source_dir)
        if cwd:
            os.chdir(cwd)
        sys.path.insert(0, os.getcwd())  # as `python -m` puts its working directory first
        # Signals as a fresh interpreter has them, not as the launcher set them.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        from kitaru import runtime

        # What `python -m kitaru.runtime --store ...` would have in sys.argv.
        sys.argv = [str(runtime.__file__), "--store", store, "--execution", exec_id,
                    "--run", str(run)]
        code = runtime.run_when_claimed(store, exec_id, run, lambda: os.read(go, 1) == b"1")
    except BaseException:
        code = 1
    finally:
        _exit_as_python_does(code)


def _exit_as_python_does(code: int) -> NoReturn:
    """End the process as an interpreter ends: wait for its non-daemon threads (an
    executor's workers are told to stop first), run its exit functions, flush its
    streams; then exit without returning into the launcher's code."""
    try:
        threading = sys.modules.get("threading")
        if threading is not None and hasattr(threading, "_shutdown"):
            threading._shutdown()
        if hasattr(atexit, "_run_exitfuncs"):
            atexit._run_exitfuncs()
        _flush_streams()
    finally:
        os._exit(code)


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, a closed file
            stream.flush()
