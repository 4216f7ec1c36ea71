"""Store outages in ``decide()``: an unreachable store is infrastructure, never final."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kitaru.errors import StoreConfigError, StoreUnavailableError
from kitaru.records import ErrorInfo, RunOutcome
from kitaru.report import RunReport
from kitaru_operator.decisions import decide
from kitaru_operator.failures import STORE_RECHECK_SECONDS
from kitaru_operator.models import ExecutionStatus
from kitaru_operator.observed import JobView, Observed, RunView, StoreFault
from tests.operator.test_decisions import NOW, observed

UNREACHABLE = StoreFault("unavailable", "s3://agents/prod", "unreachable or failing (HTTP 503)")
MISSING_BUCKET = StoreFault("refused", "s3://nope/prod",
                            "store s3://nope/prod: the bucket 'nope' does not exist")
GAVE_UP = StoreUnavailableError(
    "s3://agents/prod/executions/ex-1/execution.json: the store is unreachable or keeps "
    "failing (HTTP 503); gave up after 40 attempt(s) in 120.4s", where="s3://agents/prod",
    reason="HTTP 503")


def running(run: int = 1, **fields: object) -> ExecutionStatus:
    return ExecutionStatus.model_validate(
        {"phase": "Running", "run": run, "flowVersion": "demo-v2", **fields})


def pod_gave_up(status: ExecutionStatus) -> Observed:
    """Run 1's pod stopped on the store; the operator has just read the store fine."""
    report = RunReport.parse(RunReport.failure(1, GAVE_UP, origin="infrastructure").message())
    return replace(observed(status=status, jobs=(JobView(1, "failed", "Error (exit code 3)",
                                                         report),),
                            latest=RunView(claimed=True, outcome=None)), store_read=True)


def test_a_run_that_gave_up_on_the_store_is_started_again_at_once_not_failed() -> None:
    decision = decide(pod_gave_up(running()))

    assert decision.status.phase == "Running" and decision.create_run == 2
    assert decision.status.error is None and decision.status.infra_retries == 1
    lost = next(e for e in decision.events if e.reason == "RunLost")
    assert lost.type == "Warning"
    assert "gave up on the store" in lost.message and "HTTP 503" in lost.message
    assert lost.message.endswith("retrying now that the store answers")


def test_an_outcome_recorded_as_a_store_outage_is_retried_like_a_lost_pod() -> None:
    outcome = RunOutcome(run=1, outcome="failed", error=ErrorInfo(
        type="StoreUnavailableError", origin="infrastructure", message=str(GAVE_UP)))
    decision = decide(replace(observed(status=running(), jobs=(JobView(1, "succeeded"),),
                                       latest=RunView(claimed=True, outcome=outcome)),
                              store_read=True))

    assert decision.status.phase == "Running" and decision.create_run == 2


def test_store_outages_still_count_against_the_flow_versions_retries() -> None:
    decision = decide(pod_gave_up(running(infraRetries=2)))  # FV allows 2

    assert decision.status.phase == "Failed" and decision.create_run is None
    assert decision.status.error is not None
    assert decision.status.error.origin == "infrastructure"
    assert "gave up on the store" in decision.status.error.message
    assert "no retries left (2 allowed)" in decision.status.error.message


def test_an_unreadable_store_keeps_the_phase_and_says_so_once() -> None:
    lost_pod = observed(status=running(), jobs=(JobView(1, "failed", "Error (exit code 3)"),))

    first = decide(replace(lost_pod, store_fault=UNREACHABLE))

    assert first.status.phase == "Running"
    assert first.create_run is None and first.status.infra_retries == 0
    assert first.requeue_after == STORE_RECHECK_SECONDS
    (condition,) = [c for c in first.status.conditions if c.type == "StoreUnavailable"]
    assert (condition.status, condition.reason) == ("True", "StoreUnreachable")
    assert condition.message.startswith(
        "store s3://agents/prod: unreachable or failing (HTTP 503); the execution keeps its "
        "phase")
    assert [(e.type, e.reason) for e in first.events] == [("Warning", "StoreUnavailable")]

    later = NOW + timedelta(seconds=30)
    second = decide(replace(lost_pod, status=first.status, now=later, store_fault=UNREACHABLE))

    assert second.events == [] and second.status.phase == "Running"
    (again,) = [c for c in second.status.conditions if c.type == "StoreUnavailable"]
    assert again.last_transition_time == condition.last_transition_time


