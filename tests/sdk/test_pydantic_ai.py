"""PydanticAI under Kitaru, with PydanticAI's own FunctionModel: model requests and tool
calls as checkpoints (through PydanticAI's durable-engine API), deferred tools as waits."""

from __future__ import annotations

from pathlib import Path

from kitaru import KitaruClient
from tests.sdk.polling import settled
from tests.sdk.sample_flows import runs_of


def test_a_failing_tool_is_retried_without_repeating_model_calls_and_approval_waits(
    store_uri: str, counters: Path,
) -> None:
    from tests.sdk.pydantic_flows import support_flow

    handle = support_flow.run(question="Where is A-7?")
    client = KitaruClient()
    assert client.executions.get(handle.exec_id).status == "failed"
    assert (runs_of(counters, "model"), runs_of(counters, "lookup")) == (1, 1)

    (counters / "gate-fixed").touch()
    client.executions.retry(handle.exec_id)  # a new process
    info = settled(client, handle.exec_id)
    assert info.status == "waiting" and info.pending_wait is not None
    assert info.pending_wait.name == "approve_tool"
    assert "refund" in (info.pending_wait.question or "")
    assert (runs_of(counters, "model"), runs_of(counters, "lookup")) == (2, 2)

    client.executions.input(handle.exec_id, wait="approve_tool", value=True)
    assert handle.wait(timeout=60) == "done: order A-7: shipped; refunded 5"
    assert (runs_of(counters, "model"), runs_of(counters, "refund")) == (3, 1)
    checkpoints = client.executions.get(handle.exec_id).checkpoints
    names = [(c.id, c.type) for c in checkpoints]
    assert names == [
        ("support__model.request", "llm_call"),
        ("support__function_toolset___agent_.call_tool_lookup", "tool_call"),
        ("support__model.request_2", "llm_call"),
        ("support__function_toolset___agent_.call_tool_refund", "tool_call"),
        ("support__model.request_3", "llm_call"),
    ]


def test_a_rejected_approval_reaches_the_model_and_the_tool_never_runs(
    store_uri: str, counters: Path,
) -> None:
    from tests.sdk.pydantic_flows import support_flow

    (counters / "gate-fixed").touch()
    handle = support_flow.run(question="Refund please")
    client = KitaruClient()
    client.executions.input(handle.exec_id, wait="approve_tool",
                            value={"approve": False, "message": "not eligible"})
    assert handle.wait(timeout=60) == "done: order A-7: shipped; not eligible"
    assert runs_of(counters, "refund") == 0


def test_a_turn_checkpoint_and_an_external_call_answered_through_a_wait(
    store_uri: str, counters: Path,
) -> None:
    from tests.sdk.pydantic_flows import warehouse_flow

    handle = warehouse_flow.run(question="How many left?")
    client = KitaruClient()
    info = client.executions.get(handle.exec_id)
    assert info.status == "waiting" and info.pending_wait is not None
    assert "Result of tool call ask_warehouse" in (info.pending_wait.question or "")
    assert runs_of(counters, "model") == 1

    client.executions.input(handle.exec_id, wait="approve_tool", value="12 in stock")
    assert handle.wait(timeout=60) == "done: 12 in stock"
    assert runs_of(counters, "model") == 2  # the first turn was not run again
    ids = [c.id for c in client.executions.get(handle.exec_id).checkpoints]
    assert ids == ["asker_turn", "asker_turn_2"]


def test_pydantic_ais_test_model_runs_through_checkpoints_and_outside_a_flow(
    store_uri: str, counters: Path,
) -> None:
    from kitaru.adapters.pydantic_ai import KitaruAgent
    from tests.sdk.pydantic_flows import add_flow, adder

    handle = add_flow.run()
    assert handle.wait(timeout=60) == '{"add":0}'
    types = [c.type for c in KitaruClient().executions.get(handle.exec_id).checkpoints]
    assert types == ["llm_call", "tool_call", "llm_call"]
    assert KitaruAgent(adder).run_sync("add").output == '{"add":0}'  # no flow: plain run
    assert runs_of(counters, "add") == 2
