"""Operator settings, from flags and environment variables (flags win)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Settings:
    """What the operator was started with.

    Attributes:
        namespaces: Namespaces to watch; empty means all (cluster-wide).
        default_store: Store URI for FlowVersions without ``spec.store``.
        log_level: DEBUG, INFO, WARNING or ERROR.
        resync_seconds: How often unfinished Executions are reconciled without an event.
        workers: Threads running reconciles.
        metrics_port: Port of the Prometheus endpoint (0 turns it off).
        clock: The time source decisions use (tests inject one).
    """

    namespaces: list[str] = field(default_factory=list)
    default_store: str | None = None
    log_level: str = "INFO"
    resync_seconds: float = 10.0
    workers: int = 8
    metrics_port: int = 0
    clock: Callable[[], datetime] = _now

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``KITARU_OPERATOR_*`` variables."""
        spaces = os.environ.get("KITARU_OPERATOR_NAMESPACES", "")
        return cls(
            namespaces=[n.strip() for n in spaces.split(",") if n.strip()],
            default_store=os.environ.get("KITARU_OPERATOR_DEFAULT_STORE") or None,
            log_level=os.environ.get("KITARU_OPERATOR_LOG_LEVEL", "INFO").upper(),
            resync_seconds=float(os.environ.get("KITARU_OPERATOR_RESYNC_SECONDS", "10")),
            metrics_port=int(os.environ.get("KITARU_OPERATOR_METRICS_PORT", "0")),
        )


#: The settings of this process; ``__main__`` fills it from flags before kopf starts.
SETTINGS = Settings.from_env()
