"""The OpenAI Agents SDK under Kitaru: approvals that wait with no process, and runs that
never pay for a finished model call twice.

The SDK keeps its real OpenAI client; ``OPENAI_BASE_URL`` points it at the fake
Responses API of ``tests/fakes/model_api.py``, which counts every request.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kitaru import KitaruClient
from tests.fakes.model_api import ModelAPI, function_call, message, serve, tool_outputs
from tests.sdk.polling import settled
from tests.sdk.sample_flows import runs_of

ROOT = Path(__file__).resolve().parents[2]


def support_model(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Ask for the tools the agent has, one call each; then answer with their outputs."""
    outputs = tool_outputs(body)
    tools = [t["name"] for t in body.get("tools") or []]
    if "lookup" in tools and "call_lookup" not in outputs:
        return [function_call("lookup", {"order": "A-7"}, "call_lookup")]
    if "call_refund" not in outputs:
        return [function_call("refund", {"amount": 5}, "call_refund")]
    return [message("done: " + "; ".join(outputs[k] for k in sorted(outputs)))]


@pytest.fixture
def model_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelAPI]:
    with serve(ModelAPI(support_model)) as api:
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
        yield api


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False)


def test_an_approval_waits_with_no_process_and_resumes_without_rebilling(
    store_uri: str, counters: Path, model_api: ModelAPI,
) -> None:
    from tests.sdk.agent_flows import review_flow

    handle = review_flow.run(case="Case C-001")
    client = KitaruClient()
    info = client.executions.get(handle.exec_id)
    assert info.status == "waiting" and info.pid is None
    assert info.pending_wait is not None and info.pending_wait.name == "approve_tool"
    assert "refund" in (info.pending_wait.question or "")
    assert "state" not in str(info.pending_wait.model_dump())  # no RunState in the wait
    assert model_api.count("/responses") == 1 and runs_of(counters, "refund") == 0

    answered = cli("executions", "input", handle.exec_id, "--wait", "approve_tool",
                   "--value", "true")  # resumes in a fresh process
    assert answered.returncode == 0, answered.stderr
    assert handle.wait(timeout=60) == "done: refunded 5"
    assert model_api.count("/responses") == 2  # the first model call was not repeated
    assert runs_of(counters, "refund") == 1
    info = client.executions.get(handle.exec_id)
    assert [c.id for c in info.checkpoints] == ["reviewer_runner_call",
                                                "reviewer_runner_call_2"]
    first = next(a for a in client.artifacts.list(handle.exec_id)
                 if a.name == "reviewer_runner_call")
    stored = first.load()
    assert stored.status == "interrupted" and stored.state  # the RunState lives here
    assert info.usage is not None and info.usage.input_tokens == 24


def test_a_rejection_reaches_the_model_and_the_tool_never_runs(
    store_uri: str, counters: Path, model_api: ModelAPI,
) -> None:
    from tests.sdk.agent_flows import review_flow

    handle = review_flow.run(case="Case C-002")
    KitaruClient().executions.input(handle.exec_id, wait="approve_tool",
                                    value={"approve": False, "message": "not eligible"})
    assert handle.wait(timeout=60) == "done: not eligible"
    assert runs_of(counters, "refund") == 0


def test_per_call_checkpoints_keep_model_calls_when_a_tool_fails_and_is_retried(
    store_uri: str, counters: Path, model_api: ModelAPI,
) -> None:
    from tests.sdk.agent_flows import track_flow

    handle = track_flow.run(case="Where is A-7?")
    client = KitaruClient()
    assert client.executions.get(handle.exec_id).status == "failed"
    assert model_api.count("/responses") == 1 and runs_of(counters, "lookup") == 1

    (counters / "gate-fixed").touch()
    client.executions.retry(handle.exec_id)  # a new process
    info = settled(client, handle.exec_id)
    assert info.status == "waiting"  # the lookup went through; the refund asks first
    assert model_api.count("/responses") == 2  # the first model call was reused
    client.executions.input(handle.exec_id, wait="approve_tool", value=True)
    assert handle.wait(timeout=60) == "done: order A-7: shipped; refunded 5"
    assert model_api.count("/responses") == 3
    assert (runs_of(counters, "lookup"), runs_of(counters, "refund")) == (2, 1)
    ids = [c.id for c in client.executions.get(handle.exec_id).checkpoints]
    assert ids == ["tracker_model_call", "tracker_lookup_call_lookup", "tracker_model_call_2",
                   "tracker_run_state", "tracker_refund_call_refund", "tracker_model_call_3"]
    types = {c.id: c.type for c in client.executions.get(handle.exec_id).checkpoints}
    assert types["tracker_model_call"] == "llm_call"
    assert types["tracker_lookup_call_lookup"] == "tool_call"


def test_an_async_flow_awaits_the_runner(
    store_uri: str, counters: Path, model_api: ModelAPI,
) -> None:
    from tests.sdk.agent_flows import review_async

    handle = review_async.run(case="Case C-003")
    KitaruClient().executions.input(handle.exec_id, wait="approve_tool", value=True)
    assert handle.wait(timeout=60) == "done: refunded 5"
    assert model_api.count("/responses") == 2


def test_a_replay_from_a_model_call_reruns_it_and_reuses_what_came_before(
    store_uri: str, counters: Path, model_api: ModelAPI,
) -> None:
    from tests.sdk.agent_flows import track_flow

    (counters / "gate-fixed").touch()
    handle = track_flow.run(case="Where is A-7?")
    client = KitaruClient()
    client.executions.input(handle.exec_id, wait="approve_tool", value=True)
    handle.wait(timeout=60)
    assert model_api.count("/responses") == 3

    replay = client.executions.replay(handle.exec_id, at="tracker_model_call_3")
    assert replay.wait(timeout=60) == "done: order A-7: shipped; refunded 5"
    assert model_api.count("/responses") == 4  # only the last model call ran again
    assert (runs_of(counters, "lookup"), runs_of(counters, "refund")) == (1, 1)
    records = {c.id: c for c in client.executions.get(replay.exec_id).checkpoints}
    assert records["tracker_model_call"].source != "run"
    assert {r.value_type for r in records.values()} <= {
        "builtins:dict", "builtins:str"}  # JSON, never pickle


def test_several_tool_calls_at_once_wait_for_a_decision_each(
    store_uri: str, counters: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def two_refunds(body: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = tool_outputs(body)
        if not outputs:
            return [function_call("refund", {"amount": 5}, "call_a"),
                    function_call("refund", {"amount": 7}, "call_b")]
        return [message("done: " + "; ".join(outputs[k] for k in sorted(outputs)))]

    from tests.sdk.agent_flows import review_flow

    with serve(ModelAPI(two_refunds)) as api:
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
        handle = review_flow.run(case="Two refunds")
        client = KitaruClient()
        wait = client.executions.get(handle.exec_id).pending_wait
        assert wait is not None and "call_a, call_b" in (wait.question or "")
        client.executions.input(handle.exec_id, wait="approve_tool", value={
            "call_a": True, "call_b": {"approve": False, "message": "too much"}})
        assert handle.wait(timeout=60) == "done: refunded 5; too much"
    assert runs_of(counters, "refund") == 1
