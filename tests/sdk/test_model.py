"""kitaru.model: Kitaru's own documents read from JSON with a strict shape check, written
back as pydantic wrote them, and understood by pydantic where it meets them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from kitaru.model import Field, Model, ModelError
from kitaru.records import CheckpointRecord, RunOutcome, ValueRef, WaitInfo
from kitaru.status import ExecutionInfo

VALUE = {"serializer": "json", "type": "builtins:str", "size": 2, "digest": "ab"}
RECORD = {"id": "draft", "seq": 1, "name": "draft", "value": VALUE, "run": 1,
          "started_at": "2026-12-01T10:00:00.5Z", "finished_at": "2026-12-01T10:00:01Z"}


@pytest.mark.parametrize(("change", "where", "reason"), [
    ({"seq": "one"}, "seq", "must be a whole number, got 'one'"),
    ({"seq": True}, "seq", "must be a whole number, got True"),
    ({"value": {**VALUE, "size": None}}, "value.size", "must be a whole number, got None"),
    ({"parents": ["a", 3]}, "parents.1", "must be a string, got 3"),
    ({"source": "elsewhere"}, "source",
     "must be one of 'run', 'cache', 'replay', 'override', got 'elsewhere'"),
    ({"finished_at": "yesterday"}, "finished_at",
     "must be a date and time (ISO 8601), got 'yesterday'"),
    ({"source": ["run"]}, "source",
     "must be one of 'run', 'cache', 'replay', 'override', got ['run']"),
    ({"metadata": []}, "metadata", "must be an object, got []"),
    ({"arguments": {"x": 1}}, "arguments.x", "must be a string, got 1"),
])
def test_a_bad_field_is_named_with_what_is_wrong(change: dict[str, Any], where: str,
                                                 reason: str) -> None:
    with pytest.raises(ModelError) as caught:
        CheckpointRecord.model_validate_json(json.dumps({**RECORD, **change}))
    assert str(caught.value) == f"CheckpointRecord: {where}: {reason}"
    assert ".".join(map(str, caught.value.loc)) == where and caught.value.reason == reason


def test_a_missing_field_and_text_that_is_not_json_are_named() -> None:
    with pytest.raises(ModelError, match=r"^CheckpointRecord: run: is missing$"):
        CheckpointRecord.model_validate({k: v for k, v in RECORD.items() if k != "run"})
    with pytest.raises(ModelError, match=r"^ValueRef: invalid JSON: expecting value at "
                                         r"line 1 column 1$"):
        ValueRef.model_validate_json(b"\x00")


def test_documents_round_trip_as_pydantic_wrote_them_and_unknown_keys_are_ignored() -> None:
    # A newer writer's field is skipped, not refused; datetimes keep pydantic's "Z".
    record = CheckpointRecord.model_validate_json(json.dumps({**RECORD, "new_field": 1}))
    assert record.started_at == datetime(2026, 12, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert record.attempts == 1 and record.parents == [] and record.source == "run"
    written = json.loads(record.model_dump_json())
    assert written["started_at"] == "2026-12-01T10:00:00.500000Z"
    assert "new_field" not in written
    assert CheckpointRecord.model_validate_json(record.model_dump_json()) == record
    outcome = RunOutcome.model_validate(
        {"run": 2, "outcome": "waiting", "finished_at": "2026-12-01T10:00:00+02:00",
         "wait": {"name": "ok", "schema": {"type": "boolean"}}})
    assert outcome.wait is not None and outcome.wait.schema == {"type": "boolean"}
    assert outcome.finished_at == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert json.loads(outcome.model_dump_json())["finished_at"] == "2026-12-01T10:00:00+02:00"


def test_defaults_are_fresh_copies_and_copies_do_not_share_updates() -> None:
    a, b = WaitInfo(name="a"), WaitInfo(name="b")
    a.metadata["k"] = 1
    assert b.metadata == {}
    c = a.model_copy(update={"name": "c"})
    assert (c.name, a.name, c.metadata) == ("c", "a", {"k": 1})
    deep = a.model_copy(deep=True)
    deep.metadata["k"] = 2
    assert a.metadata == {"k": 1}
    with pytest.raises(TypeError, match="no field"):
        a.model_copy(update={"nmae": "x"})
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        WaitInfo(name="x", nmae="y")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="missing keyword argument 'name'"):
        WaitInfo()  # type: ignore[call-arg]


def test_a_mutable_default_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match="use Field"):
        class Bad(Model):
            tags: list[str] = []  # noqa: RUF012


def test_a_lower_bound_is_checked_on_reading() -> None:
    class Attempt(Model):
        number: int = Field(ge=1)

    assert Attempt.model_validate({"number": "2"}).number == 2
    with pytest.raises(ModelError, match="number: must be at least 1, got 0"):
        Attempt.model_validate({"number": 0})


def test_pydantic_takes_kitaru_models_as_the_objects_of_their_fields() -> None:
    """An MCP tool returning an ExecutionInfo, or a FastAPI route, gets a JSON schema and
    the same JSON as model_dump_json."""
    info = ExecutionInfo(exec_id="e", flow="f", status="waiting", runs=1,
                         created_at=datetime(2026, 12, 1, tzinfo=UTC),
                         updated_at=datetime(2026, 12, 1, tzinfo=UTC),
                         pending_wait=WaitInfo(name="ok", schema={"type": "boolean"}))
    adapter = TypeAdapter(ExecutionInfo)
    schema = adapter.json_schema(mode="serialization")
    assert ExecutionInfo.model_json_schema() == schema
    assert {"exec_id", "status", "pending_wait"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"exec_id", "flow", "status", "runs"}
    assert adapter.dump_json(info).decode() == info.model_dump_json()
    assert adapter.validate_json(info.model_dump_json()) == info
    assert adapter.validate_python(info) is info
