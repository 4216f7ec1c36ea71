"""The operator end to end: Executions driven with kubectl, runs as pods, S3 on moto."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from operator_fixtures import Agents, OperatorProcess
from polling import wait_until

SAMPLE = "tests.sdk.sample_flows"


def test_execution_runs_to_success_with_its_output(agents: Agents) -> None:
    agents.apply(agents.flow_version("diamond-v1", f"{SAMPLE}:diamond"))
    agents.apply(agents.execution("sum-1", "diamond-v1", input={"x": 1, "label": "hi"}))

    agents.kubectl("wait", "-n", agents.namespace, "--for=condition=Succeeded",
                   "execution/sum-1", "--timeout=120s")

    status = agents.get("sum-1")["status"]
    assert status["phase"] == "Succeeded"
    assert (status["flowVersion"], status["flow"], status["version"]) == (
        "diamond-v1", "diamond", 1)
    assert status["checkpoints"]["count"] == 4
    assert status["executionId"].startswith(f"{agents.namespace}.sum-1.")
    info = agents.store_client().executions.get(status["executionId"])
    assert info.output == "HI:2" and status["output"]["type"] == "builtins:str"
    columns = agents.kubectl("get", "executions", "-n", agents.namespace).stdout
    assert columns.split("\n")[0].split()[:5] == ["NAME", "FLOW", "VERSION", "PHASE", "WAITING"]
    assert "Succeeded" in columns


def test_wait_scales_to_zero_and_a_patch_resumes_in_a_new_pod(agents: Agents) -> None:
    agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    agents.apply(agents.execution("ask-1", "approval-v1", input={"topic": "kelp"}))

    status = agents.wait_phase("ask-1", "Waiting")["status"]
    assert status["waitingOn"] == "approve"
    assert status["pendingWait"]["schema"] == {"type": "boolean"}
    wait_until(lambda: agents.pods() == [], timeout=60, what="no pod while Waiting")

    agents.patch("ask-1", {"answers": {"approve": True}})

    status = agents.wait_phase("ask-1", "Succeeded")["status"]
    assert status["run"] == 2 and status["acceptedAnswers"] == ["approve"]
    assert (agents.runs_of("research"), agents.runs_of("draft"),
            agents.runs_of("publish")) == (1, 1, 1)
    changed = agents.patch("ask-1", {"answers": {"approve": False}}, check=False)
    assert changed.returncode != 0
    assert "an accepted answer cannot be changed" in changed.stderr


def test_invalid_patch_is_rejected_and_a_later_valid_one_works(agents: Agents) -> None:
    agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    agents.apply(agents.execution("ask-2", "approval-v1", input={"topic": "kelp"}))
    agents.wait_phase("ask-2", "Waiting")

    agents.patch("ask-2", {"answers": {"approve": "yes"}})

    expected = "Execution ask-2: input for wait 'approve' must be a boolean, got \"yes\""

    def rejected() -> bool:
        conditions = agents.get("ask-2")["status"].get("conditions", [])
        return any(c["type"] == "InputRejected" and c["message"] == expected
                   for c in conditions)

    wait_until(rejected, timeout=60, what="the InputRejected condition")
    assert agents.phase("ask-2") == "Waiting"
    wait_until(lambda: agents.events("InputRejected"), timeout=30, what="the Warning event")
    (event,) = agents.events("InputRejected")
    assert event["type"] == "Warning" and event["message"] == expected

    agents.patch("ask-2", {"answers": {"approve": True}})
    agents.wait_phase("ask-2", "Succeeded")
    assert agents.runs_of("research") == 1


def test_the_flows_arguments_cannot_be_changed_once_the_execution_exists(
    agents: Agents,
) -> None:
    agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    agents.apply(agents.execution("ask-4", "approval-v1", input={"topic": "kelp"}))

    changed = agents.patch("ask-4", {"input": {"topic": "moss"}}, check=False)

    assert changed.returncode != 0
    assert "spec.input: the flow's arguments cannot be changed" in changed.stderr
    assert agents.get("ask-4")["spec"]["input"] == {"topic": "kelp"}


def test_killed_run_pod_is_retried_and_finished_checkpoints_do_not_rerun(
    agents: Agents,
) -> None:
    agents.apply(agents.flow_version("steps-v1", f"{SAMPLE}:three_steps"))
    agents.apply(agents.execution("steps-1", "steps-v1"))
    started = agents.gate("slow-started")
    wait_until(started.exists, timeout=120, what="step 2 to start in the run pod")

    os.kill(int(started.read_text()), signal.SIGKILL)
    started.unlink()
    wait_until(started.exists, timeout=120, what="a new run pod to reach step 2")
    agents.gate("slow-release").write_text("go")

    status = agents.wait_phase("steps-1", "Succeeded")["status"]
    assert status["run"] == 2 and status["infraRetries"] == 1
    assert (agents.runs_of("slow_step_1"), agents.runs_of("slow_step_2"),
            agents.runs_of("slow_step_3")) == (1, 2, 1)
    assert agents.events("RunLost")


def test_operator_killed_mid_execution_converges_without_duplicate_jobs(
    agents: Agents, operator: OperatorProcess
) -> None:
    agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    agents.apply(agents.execution("ask-3", "approval-v1", input={"topic": "kelp"}))
    wait_until(agents.jobs, timeout=60, what="the first run Job")
    operator.kill()
    agents.patch("ask-3", {"answers": {"approve": True}})  # answered while no operator runs
    time.sleep(2)

    operator.start()

    agents.wait_phase("ask-3", "Succeeded")
    status = agents.get("ask-3")["status"]
    assert status["run"] == 2
    assert (agents.runs_of("research"), agents.runs_of("publish")) == (1, 1)
    assert agents.jobs() == ["job.batch/ask-3-r2"]  # r1 deleted at the wait; no duplicates


def test_cancel_stops_the_running_pod(agents: Agents) -> None:
    agents.apply(agents.flow_version("steps-v1", f"{SAMPLE}:three_steps"))
    agents.apply(agents.execution("steps-2", "steps-v1"))
    wait_until(agents.gate("slow-started").exists, timeout=120, what="step 2 to start")

    agents.patch("steps-2", {"cancel": True})

    agents.wait_phase("steps-2", "Cancelled")
    wait_until(lambda: agents.pods() == [], timeout=60, what="the run pod to be stopped")
    assert agents.runs_of("slow_step_3") == 0


def test_retry_after_a_failure_in_user_code(agents: Agents) -> None:
    agents.apply(agents.flow_version("fragile-v1", f"{SAMPLE}:fails_until_fixed"))
    agents.apply(agents.execution("fix-1", "fragile-v1", input={"x": 1}))
    status = agents.wait_phase("fix-1", "Failed")["status"]
    assert status["error"]["origin"] == "user_code"
    assert "the tool is down" in status["error"]["message"]

    agents.gate("fixed").write_text("yes")
    agents.patch("fix-1", {"retry": 1})

    agents.wait_phase("fix-1", "Succeeded")
    assert (agents.runs_of("slow_step_1"), agents.runs_of("fragile")) == (1, 2)


def test_bad_flow_versions_are_refused_or_reported_never_crash_the_operator(
    agents: Agents, operator: OperatorProcess
) -> None:
    no_image = agents.flow_version("broken-v1", f"{SAMPLE}:diamond")
    del no_image["spec"]["image"]
    refused = agents.apply(no_image, check=False)
    assert refused.returncode != 0 and "spec.image: Required value" in refused.stderr

    bad_entry = agents.flow_version("broken-v1", "not an entrypoint")
    refused = agents.apply(bad_entry, check=False)
    assert refused.returncode != 0 and "spec.entrypoint" in refused.stderr

    agents.apply(agents.flow_version("diamond-v1", f"{SAMPLE}:diamond"))
    changed = agents.kubectl("patch", "flowversion", "diamond-v1", "-n", agents.namespace,
                             "--type", "merge", "-p", '{"spec":{"image":"other"}}', check=False)
    assert changed.returncode != 0 and "FlowVersion spec is immutable" in changed.stderr

    agents.apply(agents.execution("orphan-1", "missing-v9"))
    wait_until(lambda: any(c["type"] == "Resolved" and c["status"] == "False"
                           for c in (agents.get("orphan-1").get("status") or {})
                           .get("conditions", [])),
               timeout=60, what="the Resolved=False condition")
    missing_module = agents.flow_version("ghost-v1", "no_such_module:flow")
    agents.apply(missing_module)
    agents.apply(agents.execution("ghost-1", "ghost-v1"))
    status = agents.wait_phase("ghost-1", "Failed")["status"]
    assert "no_such_module" in status["error"]["message"]

    assert operator.alive()
    agents.apply(agents.execution("sum-2", "diamond-v1", input={"x": 2, "label": "ok"}))
    agents.wait_phase("sum-2", "Succeeded")


def test_kubectl_explain_describes_the_fields(agents: Agents) -> None:
    explained = agents.kubectl("explain", "execution.spec.answers").stdout
    assert "Answers to waits, by wait name" in explained


def test_flow_tag_is_resolved_once_and_pinned(agents: Agents) -> None:
    agents.apply(agents.flow_version("diamond-v1", f"{SAMPLE}:diamond"))
    agents.apply(agents.flow_version("diamond-v2", f"{SAMPLE}:diamond", version=2))
    flow = {"apiVersion": "kitaru.ai/v1alpha1", "kind": "Flow", "metadata": {"name": "diamond"},
            "spec": {"tags": {"production": 1}}}
    agents.apply(flow)
    first = agents.execution("tagged-1", "unused", input={"x": 1, "label": "a"})
    first["spec"] = {"flow": "diamond", "tag": "production", "input": {"x": 1, "label": "a"}}
    agents.apply(first)
    status = agents.wait_phase("tagged-1", "Succeeded")["status"]
    assert (status["flowVersion"], status["version"]) == ("diamond-v1", 1)

    flow["spec"]["tags"]["production"] = 2  # roll forward by moving the tag
    agents.apply(flow)
    second = {**first, "metadata": {"name": "tagged-2"}}
    agents.apply(second)

    assert agents.wait_phase("tagged-2", "Succeeded")["status"]["flowVersion"] == "diamond-v2"
    assert agents.get("tagged-1")["status"]["flowVersion"] == "diamond-v1"  # pinned


def _flow_version_listings(agents: Agents) -> float:
    """How many LISTs of FlowVersions the API server has answered (its own metric)."""
    request = agents.api.param_serialize(method="GET", resource_path="/metrics",
                                         auth_settings=["BearerToken"])
    text = agents.api.call_api(*request).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("apiserver_request_total{")
               and 'resource="flowversions"' in line and 'verb="LIST"' in line)


def test_a_burst_of_flow_versions_is_listed_for_its_flow_a_few_times_not_once_each(
        agents: Agents) -> None:
    """CI deploys a FlowVersion per commit, so a flow gathers hundreds. Each FlowVersion
    event used to list all of them to rewrite the Flow's versions: an operator starting
    on 300 versions of one flow listed them about 310 times."""
    agents.apply({"apiVersion": "kitaru.ai/v1alpha1", "kind": "Flow",
                  "metadata": {"name": "burst"}, "spec": {"tags": {"stable": 1}}})

    def status() -> dict[str, Any]:
        return agents.read("flows.kitaru.ai", "burst").get("status") or {}

    wait_until(lambda: status().get("conditions"), what="the Flow's first status")
    before = _flow_version_listings(agents)
    versions = [agents.flow_version(f"burst-v{i}", f"{SAMPLE}:diamond", version=i)
                for i in range(1, 61)]
    agents.apply({"apiVersion": "v1", "kind": "List", "items": versions})

    wait_until(lambda: status().get("versions") == list(range(1, 61)), timeout=120,
               what="the Flow to list its 60 versions")
    assert status()["tags"] == {"stable": "burst-v1"}
    listed = _flow_version_listings(agents) - before
    print(f"FlowVersions listed {listed:.0f} times for a burst of 60")
    assert listed <= 10, f"the operator listed FlowVersions {listed:.0f} times for 60"


def test_replay_execution_reuses_the_source_journal(agents: Agents) -> None:
    agents.apply(agents.flow_version("diamond-v1", f"{SAMPLE}:diamond"))
    agents.apply(agents.execution("source-1", "diamond-v1", input={"x": 1, "label": "hi"}))
    agents.wait_phase("source-1", "Succeeded")
    replay = {"apiVersion": "kitaru.ai/v1alpha1", "kind": "Execution",
              "metadata": {"name": "replay-1"},
              "spec": {"replay": {"execution": "source-1", "from": "b",
                                  "overrides": {"checkpoint.c": "EDITED"}}}}

    agents.apply(replay)

    status = agents.wait_phase("replay-1", "Succeeded")["status"]
    assert status["flowVersion"] == "diamond-v1"
    info = agents.store_client().executions.get(agents.get("replay-1")["status"]["executionId"])
    assert info.output == "EDITED:2"
    assert info.replay_of == agents.get("source-1")["status"]["executionId"]
    assert {n: agents.runs_of(n) for n in "abcd"} == {"a": 1, "b": 2, "c": 1, "d": 2}


def test_an_execution_created_again_under_its_name_runs_afresh(agents: Agents) -> None:
    agents.apply(agents.flow_version("diamond-v1", f"{SAMPLE}:diamond"))
    agents.apply(agents.execution("again-1", "diamond-v1", input={"x": 1, "label": "hi"}))
    first = agents.wait_phase("again-1", "Succeeded")["status"]
    agents.kubectl("delete", "execution", "again-1", "-n", agents.namespace, "--wait=true")

    agents.apply(agents.execution("again-1", "diamond-v1", input={"x": 5, "label": "yo"}))
    second = agents.wait_phase("again-1", "Succeeded")["status"]

    # A new journal, not the deleted Execution's finished one.
    assert second["executionId"] != first["executionId"]
    assert agents.store_client().executions.get(second["executionId"]).output == "YO:6"
    assert agents.store_client().executions.get(first["executionId"]).output == "HI:2"
    assert agents.runs_of("a") == 2
