"""An OpenAI Agents SDK flow on the cluster: a tool approval answered with kubectl patch.

The agent's pods use the SDK's real OpenAI client against the fake Responses API of
``tests/fakes/model_api.py`` on loopback (the process kubelet runs pods on this host);
its request count proves the resume did not pay for the first model call again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.fakes.model_api import ModelAPI, serve
from tests.polling import wait_until
from tests.sdk.test_openai_agents import support_model

from operator_fixtures import Agents

SAMPLE = "tests.sdk.agent_flows"


@pytest.fixture
def model_api() -> Iterator[ModelAPI]:
    with serve(ModelAPI(support_model)) as api:
        yield api


def test_an_agent_approval_waits_with_no_pod_and_kubectl_patch_resumes_it(
    agents: Agents, model_api: ModelAPI,
) -> None:
    manifest = agents.flow_version("review-v1", f"{SAMPLE}:review_flow")
    del manifest["spec"]["checkpointRuntime"]  # the default: the Runner call in its own pod
    manifest["spec"]["env"] += [
        {"name": "OPENAI_BASE_URL", "value": model_api.base_url},
        {"name": "OPENAI_API_KEY", "value": "sk-test"},
        {"name": "OPENAI_AGENTS_DISABLE_TRACING", "value": "1"}]
    agents.apply(manifest)
    agents.apply(agents.execution("review-1", "review-v1", input={"case": "Case C-001"}))

    status = agents.wait_phase("review-1", "Waiting", timeout=180)["status"]
    assert status["pendingWait"]["name"] == "approve_tool"
    assert "refund" in status["pendingWait"]["question"]
    assert "state" not in str(status["pendingWait"])  # the RunState stays in the store
    assert model_api.count("/responses") == 1 and agents.runs_of("refund") == 0
    # The run pod may still be exiting when the phase turns Waiting (its outcome is in the
    # store first); then nothing is left running.
    wait_until(lambda: not [p for p in agents.pods()
                            if p["status"].get("phase") in ("Pending", "Running")],
               timeout=30, what="no pod left while the execution waits")

    agents.patch("review-1", {"answers": {"approve_tool": True}})

    status = agents.wait_phase("review-1", "Succeeded", timeout=180)["status"]
    info = agents.store_client().executions.get(status["executionId"])
    assert info.output == "done: refunded 5"
    shown = agents.kubectl("get", "execution", "review-1", "-n", agents.namespace, "-o",
                           "jsonpath={.status.output.value}").stdout
    assert shown == "done: refunded 5"  # a small output is in status, for kubectl
    assert model_api.count("/responses") == 2  # the first model call was not made again
    assert agents.runs_of("refund") == 1
    assert info.usage is not None and info.usage.calls == 2
