"""Kitaru's messages to Python's ``logging`` (loggers ``kitaru`` and ``kitaru.*``).

They are debug and info messages, which ``logging`` shows only once the process has
configured it, and configuring it means importing it. So a message is passed on only
when ``logging`` is loaded: a run pod or a CLI command that never uses ``logging`` does
not pay for importing it (and its threading and traceback).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["debug", "info"]


def _emit(level: str, name: str, message: str, args: tuple[Any, ...]) -> None:
    logging = sys.modules.get("logging")
    if logging is not None:
        getattr(logging.getLogger(name), level)(message, *args)


def debug(name: str, message: str, *args: Any) -> None:
    """``logging.getLogger(name).debug(message, *args)``, if the process uses logging."""
    _emit("debug", name, message, args)


def info(name: str, message: str, *args: Any) -> None:
    """``logging.getLogger(name).info(message, *args)``, if the process uses logging."""
    _emit("info", name, message, args)
