"""Keeping stdout for results: moving a flow's prints aside, and a reader that left."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send what is written to stdout to stderr instead, by Python code or child processes."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)


def silence_stdout() -> None:
    """Point stdout at the null device once its reader has gone.

    Without it the interpreter's last flush at exit meets the closed pipe again and
    prints ``Exception ignored ... BrokenPipeError``.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
