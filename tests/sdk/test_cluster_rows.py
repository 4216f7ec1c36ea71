"""An Execution resource as the cluster commands and the dashboard list it."""

from __future__ import annotations

from typing import Any

from kitaru.cluster.executions import summary
from kitaru.planes import ExecutionRow
from kitaru.ui.views import _matches


def _execution(name: str, **status: Any) -> dict[str, Any]:
    """An Execution as the API server returns it, its status as the operator writes it."""
    return {"metadata": {"name": name, "creationTimestamp": "2026-12-02T00:00:00Z"},
            "status": {"phase": "Waiting", "flow": "nap", "version": 1, **status}}


def test_a_sleeping_execution_is_not_waiting_on_an_answer() -> None:
    asleep = summary(_execution("nap-1", waitingOn="sleep", pendingWait={
        "name": "sleep", "kind": "timer", "deadline": "2026-12-02T01:00:00Z"}))
    asking = summary(_execution("ask-1", waitingOn="approve",
                                pendingWait={"name": "approve", "kind": "input"}))
    older = summary(_execution("old-1", waitingOn="approve"))  # no pendingWait written
    running = summary(_execution("run-1", phase="Running"))
    assert [e.wait_kind for e in (asleep, asking, older, running)] == [
        "timer", "input", "input", None]

    rows = [ExecutionRow(exec_id=e.name, flow=e.flow or "", status="waiting",
                         waiting_on=e.waiting_on, wait_kind=e.wait_kind,
                         created_at=e.created_at) for e in (asleep, asking, older)]
    assert [r.exec_id for r in rows if _matches(r, None, None, waiting=True)] == [
        "ask-1", "old-1"]
