"""The operator's metrics: gauges computed from the Executions seen, bounded labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from kitaru_operator.metrics import ExecutionCollector, pod_failure_reason


def scrape(executions: list[dict[str, Any]]) -> str:
    registry = CollectorRegistry()
    registry.register(ExecutionCollector(lambda: executions))
    return generate_latest(registry).decode()


def test_executions_are_counted_by_phase_and_the_oldest_wait_is_aged() -> None:
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    executions = [
        {"metadata": {"name": "a"}, "status": {"phase": "Running"}},
        {"metadata": {"name": "b"}, "status": {"phase": "Waiting", "pendingWait": {
            "name": "approve", "since": an_hour_ago}}},
        {"metadata": {"name": "c"}, "status": {"phase": "Waiting", "pendingWait": {
            "name": "approve", "since": datetime.now(UTC).isoformat()}}},
        {"metadata": {"name": "d"}},  # not reconciled yet
    ]
    text = scrape(executions)
    assert 'kitaru_executions{phase="Running"} 1.0' in text
    assert 'kitaru_executions{phase="Waiting"} 2.0' in text
    assert 'kitaru_executions{phase="Pending"} 1.0' in text
    assert 'kitaru_executions{phase="Failed"} 0.0' in text
    assert "kitaru_waits_pending 2.0" in text
    age = float(next(line.split()[1] for line in text.splitlines()
                     if line.startswith("kitaru_oldest_wait_age_seconds ")))
    assert 3590 < age < 3700
    assert '"a"' not in text and "approve" not in text  # no names in labels


def test_nothing_waiting_ages_nothing() -> None:
    assert "kitaru_oldest_wait_age_seconds 0.0" in scrape([])


def test_pod_failure_reasons_stay_a_small_set() -> None:
    assert pod_failure_reason("user_code", "Error (exit code 1)") == "user_code"
    assert pod_failure_reason(None, "OOMKilled (exit code 137)") == "OOMKilled"
    assert pod_failure_reason(None, "Evicted: the node ran out of memory") == "Evicted"
    assert pod_failure_reason(None, "DeadlineExceeded: the run exceeded it") == (
        "DeadlineExceeded")
    assert pod_failure_reason(None, "something nobody foresaw on node-7") == "lost"
