"""Container processes and their records in the state directory.

One directory per container run by the kubelet:

    pid           "PID START_TICKS" of the wrapper (which leads its process group)
    started       when the kubelet started it (RFC 3339)
    exit          "EXIT_CODE FINISHED_AT", written by the wrapper when it ends
    last          the previous run's "EXIT_CODE STARTED_AT FINISHED_AT" after a restart
    restarts      how many times it was restarted
    termination   the file bound over its terminationMessagePath
    log           its stdout and stderr
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

WRAPPER = Path(__file__).with_name("wrapper.py")
# Found once, on the kubelet's PATH: a pod's env may set a PATH without it.
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
# Kubernetes caps a termination message at 4096 bytes.
MESSAGE_LIMIT = 4096


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks, which tells a reused PID apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # A zombie has ended; only its parent's wait is missing.
    return None if fields[0] == "Z" else fields[19]


@dataclass(frozen=True)
class Exit:
    code: int
    finished_at: str


@dataclass(frozen=True)
class ContainerRecord:
    """What the state directory knows about one container."""

    path: Path

    def _read(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text().strip()
        except FileNotFoundError:
            return None

    @property
    def started_at(self) -> str | None:
        return self._read("started")

    @property
    def restarts(self) -> int:
        return int(self._read("restarts") or 0)

    @property
    def log(self) -> Path:
        return self.path / "log"

    def pid(self) -> int | None:
        """The wrapper's PID while it runs, else None."""
        text = self._read("pid")
        if not text:
            return None
        pid, start = text.split()
        return int(pid) if process_start(int(pid)) == start else None

    def exit(self) -> Exit | None:
        """How it ended, or None while it runs or before it starts.

        A wrapper killed outright (SIGKILL after the grace period) cannot write its
        exit code; report what a runtime reports for a killed container.
        """
        text = self._read("exit")
        if text:
            code, finished = text.split()
            return Exit(int(code), finished)
        if self.started_at is None or self.pid() is not None:
            return None
        self._write("exit", f"{128 + signal.SIGKILL} {now()}")
        return self.exit()

    def last(self) -> tuple[int, str, str] | None:
        text = self._read("last")
        if not text:
            return None
        code, started, finished = text.split()
        return int(code), started, finished

    def message(self) -> str:
        try:
            data = (self.path / "termination").read_bytes()[:MESSAGE_LIMIT]
        except FileNotFoundError:
            return ""
        return data.decode(errors="replace")

    def log_tail(self, lines: int = 80, limit: int = 2048) -> str:
        """The end of the log, as FallbackToLogsOnError reports it."""
        try:
            data = self.log.read_bytes()[-limit:]
        except FileNotFoundError:
            return ""
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])

    def _write(self, name: str, text: str) -> None:
        tmp = self.path / f".{name}.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(self.path / name)

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        python: str,
        termination_path: str,
        binds: Sequence[tuple[Path, str]] = (),
    ) -> subprocess.Popen[bytes]:
        """Start the container under its wrapper, in a private mount namespace.

        The caller polls the returned process only to reap it: the wrapper records
        the exit code itself, so a restarted kubelet reads it from the record.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "termination").write_bytes(b"")
        cwd.mkdir(parents=True, exist_ok=True)
        command = [
            UNSHARE, "--mount", "--propagation", "private",
            python, str(WRAPPER), "--exit-file", str(self.path / "exit"),
            "--bind", f"{self.path / 'termination'}:{termination_path}",
        ]  # fmt: skip
        for src, dst in binds:
            command += ["--bind", f"{src}:{dst}"]
        command += ["--", *argv]
        self._write("started", now())
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                command,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._write("pid", f"{process.pid} {process_start(process.pid)}")
        return process

    def restart_after(self, ended: Exit) -> None:
        """Keep the run that ended as lastState and clear the way for the next one."""
        self._write("last", f"{ended.code} {self.started_at} {ended.finished_at}")
        self._write("restarts", str(self.restarts + 1))
        for name in ("exit", "pid", "started"):
            (self.path / name).unlink(missing_ok=True)

    def signal(self, signum: int) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signum)
