"""Waiting for a run started in another process to stop."""

from __future__ import annotations

import time

from kitaru import KitaruClient
from kitaru.status import ExecutionInfo


def settled(client: KitaruClient, exec_id: str, timeout: float = 60) -> ExecutionInfo:
    """The execution once its run has stopped (waiting, completed or failed)."""
    deadline = time.monotonic() + timeout
    while (info := client.executions.get(exec_id)).status == "running":
        assert time.monotonic() < deadline, f"{exec_id} kept running"
        time.sleep(0.1)
    return info
