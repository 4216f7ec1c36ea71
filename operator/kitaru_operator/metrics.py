"""Prometheus metrics of the operator (served only when a metrics port is set)."""

from __future__ import annotations

from prometheus_client import Counter, start_http_server

RECONCILES = Counter("kitaru_reconciles_total", "Execution reconciles run.")
RECONCILE_ERRORS = Counter("kitaru_reconcile_errors_total",
                           "Reconciles that failed and will be retried.")
CONFLICTS = Counter("kitaru_reconcile_conflicts_total",
                    "Status writes refused because the Execution had changed; redone.")
JOBS_CREATED = Counter("kitaru_run_jobs_created_total", "Run Jobs created.")


def start(port: int) -> None:
    """Serve /metrics on ``port`` (0 turns it off)."""
    if port:
        start_http_server(port)
