"""The ``kitaru`` CLI against the cluster: deploy versions, invoke by tag, roll a tag back,
and drive an execution's wait with ``kitaru executions ... --cluster``.

The CLI runs as a user would, with a kubeconfig and ``KITARU_NAMESPACE``; it reads
checkpoints and logs from the store (S3 on moto) with the user's own credentials.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kitaru import KitaruClient
from kitaru.cluster.flows import flow_version_manifest
from operator_fixtures import AWS_ENV, BUCKET, Agents
from polling import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _cli(agents: Agents, kubeconfig: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``kitaru ...`` as a user with a kubeconfig, a default namespace and S3 credentials."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KITARU_NAMESPACE": agents.namespace,
           "AWS_ENDPOINT_URL": agents.endpoint, **AWS_ENV}
    env.pop("KITARU_STORE", None)

    def kitaru(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "kitaru.cli", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return done
    return kitaru


def test_invoke_wait_follows_to_the_output_and_cancel_replay_untag_work(
    agents: Agents, kubeconfig: Path,
) -> None:
    kitaru = _cli(agents, kubeconfig)
    deploy = ["--image", "kitaru-agent:dev", "--store", f"s3://{BUCKET}/{agents.namespace}",
              "--store-secret", "store-credentials", "--env", f"PYTHONPATH={ROOT}",
              "--env", f"KITARU_TEST_COUNTERS={agents.counters}"]
    kitaru("deploy", "tests.sdk.sample_flows:diff_flow", *deploy, "--tag", "stable")
    done = kitaru("invoke", "diff-flow", "--input",
                  '{"name": "kelp", "score": 1, "extra": false}', "--wait")
    assert done.stdout == '"kelp"\n'  # the output alone on stdout
    assert ": Succeeded" in done.stderr and "created in namespace" in done.stderr
    first = done.stderr.split("execution ", 1)[1].split(" ", 1)[0]

    replayed = kitaru("executions", "replay", first, "--cluster", "--from", "profile",
                      "--overrides", '{"input.name": "moss"}').stdout.strip()
    status = agents.wait_phase(replayed, "Succeeded", timeout=180)["status"]
    assert status["output"]["value"] == "moss"

    kitaru("deploy", "tests.sdk.sample_flows:approval_flow", *deploy)
    waiting = kitaru("invoke", "approval-flow", "--input", '{"topic": "tide"}').stdout.strip()
    agents.wait_phase(waiting, "Waiting", timeout=180)
    kitaru("executions", "cancel", waiting, "--cluster")
    agents.wait_phase(waiting, "Cancelled", timeout=60)

    kitaru("deploy", "tests.sdk.sample_flows:fails_until_fixed", *deploy)
    failing = kitaru("invoke", "fails-until-fixed", "--input", '{"x": 1}').stdout.strip()
    agents.wait_phase(failing, "Failed", timeout=180)
    early = kitaru("executions", "retry", "--cluster", waiting, ok=False).stderr
    assert "only a Failed execution can be retried" in early
    agents.gate("fixed").write_text("yes")
    assert "retry 1 requested" in kitaru("executions", "retry", "--cluster", failing).stdout
    agents.wait_phase(failing, "Succeeded", timeout=180)
    assert agents.runs_of("slow_step_1") == 1  # finished work was kept

    assert kitaru("flows", "untag", "diff-flow", "stable").stdout.strip() == "latest=1"
    gone = kitaru("invoke", "diff-flow", "--tag", "stable", ok=False).stderr
    assert "flow diff-flow has no tag 'stable' (tags: latest)" in gone


def test_deploy_invoke_by_tag_roll_back_and_answer_a_wait_with_the_cli(
    agents: Agents, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    kitaru = _cli(agents, kubeconfig)

    common = ["tests.sdk.sample_flows:approval_flow", "--image", "kitaru-agent:dev",
              "--store", f"s3://{BUCKET}/{agents.namespace}",
              "--store-secret", "store-credentials", "--env", f"PYTHONPATH={ROOT}",
              "--env", f"KITARU_TEST_COUNTERS={agents.counters}"]
    first = kitaru("deploy", *common, "--tag", "production").stdout
    assert "deployed FlowVersion approval-flow-v1 (version 1)" in first
    second = kitaru("deploy", *common, "--tag", "production").stdout
    assert "FlowVersion approval-flow-v2 (version 2)" in second
    assert "latest=2, production=2" in second
    shown = kitaru("flows", "show", "approval-flow").stdout
    assert "production" in shown and "kitaru-agent:dev" in shown

    _statuses_say_what_is_usable(agents)

    name = kitaru("invoke", "approval-flow", "--tag", "production", "--input",
                  '{"topic": "kelp"}').stdout.strip()
    status = agents.wait_phase(name, "Waiting", timeout=180)["status"]
    assert status["version"] == 2
    listed = kitaru("executions", "list", "--cluster").stdout
    assert name in listed and "Waiting" in listed and "approve" in listed

    refused = kitaru("executions", "input", name, "--cluster", "--value", '"yes"', ok=False)
    assert "input for wait 'approve' must be a boolean" in refused.stderr
    assert agents.phase(name) == "Waiting"  # a refused answer loses nothing
    kitaru("executions", "input", name, "--cluster", "--value", "true")
    agents.wait_phase(name, "Succeeded", timeout=180)
    got = kitaru("executions", "get", name, "--cluster").stdout
    assert f"{agents.namespace}/{name} (Succeeded)" in got and "research" in got
    assert "research" in kitaru("executions", "logs", name, "--cluster").stdout
    artifacts = kitaru("artifacts", "list", name, "--cluster").stdout
    assert "research" in artifacts and "publish" in artifacts

    assert kitaru("flows", "tag", "approval-flow", "production", "--version", "1"
                  ).stdout.strip() == "latest=2, production=1"  # the rollback
    again = kitaru("invoke", "approval-flow", "--tag", "production", "--input",
                   '{"topic": "moss"}').stdout.strip()
    assert agents.wait_phase(again, "Waiting", timeout=180)["status"]["version"] == 1
    kitaru("executions", "input", again, "--cluster", "--value", "true")
    agents.wait_phase(again, "Succeeded", timeout=180)
    compared = kitaru("executions", "diff", name, again, "--cluster", "-o", "json").stdout
    states = {c["id"]: c["state"] for c in json.loads(compared)["checkpoints"]}
    assert states["research"] == "changed"

    wrong = kitaru("invoke", "no-such-flow", ok=False).stderr
    assert "no flow 'no-such-flow'" in wrong and wrong.count("\n") == 1  # one line
    wrong = kitaru("flows", "tag", "approval-flow", "production", "--version", "9",
                   ok=False).stderr
    assert "has no version 9 (versions: 1, 2)" in wrong
    wrong = kitaru("deploy", "tests.sdk.sample_flows:approval_flow", ok=False).stderr
    assert "--image is required" in wrong

    # The same from Python.
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    cluster = KitaruClient.cluster(namespace=agents.namespace)
    summary = next(f for f in cluster.flows.list() if f.flow == "approval-flow")
    assert (summary.flow, summary.versions, summary.tags) == (
        "approval-flow", [1, 2], {"latest": 2, "production": 1})
    assert summary.executions == {1: 1, 2: 1}
    assert {e.name for e in cluster.executions.list(phase="succeeded")} == {name, again}


def test_the_mcp_server_drives_the_cluster_with_the_same_tools(
    agents: Agents, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from mcp import Client
    from tests.sdk.sample_flows import approval_flow

    from kitaru.mcp_server import build_server
    from kitaru.planes import ClusterPlane

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    for key, value in {"AWS_ENDPOINT_URL": agents.endpoint, **AWS_ENV}.items():
        monkeypatch.setenv(key, value)
    approval_flow.deploy(image="kitaru-agent:dev", namespace=agents.namespace,
                         store=f"s3://{BUCKET}/{agents.namespace}",
                         store_secret="store-credentials",
                         env={"PYTHONPATH": str(ROOT),
                              "KITARU_TEST_COUNTERS": str(agents.counters)})
    server = build_server(plane=ClusterPlane(namespace=agents.namespace))

    def call(tool: str, **arguments: object) -> object:
        async def go() -> object:
            async with Client(server) as client:
                result = await client.call_tool(tool, arguments)
            assert not result.is_error, result.content
            if result.structured_content is not None:
                return result.structured_content
            return result.content[0].text  # type: ignore[union-attr]
        return asyncio.run(go())

    (flow,) = call("kitaru_flows_list")["result"]  # type: ignore[index]
    assert (flow["flow"], flow["versions"], flow["tags"]) == ("approval-flow", [1], {"latest": 1})
    made = call("kitaru_invoke", flow="approval-flow", input={"topic": "reef"})
    name = made["result"]  # type: ignore[index]
    agents.wait_phase(str(name), "Waiting", timeout=180)
    call("kitaru_executions_input", exec_id=name, value=True)
    agents.wait_phase(str(name), "Succeeded", timeout=180)
    research = call("kitaru_artifacts_get", exec_id=name, name="research")
    assert "reef" in str(research)


def _statuses_say_what_is_usable(agents: Agents) -> None:
    """The operator says whether a version looks usable, and where the tags point."""
    def ready(name: str) -> dict[str, str] | None:
        got = agents.kubectl("get", "flowversion", name, "-n", agents.namespace, "-o",
                             "json").stdout
        conditions = (json.loads(got).get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "Ready"), None)

    assert wait_until(lambda: ready("approval-flow-v2"), timeout=60,
                      what="FlowVersion status")["reason"] == "StoreAnswers"
    agents.apply(flow_version_manifest(
        "broken-flow", 1, image="kitaru-agent:dev", entrypoint="agents.x:flow",
        store=f"s3://{BUCKET}/{agents.namespace}", store_secret="no-such-secret"))
    condition = wait_until(lambda: ready("broken-flow-v1"), timeout=60, what="its status")
    assert (condition["status"], condition["reason"]) == ("False", "SecretNotFound")
    assert "Secret 'no-such-secret'" in condition["message"]
    assert "does not exist" in condition["message"]
    flow_status = wait_until(lambda: (json.loads(agents.kubectl(
        "get", "flow", "approval-flow", "-n", agents.namespace, "-o", "json").stdout
    ).get("status") or {}).get("tags"), timeout=60, what="Flow status")
    assert flow_status["production"] == "approval-flow-v2"


def test_a_cluster_without_the_crds_is_one_line_naming_the_fix(
    kubeconfig: Path, namespace: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kitaru.cluster.api as cluster_api
    from kitaru.errors import KitaruUsageError

    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    # Kitaru's group with a name this API server does not serve: as if never installed.
    monkeypatch.setattr(cluster_api, "GROUP", "absent.kitaru.example")
    cluster = cluster_api.connect(namespace=namespace)
    with pytest.raises(KitaruUsageError, match=(
            r"does not serve executions\.absent\.kitaru\.example: install Kitaru's CRDs")):
        cluster.list("executions")
    with pytest.raises(KitaruUsageError, match="install Kitaru's CRDs"):
        cluster.get("flows", "anything")
