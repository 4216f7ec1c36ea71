"""Runs one container process inside its private mount namespace.

Started by the kubelet as `unshare --mount --propagation private python wrapper.py
--exit-file FILE [--bind SRC:DST ...] -- ARGV...`. It binds each SRC over DST
(visible only in this namespace), runs ARGV, and writes "EXIT_CODE FINISHED_AT" to
FILE when ARGV ends, so a kubelet that restarted meanwhile can still report it.

Deliberately standalone (standard library only, no package imports): it runs with
the container's environment, not the kubelet's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

# Not looked up on the container's PATH, which the pod may have replaced.
MOUNT = shutil.which("mount", path="/usr/bin:/bin:/usr/sbin:/sbin") or "mount"


def _parse(argv: list[str]) -> tuple[Path, list[tuple[str, str]], list[str]]:
    exit_file: Path | None = None
    binds: list[tuple[str, str]] = []
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--exit-file":
            exit_file = Path(argv[i + 1])
        elif argv[i] == "--bind":
            src, _, dst = argv[i + 1].partition(":")
            binds.append((src, dst))
        else:
            raise SystemExit(f"wrapper: unknown option {argv[i]!r}")
        i += 2
    if exit_file is None or i + 1 >= len(argv):
        raise SystemExit("wrapper: usage: --exit-file FILE [--bind SRC:DST] -- ARGV...")
    return exit_file, binds, argv[i + 1 :]


def _write_exit(exit_file: Path, code: int) -> None:
    finished = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    tmp = exit_file.with_suffix(".tmp")
    tmp.write_text(f"{code} {finished}\n")
    tmp.replace(exit_file)


def _mount_point(src: str, dst: str) -> None:
    """Create DST like SRC (file or directory) so there is something to mount over."""
    target = Path(dst)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(src).is_dir():
        target.mkdir()
    else:
        target.touch()


def main() -> int:
    exit_file, binds, argv = _parse(sys.argv[1:])
    try:
        for src, dst in binds:
            _mount_point(src, dst)
            subprocess.run([MOUNT, "--bind", src, dst], check=True)

        # The kubelet signals the whole process group, so the container already has
        # the signal; the wrapper only has to stay alive to record the exit code.
        # A Python handler (unlike SIG_IGN) is reset to the default by exec.
        def _note(signum: int, frame: FrameType | None) -> None:
            del signum, frame

        signal.signal(signal.SIGTERM, _note)
        signal.signal(signal.SIGINT, _note)
        child = subprocess.Popen(argv)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"wrapper: cannot start {argv[0]!r}: {error}", file=sys.stderr, flush=True)
        _write_exit(exit_file, 128)
        return 128
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:
            continue
    code = code if code >= 0 else 128 - code
    _write_exit(exit_file, code)
    return code


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
