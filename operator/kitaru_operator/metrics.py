"""Prometheus metrics of the operator (served only when a metrics port is set).

The golden signals, with bounded labels only: no execution, flow or wait names (a
label per execution would grow without end). Each metric is described in the README.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

RECONCILES = Counter("kitaru_reconciles_total", "Execution reconciles run.")
RECONCILE_ERRORS = Counter("kitaru_reconcile_errors_total",
                           "Reconciles that failed and will be retried.")
CONFLICTS = Counter("kitaru_reconcile_conflicts_total",
                    "Status writes refused because the Execution had changed; redone.")
RECONCILE_SECONDS = Histogram("kitaru_reconcile_duration_seconds",
                              "Time one reconcile of an Execution took.", buckets=_SECONDS)
EXECUTIONS_STARTED = Counter("kitaru_executions_started_total",
                             "Executions whose first run was started.")
EXECUTIONS_FINISHED = Counter("kitaru_executions_finished_total",
                              "Executions that reached a final phase, by outcome "
                              "(succeeded, failed, cancelled).", ["outcome"])
PODS_CREATED = Counter("kitaru_pods_created_total",
                       "Run and checkpoint Jobs (one pod each) created, by kind.", ["kind"])
PODS_FAILED = Counter("kitaru_pods_failed_total",
                      "Run and checkpoint pods that failed, by kind and reason (user_code, "
                      "runtime, divergence, infrastructure, OOMKilled, Evicted, "
                      "DeadlineExceeded, Error, lost).", ["kind", "reason"])
ANSWER_TO_POD_SECONDS = Histogram(
    "kitaru_answer_to_pod_seconds",
    "Time from the operator seeing an answer to a wait to the next run's Job created.",
    buckets=_SECONDS)
API_SECONDS = Histogram("kitaru_api_request_duration_seconds",
                        "Kubernetes API requests made by the operator's reconciles, by "
                        "HTTP verb.", ["verb"], buckets=_SECONDS)
API_ERRORS = Counter("kitaru_api_request_errors_total",
                     "Kubernetes API requests that failed, by verb and status code "
                     "(0: no answer).", ["verb", "code"])
STORE_SECONDS = Histogram("kitaru_store_operation_duration_seconds",
                          "Reads of run records from the store, by backend (s3, gs, az, "
                          "file).", ["backend"], buckets=_SECONDS)
STORE_ERRORS = Counter("kitaru_store_errors_total",
                       "Store reads that failed, by backend and kind (unavailable, "
                       "refused).", ["backend", "kind"])
LEADER = Gauge("kitaru_leader", "1 while this replica acts (holds the Lease, or runs "
               "without leader election); 0 while it stands by.")
QUEUE_DEPTH = Gauge("kitaru_work_queue_depth",
                    "Executions being reconciled or with a pass queued behind one.")

_POD_REASONS = ("OOMKilled", "Evicted", "DeadlineExceeded", "Error")
_seen_lock = threading.Lock()
_answer_seen: dict[tuple[str, str], tuple[int, float]] = {}


def pod_failure_reason(origin: str | None, reason: str) -> str:
    """A bounded label for why a pod failed: the run's error origin when it reported
    one, else the first word of the kubelet's reason."""
    if origin:
        return origin
    word = reason.split(":", maxsplit=1)[0].split(" ", maxsplit=1)[0]
    return word if word in _POD_REASONS else "lost"


def saw_generation(namespace: str, name: str, generation: int) -> None:
    """Note when a new spec of an Execution (an answer, say) was first seen."""
    with _seen_lock:
        known = _answer_seen.get((namespace, name))
        if known is None or known[0] != generation:
            _answer_seen[(namespace, name)] = (generation, time.monotonic())


def seconds_since_seen(namespace: str, name: str) -> float | None:
    """Seconds since the Execution's current spec was first seen, if it was."""
    with _seen_lock:
        known = _answer_seen.get((namespace, name))
    return time.monotonic() - known[1] if known else None


def forget(namespace: str, name: str) -> None:
    """Drop what is kept of a deleted Execution."""
    with _seen_lock:
        _answer_seen.pop((namespace, name), None)


class ExecutionCollector(Collector):
    """Gauges computed at scrape time from the Executions this replica has seen."""

    def __init__(self, executions: Callable[[], list[dict[str, Any]]]) -> None:
        self.executions = executions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        phases: Tally[str] = Tally()
        oldest: datetime | None = None
        waits = 0
        for obj in self.executions():
            status = obj.get("status") or {}
            phases[status.get("phase") or "Pending"] += 1
            wait = status.get("pendingWait")
            if status.get("phase") == "Waiting" and wait:
                waits += 1
                since = _parse(wait.get("since"))
                if since is not None and (oldest is None or since < oldest):
                    oldest = since
        family = GaugeMetricFamily("kitaru_executions", "Executions by phase.",
                                   labels=["phase"])
        for phase in ("Pending", "Running", "Waiting", "Succeeded", "Failed", "Cancelled"):
            family.add_metric([phase], phases.get(phase, 0))
        yield family
        yield GaugeMetricFamily("kitaru_waits_pending",
                                "Executions waiting for an answer.", value=waits)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("kitaru_oldest_wait_age_seconds",
                                "How long the longest-waiting execution has waited (0: "
                                "none waits).", value=max(age, 0.0))


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def start(port: int, executions: Callable[[], list[dict[str, Any]]],
          queue_depth: Callable[[], float]) -> None:
    """Serve /metrics on ``port`` (0 turns it off)."""
    REGISTRY.register(ExecutionCollector(executions))
    QUEUE_DEPTH.set_function(queue_depth)
    if port:
        start_http_server(port)
