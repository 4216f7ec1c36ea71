"""The statuses an execution can be in (derived from the store in :mod:`kitaru.status`;
named here, lightly, for the command line's choices)."""

from __future__ import annotations

from typing import Literal

Status = Literal["running", "waiting", "completed", "failed", "cancelled"]
STATUSES: tuple[str, ...] = ("running", "waiting", "completed", "failed", "cancelled")
