"""Kitaru: durable Python AI agents.

Write a ``@flow`` that calls ``@checkpoint`` functions and ``kitaru.wait()``; Kitaru stores
every checkpoint's result so a crash, a retry or a replay never re-runs (or re-pays for)
finished work, and a wait holds no process while it waits.
"""

from kitaru.artifacts import load, log, save
from kitaru.checkpoint import Checkpoint, CheckpointFuture, checkpoint
from kitaru.client import KitaruClient
from kitaru.context import current_execution_id, is_replay
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
from kitaru.handle import FlowHandle
from kitaru.llm import llm
from kitaru.serialization import register_serializer
from kitaru.timers import sleep
from kitaru.waits import wait

__version__ = "0.1.0"

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
