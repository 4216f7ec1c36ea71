"""Reconcile decisions, from plain data: what the operator does next with an Execution."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from kitaru.records import ErrorInfo, RunOutcome, ValueRef, WaitInfo
from kitaru.report import RunReport
from kitaru_operator.decisions import decide
from kitaru_operator.models import ExecutionSpec, ExecutionStatus, FlowVersionSpec
from kitaru_operator.observed import JobView, Observed, RunView

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FV = FlowVersionSpec(flow="demo", version=2, image="agent:2", entrypoint="agent:flow", retries=2)


def observed(
    *,
    spec: dict[str, Any] | None = None,
    status: ExecutionStatus | None = None,
    jobs: tuple[JobView, ...] = (),
    latest: RunView | None = None,
    now: datetime = NOW,
    generation: int = 1,
) -> Observed:
    return Observed(
        name="ex-1", generation=generation,
        spec=ExecutionSpec.model_validate(spec or {"flowVersion": "demo-v2"}),
        status=status or ExecutionStatus(), flow_version_name="demo-v2", flow_version=FV,
        resolve_error=None, jobs=jobs, latest=latest, now=now, store_uri="s3://agents/prod",
        execution_id="ns.ex-1.0a1b2c3d",
    )


def waiting(run: int = 1) -> RunView:
    wait = WaitInfo(name="approve", question="Publish?", schema={"type": "boolean"}, since=NOW)
    return RunView(claimed=True, outcome=RunOutcome(run=run, outcome="waiting", wait=wait),
                   checkpoints=2, last_checkpoints=("research", "draft"))


def test_new_execution_pins_its_version_and_starts_run_one() -> None:
    decision = decide(observed())
    assert decision.create_run == 1
    assert decision.status.phase == "Running"
    assert (decision.status.flow_version, decision.status.flow, decision.status.version) == (
        "demo-v2", "demo", 2)
    assert [e.reason for e in decision.events] == ["Started"]


def test_unresolvable_version_is_reported_and_retried_later() -> None:
    obs = replace(observed(), flow_version=None, flow_version_name=None,
                  resolve_error="Flow demo has no tag 'prod'")
    decision = decide(obs)
    assert decision.create_run is None
    assert decision.requeue_after == 15.0
    (resolved,) = decision.status.conditions
    assert (resolved.type, resolved.status, resolved.message) == (
        "Resolved", "False", "Flow demo has no tag 'prod'")
    assert [e.reason for e in decision.events] == ["FlowVersionNotFound"]
    # Told once: the next passes (the resync, the requeue) post nothing while it lasts...
    again = decide(replace(obs, status=decision.status))
    assert again.events == [] and again.requeue_after == 15.0
    # ...and a new reason is told again.
    other = decide(replace(obs, status=decision.status, resolve_error="no Flow 'demo'"))
    assert [e.message for e in other.events] == ["no Flow 'demo'"]


def test_running_job_keeps_running_and_creates_nothing() -> None:
    status = decide(observed()).status
    decision = decide(observed(status=status, jobs=(JobView(1, "active"),),
                               latest=RunView(claimed=True, outcome=None)))
    assert decision.create_run is None and decision.status.phase == "Running"
    assert decision.events == []


def test_job_newer_than_status_is_adopted_not_duplicated() -> None:
    # The operator created r2 and died before writing status.run = 2.
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    decision = decide(observed(status=status, jobs=(JobView(1, "succeeded"),
                                                     JobView(2, "active")),
                               latest=RunView(claimed=True, outcome=None)))
    assert decision.create_run is None
    assert decision.status.run == 2


def test_status_written_but_job_missing_creates_the_same_run_again() -> None:
    status = ExecutionStatus(phase="Running", run=2, flow_version="demo-v2")
    decision = decide(observed(status=status, jobs=(JobView(1, "succeeded"),),
                               latest=RunView(claimed=False, outcome=None)))
    assert decision.create_run == 2


def test_waiting_outcome_scales_to_zero_and_records_the_wait() -> None:
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    decision = decide(observed(status=status, jobs=(JobView(1, "succeeded"),),
                               latest=waiting()))
    assert decision.create_run is None
    assert decision.delete_jobs == [1]  # scale to zero: not even a finished pod is kept
    assert decision.status.phase == "Waiting"
    assert decision.status.waiting_on == "approve"
    assert decision.status.pending_wait is not None
    assert decision.status.pending_wait.schema_ == {"type": "boolean"}
    assert decision.status.checkpoints.count == 2


def test_valid_answer_starts_the_next_run_with_the_answer() -> None:
    status = ExecutionStatus(phase="Waiting", run=1, flow_version="demo-v2")
    decision = decide(observed(spec={"flowVersion": "demo-v2", "answers": {"approve": True}},
                               status=status, jobs=(JobView(1, "succeeded"),),
                               latest=waiting(), generation=2))
    assert decision.create_run == 2
    assert decision.creates[0].answers == {"approve": True}
    assert decision.status.accepted_answers == ["approve"]
    assert decision.status.phase == "Running" and decision.status.waiting_on is None
    assert "InputAccepted" in [e.reason for e in decision.events]


def test_invalid_answer_keeps_waiting_with_input_rejected_once() -> None:
    status = ExecutionStatus(phase="Waiting", run=1, flow_version="demo-v2")
    obs = observed(spec={"flowVersion": "demo-v2", "answers": {"approve": "yes"}},
                   status=status, jobs=(JobView(1, "succeeded"),), latest=waiting(),
                   generation=2)
    decision = decide(obs)
    assert decision.create_run is None
    assert decision.status.phase == "Waiting"
    rejected = next(c for c in decision.status.conditions if c.type == "InputRejected")
    message = "Execution ex-1: input for wait 'approve' must be a boolean, got \"yes\""
    assert (rejected.status, rejected.message, rejected.observed_generation) == (
        "True", message, 2)
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Warning", "InputRejected", message)]
    # Reconciling again changes nothing and emits no second Event.
    again = decide(replace(obs, status=decision.status))
    assert again.events == [] and again.create_run is None
    # A corrected answer is accepted and the condition goes away.
    fixed = decide(replace(obs, status=decision.status, generation=3,
                           spec=ExecutionSpec.model_validate(
                               {"flowVersion": "demo-v2", "answers": {"approve": False}})))
    assert fixed.create_run == 2
    assert all(c.type != "InputRejected" for c in fixed.status.conditions)


def test_success_records_the_output_reference_and_a_small_value_itself() -> None:
    status = ExecutionStatus(phase="Running", run=2, flow_version="demo-v2")

    def succeed(inline: str, serializer: str = "json") -> ExecutionStatus:
        output = ValueRef(serializer=serializer, type="builtins:str", size=len(inline),
                          digest="abc", inline=inline)
        return decide(observed(status=status, jobs=(JobView(2, "succeeded"),),
                               latest=RunView(True, RunOutcome(run=2, outcome="succeeded",
                                                               output=output)))).status

    small = succeed('{"answer": "ok"}')
    assert small.phase == "Succeeded"
    assert small.output is not None and small.output.digest == "abc"
    assert small.output.value == {"answer": "ok"}  # kubectl jsonpath shows it
    big = succeed(json.dumps("x" * 1100))
    assert big.output is not None and big.output.value is None  # status stays bounded
    assert "xxxx" not in big.model_dump_json()
    typed = succeed('{"__kitaru_type__": "datetime"}', serializer="typed-json")
    assert typed.output is not None and typed.output.value is None
    decision_status = small
    succeeded = next(c for c in decision_status.conditions if c.type == "Succeeded")
    assert succeeded.status == "True"


def test_user_code_failure_is_final_until_retry_is_requested() -> None:
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    failed = RunOutcome(run=1, outcome="failed",
                        error=ErrorInfo(type="ValueError", message="bad", origin="user_code"))
    obs = observed(status=status, jobs=(JobView(1, "succeeded"),),
                   latest=RunView(True, failed))
    decision = decide(obs)
    assert decision.status.phase == "Failed" and decision.create_run is None
    assert decision.status.error is not None and decision.status.error.origin == "user_code"

    retried = decide(replace(obs, status=decision.status, spec=ExecutionSpec.model_validate(
        {"flowVersion": "demo-v2", "retry": 1})))
    assert retried.create_run == 2
    assert retried.status.phase == "Running" and retried.status.observed_retry == 1


def test_lost_pod_is_retried_with_backoff_up_to_the_limit() -> None:
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    lost = RunView(claimed=True, outcome=None)
    obs = observed(status=status, jobs=(JobView(1, "failed", "OOMKilled"),), latest=lost)
    first = decide(obs)
    assert first.create_run is None and first.requeue_after == 5.0
    assert "OOMKilled" in first.events[0].message

    later = decide(replace(obs, status=first.status, now=NOW + timedelta(seconds=6)))
    assert later.create_run == 2 and later.status.infra_retries == 1

    exhausted = ExecutionStatus(phase="Running", run=3, infra_retries=2,
                                flow_version="demo-v2")
    final = decide(observed(status=exhausted, jobs=(JobView(3, "failed", "Evicted"),),
                            latest=lost))
    assert final.status.phase == "Failed"
    assert final.status.error is not None and final.status.error.origin == "infrastructure"


def test_cancel_deletes_active_jobs() -> None:
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    decision = decide(observed(spec={"flowVersion": "demo-v2", "cancel": True}, status=status,
                               jobs=(JobView(1, "active"),),
                               latest=RunView(claimed=True, outcome=None)))
    assert decision.delete_jobs == [1]
    assert decision.status.phase == "Cancelled"


def test_cancel_stops_running_checkpoint_pods_and_lists_none() -> None:
    status = ExecutionStatus(phase="Running", run=3, flow_version="demo-v2",
                             running_checkpoints=["a", "b"], checkpoint_pods=2)
    jobs = (JobView(3, "succeeded"), JobView(3, "active", checkpoint="a", branch=True),
            JobView(3, "succeeded", checkpoint="b", branch=True))
    decision = decide(observed(spec={"flowVersion": "demo-v2", "cancel": True}, status=status,
                               jobs=jobs, latest=RunView(claimed=True, outcome=None)))
    assert [j.checkpoint for j in decision.deletes] == ["a"]  # finished pods keep their logs
    assert decision.status.running_checkpoints == [] and decision.status.checkpoint_pods == 0


def test_status_stays_small_for_a_huge_journal() -> None:
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    many = RunView(claimed=True, outcome=None, checkpoints=10_000,
                   last_checkpoints=tuple(f"step_{i}" for i in range(9996, 10_001)))
    decision = decide(observed(status=status, jobs=(JobView(1, "active"),), latest=many))
    assert decision.status.checkpoints.count == 10_000
    assert len(decision.status.model_dump_json(by_alias=True)) < 4096


def test_runtime_report_of_a_bad_entrypoint_fails_without_infrastructure_retries() -> None:
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    report = RunReport.parse(json.dumps({"run": 1, "outcome": "failed", "error": {
        "type": "KitaruUsageError", "origin": "runtime",
        "message": "entrypoint 'nope:flow' cannot be imported: No module named 'nope'"}}))
    decision = decide(observed(status=status, jobs=(JobView(1, "failed", "Error", report),),
                               latest=RunView(claimed=False, outcome=None)))
    assert decision.status.phase == "Failed" and decision.create_run is None
    assert decision.status.error is not None
    assert "No module named 'nope'" in decision.status.error.message


def test_answering_a_waiting_execution_needs_no_store_read() -> None:
    from kitaru_operator.decisions import known_from_status

    waiting_status = decide(observed(status=ExecutionStatus(
        phase="Running", run=1, flow_version="demo-v2"), jobs=(JobView(1, "succeeded"),),
        latest=waiting())).status
    known = known_from_status(waiting_status, 1, ())
    assert known is not None and known.outcome is not None and known.outcome.wait is not None
    assert known.outcome.wait.schema == {"type": "boolean"}
    decision = decide(observed(spec={"flowVersion": "demo-v2", "answers": {"approve": True}},
                               status=waiting_status, latest=known))
    assert decision.create_run == 2
    assert known_from_status(waiting_status, 1, (JobView(1, "active"),)) is None
    assert known_from_status(ExecutionStatus(phase="Running", run=1), 1, ()) is None


def test_a_resume_whose_status_write_was_refused_is_accepted_from_its_job() -> None:
    # The status write and the Job create go out at once: the Job of run 2 was made, but
    # the status write was refused (the Execution changed meanwhile). Status still shows
    # the wait; the redone pass accepts the answer the Job carries, makes no new run.
    waiting_status = decide(observed(status=ExecutionStatus(
        phase="Running", run=1, flow_version="demo-v2"), jobs=(JobView(1, "succeeded"),),
        latest=waiting())).status
    answered = {"flowVersion": "demo-v2", "answers": {"approve": True}}
    decision = decide(observed(spec=answered, status=waiting_status,
                               jobs=(JobView(2, "active"),)))
    assert (decision.status.phase, decision.status.run) == ("Running", 2)
    assert decision.status.accepted_answers == ["approve"]
    assert decision.status.pending_wait is None and decision.status.waiting_on is None
    assert [e.reason for e in decision.events] == ["InputAccepted", "Resumed"]
    assert decision.create_run == 2  # refused by the API server as already made (409)
    # Once status caught up, the run is simply going.
    going = decide(observed(spec=answered, status=decision.status,
                            jobs=(JobView(2, "active"),)))
    assert going.create_run is None and going.events == []
    # A timer's run, or a Job that is no resume's, is not taken as an answer.
    unanswered = decide(observed(status=waiting_status, jobs=(JobView(2, "active"),)))
    assert unanswered.status.accepted_answers == [] and unanswered.create_run is None


def test_lost_status_is_rebuilt_from_the_store_without_a_second_run() -> None:
    decision = decide(replace(observed(latest=waiting()), store_run=1))
    assert decision.create_run is None
    assert decision.status.run == 1 and decision.status.phase == "Waiting"


def test_an_execution_with_no_store_to_run_against_is_not_started() -> None:
    decision = decide(replace(observed(), store_uri=""))

    assert decision.create_run is None
    (resolved,) = decision.status.conditions
    assert resolved.status == "False" and resolved.message.startswith("no store: set "
                                                                      "spec.store")


def test_a_replay_waits_for_its_source_then_run_one_carries_the_request() -> None:
    from kitaru.runenv import ReplayRequest

    spec = {"replay": {"execution": "source-1", "from": "b"}}
    waiting = decide(replace(observed(spec=spec),
                             replay_error="spec.replay.execution: Execution 'source-1' has "
                             "not run yet"))
    assert waiting.create_run is None and waiting.requeue_after == 15.0
    assert "has not run yet" in waiting.status.conditions[0].message

    request = ReplayRequest(source="ns.source-1.0a1b2c3d", at="b")
    started = decide(replace(observed(spec=spec), replay=request))
    assert started.creates[0].run == 1 and started.creates[0].replay == request


def test_a_lost_run_one_of_a_replay_is_not_made_again_without_its_source() -> None:
    spec = {"replay": {"execution": "source-1"}}
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    decision = decide(observed(spec=spec, status=status,
                               latest=RunView(claimed=False, outcome=None)))
    assert decision.create_run is None and decision.requeue_after == 15.0


def test_the_store_id_is_pinned_once_and_kept() -> None:
    from kitaru_operator.decisions import execution_id_for

    fresh = execution_id_for(ExecutionStatus(), "ns", "ex-1", "0a1b2c3d-ffff")
    assert fresh == "ns.ex-1.0a1b2c3d"
    assert decide(observed()).status.execution_id == "ns.ex-1.0a1b2c3d"
    pinned = ExecutionStatus(run=2, execution_id="ns.ex-1.99999999")
    assert execution_id_for(pinned, "ns", "ex-1", "0a1b2c3d") == "ns.ex-1.99999999"
    assert execution_id_for(ExecutionStatus(run=2), "ns", "ex-1", "0a1b") == "ns.ex-1"


def test_the_flow_versions_store_wins_over_the_default() -> None:
    from kitaru_operator.decisions import store_for

    own = FlowVersionSpec.model_validate({**FV.model_dump(by_alias=True), "store": {
        "uri": "s3://team/agents", "credentialsSecret": {"name": "creds"}}})
    assert store_for(own, "s3://default") == ("s3://team/agents", "creds")
    assert store_for(FV, "s3://default") == ("s3://default", None)
    assert store_for(None, "") == ("", None)


def test_the_store_is_read_only_when_status_does_not_already_say_enough() -> None:
    from kitaru_operator.decisions import wants_store

    assert wants_store(None, 1, (JobView(1, "failed"),), refresh=False)
    assert not wants_store(None, 1, (JobView(1, "active"),), refresh=False)
    assert wants_store(None, 1, (JobView(1, "active"),), refresh=True)
    assert not wants_store(waiting(), 1, (), refresh=True)
    # While branch pods run, a pass decides from the outcome of the run that made them.
    branches = (JobView(1, "succeeded"), JobView(1, "active", checkpoint="a", branch=True))
    assert wants_store(None, 1, branches, refresh=False)


def test_a_periodic_pass_reads_no_progress_of_a_run_whose_pod_has_not_started() -> None:
    """A burst of new Executions whose pods wait for a node: each periodic pass used to
    read four objects from the store per execution, none of which its pod can have
    written yet. The run's pod is seen through the Job's status and the pod cache."""
    from kitaru_operator.cache import CACHE
    from kitaru_operator.decisions import wants_store
    from kitaru_operator.observe import run_jobs

    def job(name: str, **status: Any) -> dict[str, Any]:
        return {"metadata": {"namespace": "ns", "name": name, "labels": {"kitaru.ai/run": "1"}},
                "status": status}

    def pod(job: str, phase: str) -> None:
        CACHE.put_pod(job, {"metadata": {"namespace": "ns", "name": f"{job}-x",
                                         "resourceVersion": "1"}, "status": {"phase": phase}})

    def reads(body: dict[str, Any]) -> bool:
        return wants_store(None, 1, run_jobs(None, "ns", [body]),  # type: ignore[arg-type]
                           refresh=True)

    assert not reads(job("fresh-r1"))  # the Job controller has not made its pod yet
    assert reads(job("counted-r1", startTime="2026-12-02T00:00:00Z", active=1))  # pod unseen
    pod("queued-r1", "Pending")
    assert not reads(job("queued-r1", startTime="2026-12-02T00:00:00Z", active=1))
    pod("going-r1", "Running")
    assert reads(job("going-r1", startTime="2026-12-02T00:00:00Z", active=1))
    # Outside the periodic pass an active run's store is never read, started or not.
    assert not wants_store(None, 1, run_jobs(None, "ns", [job("going-r1", active=1)]),  # type: ignore[arg-type]
                           refresh=False)


def test_a_timer_holds_no_pod_wakes_at_its_deadline_and_takes_no_answer() -> None:
    from datetime import timedelta

    from kitaru.records import WaitInfo

    wake = NOW + timedelta(seconds=30)
    timer = RunOutcome(run=1, outcome="waiting", wait=WaitInfo(
        name="sleep", kind="timer", since=NOW, deadline=wake))
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    early = decide(observed(status=status, jobs=(JobView(1, "succeeded"),),
                            latest=RunView(True, timer)))
    assert early.status.phase == "Waiting" and early.create_run is None
    assert early.requeue_after == 30 and early.delete_jobs == [1]  # scaled to zero
    assert early.status.pending_wait is not None and early.status.pending_wait.kind == "timer"
    assert "sleeping until" in early.status.conditions[-1].message
    answered = decide(replace(observed(spec={"flowVersion": "demo-v2",
                                             "answers": {"sleep": True}},
                                       status=early.status, jobs=(),
                                       latest=RunView(True, timer)), now=NOW))
    assert answered.create_run is None  # a timer is not answered
    due = decide(replace(observed(status=early.status, jobs=(), latest=RunView(True, timer)),
                         now=wake))
    assert due.create_run == 2
    assert any(e.reason == "TimerFired" for e in due.events)


def test_a_wait_with_a_timeout_goes_on_by_itself_at_its_deadline() -> None:
    from datetime import timedelta

    from kitaru.records import WaitInfo

    deadline = NOW + timedelta(seconds=5)
    waiting = RunOutcome(run=1, outcome="waiting", wait=WaitInfo(
        name="ok", schema={"type": "boolean"}, since=NOW, deadline=deadline))
    status = ExecutionStatus(phase="Running", run=1, flow_version="demo-v2")
    early = decide(observed(status=status, jobs=(), latest=RunView(True, waiting)))
    assert early.status.phase == "Waiting" and early.requeue_after == 5
    answered = decide(observed(spec={"flowVersion": "demo-v2", "answers": {"ok": True}},
                               status=early.status, jobs=(), latest=RunView(True, waiting)))
    assert answered.create_run == 2  # an answer before the deadline goes through
    late = decide(replace(observed(status=early.status, jobs=(),
                                   latest=RunView(True, waiting)), now=deadline))
    assert late.create_run == 2 and any(e.reason == "WaitTimedOut" for e in late.events)
