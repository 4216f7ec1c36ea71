"""The quick answer check agrees with jsonschema wherever it decides, and decides for the
schemas pydantic gives the types waits are declared with (so a good answer to them never
loads jsonschema)."""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, TypeAdapter

from kitaru.schema_check import verdict

KEYS = st.sampled_from(["a", "b", "c"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 0.5, -1.5])
    | st.text(alphabet="ab1", max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
TYPES = st.sampled_from(["null", "boolean", "integer", "number", "string", "array", "object"])
LEAF = st.one_of(
    st.builds(lambda t: {"type": t}, TYPES),
    st.builds(lambda ts: {"type": ts}, st.lists(TYPES, min_size=1, max_size=3)),
    st.builds(lambda vs: {"enum": vs}, st.lists(JSON, min_size=1, max_size=3)),
    st.builds(lambda v: {"const": v}, JSON),
    st.builds(lambda k, n: {k: n}, st.sampled_from(["minimum", "maximum", "exclusiveMinimum",
                                                    "exclusiveMaximum"]),
              st.integers(-3, 3) | st.sampled_from([0.5, -0.5])),
    st.builds(lambda k, n: {k: n}, st.sampled_from(["minLength", "maxLength", "minItems",
                                                    "maxItems", "minProperties",
                                                    "maxProperties"]), st.integers(0, 3)),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a", "1$", "b"])),
    st.sampled_from([{}, True, False, {"title": "T", "description": "d"},
                     {"uniqueItems": True}, {"multipleOf": 2}, {"format": "date-time"}]),
)


def _merge(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


SCHEMA = st.recursive(LEAF, lambda inner: st.one_of(
    st.builds(lambda props, req, extra: _merge(
        {"type": "object", "properties": props, "required": req},
        {} if extra is None else {"additionalProperties": extra}),
        st.dictionaries(KEYS, inner, max_size=3), st.lists(KEYS, max_size=2),
        st.none() | inner),
    st.builds(lambda items, n: {"type": "array", "items": items, "minItems": n}, inner,
              st.integers(0, 2)),
    st.builds(lambda k, options: {k: options}, st.sampled_from(["anyOf", "allOf", "oneOf"]),
              st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda s: {"not": s}, inner),
    st.builds(lambda a, b: a | b if isinstance(a, dict) and isinstance(b, dict) else a,
              inner, inner),
), max_leaves=6)


def _valid(schema: Any, value: Any) -> bool:
    return bool(jsonschema.Draft202012Validator(schema).is_valid(value))


@settings(max_examples=1500, deadline=None)
@given(SCHEMA, JSON)
def test_where_the_quick_check_decides_it_agrees_with_jsonschema(schema: Any,
                                                                 value: Any) -> None:
    decided = verdict(schema, value)
    if decided is not None:
        assert decided == _valid(schema, value), (schema, value)


@settings(max_examples=300, deadline=None)
@given(SCHEMA, JSON)
def test_a_local_ref_is_followed(schema: Any, value: Any) -> None:
    root = {"$defs": {"Inner": schema}, "$ref": "#/$defs/Inner"}
    decided = verdict(root, value)
    if decided is not None:
        assert decided == _valid(root, value), (root, value)


class Address(BaseModel):
    street: str
    number: int = Field(ge=1)


class Review(BaseModel):
    approved: bool
    notes: str | None = None
    score: float = Field(default=0.5, ge=0, le=1)
    tags: list[str] = []
    level: Literal["low", "high"] = "low"
    address: Address | None = None
    extra: dict[str, int] = {}


@pytest.mark.parametrize(("schema_type", "good", "bad"), [
    (bool, True, "yes"),
    (str, "ok", 3),
    (int, 3, 2.5),
    (float, 2.5, "x"),
    (list[int], [1, 2], [1, "2"]),
    (Literal["a", "b"], "a", "c"),
    (int | None, None, "x"),
    (Review, {"approved": True, "notes": None, "score": 1, "tags": ["x"], "level": "high",
              "address": {"street": "Elm", "number": 4}, "extra": {"k": 1}},
     {"approved": True, "address": {"street": "Elm", "number": 0}}),
])
def test_the_schemas_pydantic_gives_common_wait_types_are_decided(
        schema_type: Any, good: Any, bad: Any) -> None:
    schema = TypeAdapter(schema_type).json_schema()
    assert verdict(schema, good) is True and _valid(schema, good)
    assert verdict(schema, bad) is False and not _valid(schema, bad)


def test_a_keyword_it_does_not_know_is_left_to_jsonschema() -> None:
    assert verdict({"type": "array", "uniqueItems": True}, [1, 1]) is None
    assert verdict({"$ref": "https://example.com/schema.json"}, 1) is None
    assert verdict({"type": "array", "prefixItems": [{"type": "integer"}],
                    "items": {"type": "string"}}, [1, "a"]) is None
