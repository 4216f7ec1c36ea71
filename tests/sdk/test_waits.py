"""Waits: stop with no process left, validate answers, resume in a new process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruStateError, KitaruWaitValidationError
from tests.sdk.sample_flows import approval_flow, review_flow, runs_of


def test_unanswered_wait_ends_the_run_waiting_with_question_and_schema(
    store_uri: str, counters: Path
) -> None:
    handle = approval_flow.run(topic="tides")

    info = KitaruClient().executions.get(handle.exec_id)
    assert info.status == "waiting"
    assert info.pid is None
    assert info.pending_wait is not None
    assert info.pending_wait.name == "approve"
    assert info.pending_wait.question == "Publish?"
    assert info.pending_wait.schema == {"type": "boolean"}
    assert [c.id for c in info.checkpoints] == ["research", "draft"]
    with pytest.raises(KitaruStateError, match="waiting for input on 'approve'"):
        handle.wait(timeout=5)


def test_answer_resumes_in_a_new_process_without_rerunning_checkpoints(
    store_uri: str, counters: Path
) -> None:
    handle = approval_flow.run(topic="tides")
    client = KitaruClient()

    client.executions.input(handle.exec_id, wait="approve", value=True)

    assert handle.wait(timeout=60) == "published Draft: notes on tides"
    assert (runs_of(counters, "research"), runs_of(counters, "draft"),
            runs_of(counters, "publish")) == (1, 1, 1)
    info = client.executions.get(handle.exec_id)
    assert info.runs == 2
    assert "run 2" in client.executions.logs(handle.exec_id)


def test_invalid_answer_is_rejected_and_the_execution_keeps_waiting(
    store_uri: str, counters: Path
) -> None:
    handle = approval_flow.run(topic="tides")
    client = KitaruClient()

    with pytest.raises(KitaruWaitValidationError) as rejected:
        client.executions.input(handle.exec_id, wait="approve", value="yes")

    assert str(rejected.value) == (
        f"execution {handle.exec_id}: input for wait 'approve' must be a boolean, got \"yes\""
    )
    assert handle.status == "waiting"
    client.executions.input(handle.exec_id, wait="approve", value=False)
    assert handle.wait(timeout=60) == "rejected"
    assert runs_of(counters, "publish") == 0


def test_pydantic_schema_answer_is_validated_and_typed(store_uri: str, counters: Path) -> None:
    handle = review_flow.run(topic="moss")
    client = KitaruClient()
    schema = client.executions.get(handle.exec_id).pending_wait.schema  # type: ignore[union-attr]
    assert schema is not None and schema["required"] == ["approved"]

    with pytest.raises(KitaruWaitValidationError, match="'approved' is a required property"):
        client.executions.input(handle.exec_id, wait="review", value={"comment": "meh"})
    client.executions.input(handle.exec_id, wait="review",
                            value={"approved": True, "comment": "fine"})

    assert handle.wait(timeout=60) == "Draft: notes on moss | True fine"


def test_answer_to_a_wait_the_execution_is_not_on_is_refused(
    store_uri: str, counters: Path
) -> None:
    handle = approval_flow.run(topic="tides")
    client = KitaruClient()

    with pytest.raises(Exception, match="waiting on 'approve', not 'aprove'"):
        client.executions.input(handle.exec_id, wait="aprove", value=True)
    assert handle.status == "waiting"


def test_accepted_answer_is_final(store_uri: str, counters: Path) -> None:
    handle = approval_flow.run(topic="tides")
    client = KitaruClient()
    client.executions.input(handle.exec_id, wait="approve", value=True)
    handle.wait(timeout=60)

    with pytest.raises(KitaruStateError, match="completed, not waiting"):
        client.executions.input(handle.exec_id, wait="approve", value=False)


def test_aborted_wait_fails_the_execution(store_uri: str, counters: Path) -> None:
    handle = approval_flow.run(topic="tides")
    client = KitaruClient()

    client.executions.abort_wait(handle.exec_id, wait="approve")

    with pytest.raises(Exception, match="wait 'approve' was aborted"):
        handle.wait(timeout=60)
    assert handle.status == "failed"
    assert runs_of(counters, "publish") == 0


def test_cancel_of_a_waiting_execution(store_uri: str, counters: Path) -> None:
    handle = approval_flow.run(topic="tides")
    client = KitaruClient()

    client.executions.cancel(handle.exec_id)

    assert handle.status == "cancelled"
    with pytest.raises(KitaruStateError, match="cancelled, not waiting"):
        client.executions.input(handle.exec_id, wait="approve", value=True)


@pytest.mark.parametrize("plain", [bool, str, int, float])
@pytest.mark.parametrize("answer", [True, False, 0, 3, -2, 2.5, 1.0, "yes", "", None, [1], {}])
def test_plain_wait_types_give_pydantics_schema_and_accept_what_it_accepts(
        plain: type, answer: object) -> None:
    """bool, str, int and float waits skip pydantic in a resumed run: the schema they
    record and the recorded answers they take as they are must be pydantic's."""
    from pydantic import TypeAdapter, ValidationError

    from kitaru.waits import _PLAIN, schema_of

    assert schema_of(plain) == TypeAdapter(plain).json_schema()
    try:
        strict = TypeAdapter(plain).validate_json(json.dumps(answer), strict=True)
    except ValidationError:
        strict = ValidationError
    if _PLAIN[plain][1](answer):  # taken as it is: pydantic takes it, unchanged
        assert strict == answer and type(strict) is type(answer)
