"""Kitaru: durable Python AI agents.

Write a ``@flow`` that calls ``@checkpoint`` functions and ``kitaru.wait()``; Kitaru stores
every checkpoint's result so a crash, a retry or a replay never re-runs (or re-pays for)
finished work, and a wait holds no process while it waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitaru.artifacts import load, log, save
from kitaru.checkpoint import Checkpoint, CheckpointFuture, checkpoint
from kitaru.errors import (
    KitaruContextError,
    KitaruDivergenceError,
    KitaruError,
    KitaruExecutionError,
    KitaruSerializationError,
    KitaruStateError,
    KitaruTimeoutError,
    KitaruUsageError,
    KitaruWaitValidationError,
)
from kitaru.flow import Flow, flow
from kitaru.llm import llm
from kitaru.serialization import register_serializer
from kitaru.timers import sleep
from kitaru.waits import wait

if TYPE_CHECKING:
    from kitaru.client import KitaruClient
    from kitaru.context import current_execution_id, is_replay
    from kitaru.handle import FlowHandle

__version__ = "0.1.0"

# Names whose modules load the engine (the journal, the records): imported on first
# use, so `import kitaru` and a flow module's decorators stay light.
_LATER = {"KitaruClient": "kitaru.client", "FlowHandle": "kitaru.handle",
          "current_execution_id": "kitaru.context", "is_replay": "kitaru.context"}


def __getattr__(name: str) -> Any:
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module 'kitaru' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LATER})

__all__ = [
    "Checkpoint",
    "CheckpointFuture",
    "Flow",
    "FlowHandle",
    "KitaruClient",
    "KitaruContextError",
    "KitaruDivergenceError",
    "KitaruError",
    "KitaruExecutionError",
    "KitaruSerializationError",
    "KitaruStateError",
    "KitaruTimeoutError",
    "KitaruUsageError",
    "KitaruWaitValidationError",
    "checkpoint",
    "current_execution_id",
    "flow",
    "is_replay",
    "llm",
    "load",
    "log",
    "register_serializer",
    "save",
    "sleep",
    "wait",
]