def test_the_condition_clears_and_the_lost_run_is_redone_when_the_store_answers() -> None:
    down = decide(replace(pod_gave_up(running()), store_read=False, store_fault=UNREACHABLE))
    assert down.create_run is None

    back = decide(replace(pod_gave_up(down.status), now=NOW + timedelta(seconds=40)))

    assert not [c for c in back.status.conditions if c.type == "StoreUnavailable"]
    assert ("Normal", "StoreAvailable") in [(e.type, e.reason) for e in back.events]
    assert back.create_run == 2


def test_a_new_execution_waits_for_the_store_before_its_first_run() -> None:
    decision = decide(replace(observed(), store_fault=UNREACHABLE))

    assert decision.create_run is None and decision.status.phase == "Pending"
    assert [c.type for c in decision.status.conditions] == ["Resolved", "StoreUnavailable"]


def test_a_store_that_refuses_fails_the_execution_at_once_with_its_message() -> None:
    decision = decide(replace(observed(), store_fault=MISSING_BUCKET))

    assert decision.status.phase == "Failed" and decision.create_run is None
    assert decision.status.error is not None
    assert (decision.status.error.type, decision.status.error.origin) == (
        "StoreRefused", "backend")
    assert decision.status.error.message == MISSING_BUCKET.message
    assert ("Warning", "StoreRefused") in [(e.type, e.reason) for e in decision.events]


def test_a_refusing_store_waits_for_the_running_pod_to_report() -> None:
    decision = decide(replace(observed(status=running(), jobs=(JobView(1, "active"),)),
                              store_fault=MISSING_BUCKET))

    assert decision.status.phase == "Running"
    assert [c.reason for c in decision.status.conditions if c.type == "StoreUnavailable"] == [
        "StoreRefused"]


def test_a_pods_report_of_a_missing_bucket_is_final() -> None:
    error = StoreConfigError("store s3://nope/prod: the bucket 'nope' does not exist")
    report = RunReport.parse(RunReport.failure(1, error, origin="runtime").message())
    decision = decide(observed(status=running(), jobs=(JobView(1, "failed", "Error", report),),
                               latest=RunView(claimed=False, outcome=None)))

    assert decision.status.phase == "Failed" and decision.create_run is None
    assert decision.status.error is not None
    assert "the bucket 'nope' does not exist" in decision.status.error.message


def test_cancel_needs_no_store() -> None:
    decision = decide(replace(observed(spec={"flowVersion": "demo-v2", "cancel": True},
                                       status=running(), jobs=(JobView(1, "active"),)),
                              store_fault=UNREACHABLE))

    assert decision.status.phase == "Cancelled" and decision.delete_jobs == [1]


def test_missing_or_refused_credentials_hold_the_execution_until_the_secret_is_fixed() -> None:
    fault = StoreFault("credentials", "s3://agents/prod",
                       "credentials Secret 'store-credentials' (spec.store.credentialsSecret "
                       "of the FlowVersion) does not exist in namespace agents")
    lost_pod = observed(status=running(), jobs=(JobView(1, "failed", "Error (exit code 3)"),))

    held = decide(replace(lost_pod, store_fault=fault))

    assert held.status.phase == "Running" and held.status.error is None
    assert held.create_run is None and held.status.infra_retries == 0
    assert held.requeue_after == STORE_RECHECK_SECONDS
    (condition,) = [c for c in held.status.conditions if c.type == "StoreUnavailable"]
    assert condition.reason == "StoreCredentials"
    assert "'store-credentials'" in condition.message and "namespace agents" in condition.message
    # Nothing to report yet either: still held, never Failed like a missing bucket.
    idle = decide(replace(observed(), store_fault=fault))
    assert idle.status.phase != "Failed" and idle.status.error is None

    fixed = decide(replace(lost_pod, status=held.status, store_read=True))
    assert not [c for c in fixed.status.conditions if c.type == "StoreUnavailable"]
    # The lost run is retried (after its backoff) now that the store answers.
    assert {("Normal", "StoreAvailable"), ("Warning", "RunLost")} <= {
        (e.type, e.reason) for e in fixed.events}
