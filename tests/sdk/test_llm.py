"""kitaru.llm(): each model call a checkpoint, never paid for twice.

The model is the fake provider API of ``tests/fakes/model_api.py`` on loopback, reached
by the real ``openai`` and ``anthropic`` clients through their base-URL variables.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import kitaru
from kitaru import KitaruClient, KitaruUsageError
from tests.fakes.model_api import ModelAPI, serve, user_text
from tests.sdk.llm_flows import ask_claude, summarize_and_approve

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def model_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelAPI]:
    with serve(ModelAPI(text=lambda body: f"[{user_text(body)}]")) as api:
        monkeypatch.setenv("OPENAI_BASE_URL", api.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", f"http://127.0.0.1:{api.port}")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        yield api


def test_each_call_is_a_checkpoint_and_a_resume_pays_for_none_again(
    store_uri: str, model_api: ModelAPI,
) -> None:
    handle = summarize_and_approve.run(topic="tides")
    assert model_api.count("/chat/completions") == 2

    client = KitaruClient()
    client.executions.input(handle.exec_id, wait="publish", value=True)  # a new process
    assert handle.wait(timeout=60) == "[Write from: [Outline tides]]"
    assert model_api.count("/chat/completions") == 2  # the resume called no model

    first, second = model_api.bodies("/chat/completions")
    assert first["model"] == "gpt-4o-mini" and "max_tokens" not in first
    assert second["messages"][0] == {"role": "system", "content": "You write briefly."}
    assert second["max_tokens"] == 200
    info = client.executions.get(handle.exec_id)
    calls = {c.id: c for c in info.checkpoints}
    assert calls["outline"].type == "llm_call"
    usage = calls["draft"].metadata["kitaru.usage"]
    assert (usage["model"], usage["input_tokens"], usage["output_tokens"]) == (
        "gpt-4o-mini", 12, 5)
    assert usage["cost_usd"] > 0 and usage["latency_seconds"] >= 0
    assert info.usage is not None
    assert (info.usage.calls, info.usage.input_tokens, info.usage.output_tokens) == (2, 24, 10)
    prompt = next(a for a in client.artifacts.list(handle.exec_id)
                  if a.name == "draft.prompt")
    assert prompt.load() == {"system": "You write briefly.",
                             "prompt": "Write from: [Outline tides]"}

    shown = subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "get",
                            handle.exec_id], capture_output=True, text=True, cwd=ROOT,
                           check=True).stdout
    assert "model usage: 2 call(s), 24 tokens in, 10 out, about $" in shown


def test_a_replay_from_a_call_pays_for_it_and_what_follows_only(
    store_uri: str, model_api: ModelAPI,
) -> None:
    handle = summarize_and_approve.run(topic="tides")
    client = KitaruClient()
    client.executions.input(handle.exec_id, wait="publish", value=True)
    handle.wait(timeout=60)

    replay = client.executions.replay(handle.exec_id, at="draft")  # in a new process
    deadline = time.monotonic() + 60
    while client.executions.get(replay.exec_id).status == "running":
        assert time.monotonic() < deadline, "the replay did not stop running"
        time.sleep(0.1)
    if client.executions.get(replay.exec_id).status == "waiting":
        client.executions.input(replay.exec_id, wait="publish", value=True)
    assert replay.wait(timeout=60) == "[Write from: [Outline tides]]"
    assert model_api.count("/chat/completions") == 3  # draft again; outline reused
    assert model_api.bodies("/chat/completions")[-1]["messages"][-1]["content"] == (
        "Write from: [Outline tides]")


def test_anthropic_models_go_through_anthropics_own_client(
    store_uri: str, model_api: ModelAPI,
) -> None:
    assert ask_claude.run(question="Why is the sea salty?").wait() == "[Why is the sea salty?]"
    (body,) = model_api.bodies("/messages")
    assert body["model"] == "claude-sonnet-4-5" and body["temperature"] == 0.2
    assert body["max_tokens"] == 1024


def test_outside_a_flow_it_is_a_plain_call(model_api: ModelAPI) -> None:
    assert kitaru.llm("hello", model="gpt-4o-mini") == "[hello]"


def test_a_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(KitaruUsageError, match="openai needs OPENAI_API_KEY, which is not set"):
        kitaru.llm("hello", model="openai:gpt-4o-mini")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(KitaruUsageError, match="ANTHROPIC_API_KEY"):
        kitaru.llm("hello", model="anthropic:claude-sonnet-4-5")


def test_no_model_or_an_unknown_provider_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KITARU_LLM_MODEL", raising=False)
    with pytest.raises(KitaruUsageError, match="set KITARU_LLM_MODEL"):
        kitaru.llm("hello")
    with pytest.raises(KitaruUsageError, match="model 'gemnai:x': use provider:model"):
        kitaru.llm("hello", model="gemnai:x")


def test_ollama_and_azure_go_through_the_openai_client_at_their_own_endpoints(
    model_api: ModelAPI, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", model_api.base_url)
    assert kitaru.llm("hi", model="ollama:llama3.2") == "[hi]"  # no key needed
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-test")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", f"http://127.0.0.1:{model_api.port}")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    assert kitaru.llm("hello", model="azure:my-deployment") == "[hello]"
    ollama, azure = model_api.requests
    assert ollama[0] == "/v1/chat/completions" and ollama[1]["model"] == "llama3.2"
    assert azure[0] == "/openai/deployments/my-deployment/chat/completions"
