"""decide() for runs that left isolated checkpoints to pods of their own."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from kitaru.errors import KitaruError
from kitaru.records import DispatchedCall, DispatchRequest, ErrorInfo, RetryRequest, RunOutcome
from kitaru.report import RunReport
from kitaru_operator.decisions import decide
from kitaru_operator.jobs import job_name, run_job
from kitaru_operator.models import ExecutionStatus, FlowVersionSpec
from kitaru_operator.observed import JobView, Observed, RunView
from tests.operator.test_decisions import FV, NOW, observed

CALLS = [DispatchedCall(id="score" if i == 0 else f"score_{i + 1}", name="score", seq=i)
         for i in range(4)]
IDS = [c.id for c in CALLS]


def after_dispatch(request: DispatchRequest, *jobs: JobView, fv: FlowVersionSpec = FV,
                   infra_retries: int = 0) -> Observed:
    status = ExecutionStatus(phase="Running", run=3, flow_version="demo-v2",
                             infra_retries=infra_retries)
    outcome = RunOutcome(run=3, outcome="dispatch", dispatch=request)
    return replace(observed(status=status, jobs=(JobView(3, "succeeded"), *jobs),
                            latest=RunView(claimed=True, outcome=outcome)),
                   flow_version=fv, store_read=True)


def branch(checkpoint: str, state: str, *, attempt: int = 1,
           report: RunReport | None = None, reason: str = "") -> JobView:
    return JobView(3, state, reason, report, checkpoint=checkpoint,  # type: ignore[arg-type]
                   checkpoint_name="score", branch=True, attempt=attempt,
                   name=f"ex-1-r3-{checkpoint}-a{attempt}")


FAN = DispatchRequest(calls=CALLS, fan_out=True)


def test_a_sequential_isolated_call_becomes_the_next_runs_own_pod() -> None:
    request = DispatchRequest(calls=[DispatchedCall(id="draft", name="draft", seq=1)])

    decision = decide(after_dispatch(request))

    (create,) = decision.creates
    assert (create.run, create.checkpoint, create.checkpoint_name, create.branch) == (
        4, "draft", "draft", False)
    assert decision.status.run == 4


def test_a_fan_out_starts_branch_pods_up_to_the_parallelism() -> None:
    two_at_once = FV.model_copy(update={"parallelism": 2})

    decision = decide(after_dispatch(FAN, fv=two_at_once))

    assert [(c.run, c.checkpoint, c.branch) for c in decision.creates] == [
        (3, "score", True), (3, "score_2", True)]
    assert decision.status.phase == "Running" and decision.status.run == 3


def test_branches_that_are_running_or_done_are_left_alone() -> None:
    decision = decide(after_dispatch(FAN, branch("score", "succeeded"),
                                     branch("score_2", "succeeded"),
                                     branch("score_3", "active"), branch("score_4", "active")))

    assert decision.creates == []
    assert decision.status.running_checkpoints == ["score_3", "score_4"]
    assert "2 of 4 checkpoint pods finished, 2 running" in decision.status.conditions[-1].message


def test_when_every_branch_committed_the_next_run_goes_on() -> None:
    decision = decide(after_dispatch(FAN, *(branch(c, "succeeded") for c in IDS)))

    (create,) = decision.creates
    assert (create.run, create.checkpoint, create.branch) == (4, None, False)
    assert decision.status.running_checkpoints == []


def test_a_lost_branch_pod_is_started_again_as_a_new_attempt() -> None:
    lost = branch("score_2", "failed", reason="Evicted: the node ran out of memory")
    decision = decide(after_dispatch(FAN, branch("score", "succeeded"), lost,
                                     branch("score_3", "active"), branch("score_4", "active")))

    (create,) = decision.creates
    assert (create.checkpoint, create.attempt, create.branch) == ("score_2", 2, True)
    assert decision.status.infra_retries == 1
    (event,) = [e for e in decision.events if e.reason == "CheckpointPodLost"]
    assert "Evicted" in event.message and event.type == "Warning"


def test_a_branch_that_failed_in_user_code_fails_the_execution_once_the_others_end() -> None:
    error = RunReport.parse(RunReport.failure(3, KitaruError("the tool is down"),
                                              origin="user_code").message())
    failed = branch("score_3", "failed", report=error)

    waiting = decide(after_dispatch(FAN, branch("score", "succeeded"),
                                    branch("score_2", "active"), failed,
                                    branch("score_4", "succeeded")))
    assert waiting.status.phase == "Running" and waiting.creates == []

    ended = decide(after_dispatch(FAN, branch("score", "succeeded"),
                                  branch("score_2", "succeeded"), failed,
                                  branch("score_4", "succeeded")))
    assert ended.status.phase == "Failed" and ended.status.error is not None
    assert ended.status.error.origin == "user_code"
    assert ended.status.error.message == ("checkpoint score_3: the tool is down; 3 of 4 "
                                          "checkpoints finished and are kept")


def test_a_lost_checkpoint_run_is_made_again_as_that_checkpoints_pod() -> None:
    status = ExecutionStatus(phase="Running", run=4, flow_version="demo-v2",
                             next_run_after=None)
    lost = JobView(4, "failed", "OOMKilled (exit code 137)", checkpoint="draft",
                   checkpoint_name="draft")
    first = decide(observed(status=status, jobs=(lost,),
                            latest=RunView(claimed=True, outcome=None)))
    assert first.status.next_run_after is not None

    later = decide(replace(observed(status=first.status, jobs=(lost,),
                                    latest=RunView(claimed=True, outcome=None)),
                           now=first.status.next_run_after))

    (create,) = later.creates
    assert (create.run, create.checkpoint) == (5, "draft")


def test_a_checkpoints_pod_carries_its_placement() -> None:
    fv = FlowVersionSpec.model_validate({
        **FV.model_dump(by_alias=True, exclude_none=True),
        "checkpointDefaults": {"nodeSelector": {"pool": "cpu"},
                               "resources": {"requests": {"cpu": "1"}}},
        "checkpoints": {"score": {"image": "agent:gpu", "resources": {
            "limits": {"nvidia.com/gpu": "1"}}, "tolerations": [
            {"key": "gpu", "operator": "Exists"}]}},
    })
    job = run_job(namespace="ns", execution="ex-1", execution_uid="u", exec_id="ns.ex-1.u",
                  run=3, flow_version_name="demo-v2", flow_version=fv, store_uri="s3://b",
                  inputs={}, answers={}, replay=None, checkpoint="score_2",
                  checkpoint_name="score", branch=True, attempt=2)

    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert job["metadata"]["name"] == job_name("ex-1", 3, branch="score_2", attempt=2)
    assert job["metadata"]["name"].startswith("ex-1-r3-") and job["metadata"]["name"].endswith(
        "-a2")
    assert container["image"] == "agent:gpu"
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert json.loads(env["KITARU_CHECKPOINTS"]) == ["score_2"]
    assert env["KITARU_BRANCH"] == "true" and env["KITARU_CHECKPOINT_RUNTIME"] == "isolated"
    labels = job["metadata"]["labels"]
    assert (labels["kitaru.ai/checkpoint"], labels["kitaru.ai/branch"],
            labels["kitaru.ai/attempt"]) == ("score_2", "true", "2")


def test_code_resources_apply_unless_the_flow_version_sets_its_own() -> None:
    asked = {"limits": {"nvidia.com/gpu": "1"}}
    request = DispatchRequest(calls=[DispatchedCall(id="train", name="train", seq=0,
                                                    resources=asked)])
    (create,) = decide(after_dispatch(request)).creates
    assert create.resources == asked

    def resources(fv: FlowVersionSpec) -> object:
        job = run_job(namespace="ns", execution="ex-1", execution_uid="u",
                      exec_id="ns.ex-1.u", run=4, flow_version_name="demo-v2",
                      flow_version=fv, store_uri="s3://b", inputs={}, answers={},
                      replay=None, checkpoint="train", checkpoint_name="train",
                      code_resources=asked)
        assert json.loads(job["metadata"]["annotations"]["kitaru.ai/code-resources"]) == asked
        return job["spec"]["template"]["spec"]["containers"][0].get("resources")

    assert resources(FV) == asked
    platform = FlowVersionSpec.model_validate({
        **FV.model_dump(by_alias=True, exclude_none=True),
        "checkpoints": {"train": {"resources": {"limits": {"cpu": "2"}}}}})
    assert resources(platform) == {"limits": {"cpu": "2"}}  # the platform team's word


def test_every_pod_gets_the_flow_versions_pod_template() -> None:
    fv = FlowVersionSpec.model_validate({
        **FV.model_dump(by_alias=True, exclude_none=True),
        "imagePullSecrets": [{"name": "registry"}], "podLabels": {"team": "research"},
        "podAnnotations": {"cost-center": "42"},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000}})
    job = run_job(namespace="ns", execution="ex-1", execution_uid="u", exec_id="ns.ex-1.u",
                  run=1, flow_version_name="demo-v2", flow_version=fv, store_uri="s3://b",
                  inputs={}, answers={}, replay=None)

    template = job["spec"]["template"]
    assert template["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    assert template["spec"]["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000}
    assert template["metadata"]["labels"]["team"] == "research"
    assert template["metadata"]["labels"]["kitaru.ai/run"] == "1"
    assert template["metadata"]["annotations"]["cost-center"] == "42"


def retry_request(checkpoint: str, attempt: int, *, after: float) -> RetryRequest:
    return RetryRequest(checkpoint=checkpoint, attempt=attempt, not_before=NOW + timedelta(
        seconds=after), error=ErrorInfo(type="RuntimeError", message="the tool is down",
                                        origin="user_code"))


def test_a_sequential_body_that_failed_with_retries_left_gets_a_new_pod_after_its_backoff(
) -> None:
    call = DispatchedCall(id="draft", name="draft", seq=1)
    retry = retry_request("draft", 1, after=5)
    request = DispatchRequest(calls=[call], retry=retry)

    early = decide(after_dispatch(request))
    assert early.creates == []  # no pod is held while the backoff runs
    assert early.requeue_after == 5 and early.status.next_run_after == retry.not_before
    assert "attempt 2 starts in a new pod" in early.status.conditions[-1].message

    due = decide(replace(after_dispatch(request), now=retry.not_before))
    (create,) = due.creates
    assert (create.run, create.checkpoint, create.checkpoint_attempt, create.branch) == (
        4, "draft", 2, False)
    manifest = run_job(namespace="agents", execution="ex-1", execution_uid="u", exec_id="x",
                       run=4, flow_version_name="demo-v2", flow_version=FV, store_uri="s3://b",
                       inputs={}, answers={}, replay=None, checkpoint="draft",
                       checkpoint_name="draft", checkpoint_attempt=2)
    env = {e["name"]: e["value"] for e in
           manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KITARU_CHECKPOINT_ATTEMPT"] == "2"
    assert manifest["metadata"]["labels"]["kitaru.ai/checkpoint-attempt"] == "2"


def test_a_branch_whose_body_failed_with_retries_left_is_retried_as_a_new_pod() -> None:
    report = RunReport.parse(RunReport.of(RunOutcome(
        run=3, outcome="dispatch", dispatch=DispatchRequest(
            calls=[CALLS[1]], fan_out=True, retry=retry_request("score_2", 1, after=2))),
    ).model_copy(update={"branch": ["score_2"]}).message())
    assert report is not None and report.retry is not None
    failed = branch("score_2", "failed", report=report)
    others = [branch(c, "succeeded") for c in ("score", "score_3", "score_4")]

    early = decide(after_dispatch(FAN, failed, *others))
    assert early.creates == [] and early.status.phase == "Running"  # not failed: it retries
    assert early.requeue_after == 2
    (told,) = [e for e in early.events if e.reason == "CheckpointRetried"]
    assert "attempt 1 failed in pod ex-1-r3-score_2-a1 (RuntimeError: the tool is down)" in (
        told.message)

    due = decide(replace(after_dispatch(FAN, failed, *others), now=report.retry.not_before))
    (create,) = due.creates
    assert (create.checkpoint, create.attempt, create.checkpoint_attempt) == ("score_2", 2, 2)
    assert due.status.infra_retries == 0  # a user-code retry spends no infrastructure retry


def test_a_lost_pod_of_a_later_attempt_is_made_again_at_that_same_attempt() -> None:
    lost = replace(branch("score_2", "failed", attempt=2, reason="Evicted"),
                   checkpoint_attempt=2)
    decision = decide(after_dispatch(FAN, lost, *(branch(c, "succeeded")
                                                  for c in ("score", "score_3", "score_4"))))
    (create,) = decision.creates
    assert (create.attempt, create.checkpoint_attempt) == (3, 2)


def test_each_checkpoint_pods_end_is_told_once_and_then_marked() -> None:
    error = RunReport.parse(RunReport.failure(3, KitaruError("bad"), origin="user_code")
                            .message())
    jobs = (branch("score", "succeeded"), branch("score_2", "failed", report=error),
            branch("score_3", "failed", reason="OOMKilled"), branch("score_4", "active"))

    decision = decide(after_dispatch(FAN, *jobs))
    ends = {"CheckpointPodFinished", "CheckpointPodFailed", "CheckpointRetried"}
    told = {e.reason: e.message for e in decision.events if e.reason in ends}
    assert set(told) == {"CheckpointPodFinished", "CheckpointPodFailed"}
    assert [j.checkpoint for j in decision.marks] == [None, "score", "score_2", "score_3"]
    messages = [e.message for e in decision.events if e.reason == "CheckpointPodFailed"]
    assert any("user_code: KitaruError: bad" in m for m in messages)
    assert any("infrastructure: OOMKilled" in m for m in messages)

    marked = tuple(replace(j, reported=True) if j.state != "active" else j for j in jobs)
    again = decide(after_dispatch(FAN, *marked))
    assert not [e for e in again.events if e.reason in (
        "CheckpointPodFinished", "CheckpointPodFailed")]
    assert [j.checkpoint for j in again.marks] == [None]  # only the run pod, not told yet
