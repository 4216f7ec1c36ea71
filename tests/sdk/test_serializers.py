"""Values keep their exact type through the store, stay readable as plain JSON, and a value
that cannot be stored is refused with the part that is wrong."""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

import kitaru
from kitaru import (
    KitaruExecutionError,
    KitaruSerializationError,
    KitaruUsageError,
    checkpoint,
    flow,
)
from kitaru.serialization import decode, decode_plain, encode, import_type, names, registry
from tests.sdk.sample_flows import Review


class Note(BaseModel):
    text: str
    score: float = 0.0


@dataclasses.dataclass
class Step:
    name: str
    due: date
    notes: list[Note]
    span: tuple[int, tuple[int, int]]


@dataclasses.dataclass(frozen=True)
class Plan:
    id: UUID
    created: datetime
    budget: Decimal
    folder: Path
    steps: list[Step]
    review: Review | None = None
    total: int = dataclasses.field(init=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", len(self.steps) * 10)


class Money:
    def __init__(self, cents: int, currency: str) -> None:
        self.cents = cents
        self.currency = currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (self.cents, self.currency) == (
            other.cents, other.currency)

    def __hash__(self) -> int:
        return hash((self.cents, self.currency))


class Euros(Money):
    pass


class Opaque:
    pass


PLAN = Plan(
    id=UUID("12345678-1234-5678-1234-567812345678"),
    created=datetime(2025, 3, 4, 5, 6, 7, 890, tzinfo=UTC),
    budget=Decimal("1234.50"),
    folder=Path("/data/plans"),
    steps=[Step("draft", date(2025, 3, 5), [Note(text="a", score=0.5)], (1, (2, 3)))],
    review=Review(approved=True, comment="fine"),
)


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Serializers registered by a test vanish after it."""
    monkeypatch.setattr(registry, "_by_type", dict(registry._by_type))
    monkeypatch.setattr(registry, "_by_name", dict(registry._by_name))
    monkeypatch.setattr(registry, "_resolved", {})
    yield


def round_trip(value: Any) -> Any:
    encoded = encode(value, allow_pickle=False, where="checkpoint 'x'")
    return decode(encoded.serializer, encoded.type_name, encoded.data, allow_pickle=False)


@pytest.mark.parametrize("value", [
    datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2025, 1, 2, 3, 4, 5),
    date(2025, 1, 2),
    UUID("12345678-1234-5678-1234-567812345678"),
    Decimal("0.1"),
    Path("relative/file.txt"),
    (1, ("a", (2.5, None)), [3, (4,)]),
    [Note(text="x"), Note(text="y", score=1.0)],
    {"by_name": {"a": Note(text="a")}, "when": [date(2025, 1, 1)]},
    PLAN,
], ids=lambda value: type(value).__name__)
def test_builtin_types_come_back_as_the_same_type(value: Any) -> None:
    back = round_trip(value)
    assert back == value
    assert type(back) is type(value)


def test_nested_values_are_rebuilt_into_their_exact_types() -> None:
    back = round_trip(PLAN)
    step = back.steps[0]
    assert (type(step), type(step.notes[0]), type(step.span[1]), type(back.review)) == (
        Step, Note, tuple, Review)
    assert back.total == 10 and back.created.tzinfo == UTC


def test_typed_values_read_as_plain_json_without_their_types() -> None:
    encoded = encode(PLAN, allow_pickle=False, where="checkpoint 'plan'")
    assert (encoded.serializer, encoded.type_name) == ("typed-json",
                                                         "tests.sdk.test_serializers:Plan")
    assert decode_plain(encoded.serializer, encoded.data) == {
        "id": "12345678-1234-5678-1234-567812345678",
        "created": "2025-03-04T05:06:07.000890+00:00",
        "budget": "1234.50",
        "folder": "/data/plans",
        "steps": [{"name": "draft", "due": "2025-03-05",
                   "notes": [{"text": "a", "score": 0.5}], "span": [1, [2, 3]]}],
        "review": {"approved": True, "comment": "fine"},
        "total": 10,
    }


def test_the_typed_json_form_records_types_beside_the_plain_value() -> None:
    encoded = encode({"at": date(2025, 1, 2), "pair": (1, (2, 3)), "n": 1},
                     allow_pickle=False, where="x")
    assert json.loads(encoded.data) == {
        "value": {"at": "2025-01-02", "pair": [1, [2, 3]], "n": 1},
        "types": {"items": {"at": {"type": "date"},
                            "pair": {"type": "tuple", "items": {"1": {"type": "tuple"}}}}},
    }


def test_plain_json_is_stored_exactly_as_before() -> None:
    for value, serializer, type_name, data in [
        ({"a": [1, 2.5, None, True], "b": "é"}, "json", "builtins:dict",
         '{"a":[1,2.5,null,true],"b":"é"}'.encode()),
        ((1, [2, 3], "x"), "json", "builtins:tuple", b'[1,[2,3],"x"]'),
        (Review(approved=True, comment="ok"), "pydantic", "tests.sdk.sample_flows:Review",
         b'{"approved":true,"comment":"ok"}'),
        (b"\x00\xff", "bytes", "builtins:bytes", b"\x00\xff"),
    ]:
        encoded = encode(value, allow_pickle=False, where="x")
        assert (encoded.serializer, encoded.type_name, encoded.data) == (
            serializer, type_name, data)


# Stored by the version before typed-json; they must read back exactly as they did.
LEGACY = [
    ("json", "builtins:dict", '{"a":[1,2.5,null,true],"b":"é"}'.encode(),
     {"a": [1, 2.5, None, True], "b": "é"}),
    ("json", "builtins:tuple", b'[1,[2,3],"x"]', (1, [2, 3], "x")),
    ("json", "builtins:list", b"[[1,2]]", [[1, 2]]),
    ("pydantic", "tests.sdk.sample_flows:Review", b'{"approved":true,"comment":"ok"}',
     Review(approved=True, comment="ok")),
    ("bytes", "builtins:bytes", b"\x00\xff", b"\x00\xff"),
    ("pickle", "builtins:set",
     b"\x80\x05\x95&\x00\x00\x00\x00\x00\x00\x00\x8f\x94(\x8c\tfractions\x94\x8c\x08Fraction"
     b"\x94\x93\x94K\x01K\x03\x86\x94R\x94\x90.", {Fraction(1, 3)}),
]


@pytest.mark.parametrize(("serializer", "type_name", "data", "expected"), LEGACY,
                         ids=[f"{s}-{t}" for s, t, _, _ in LEGACY])
def test_values_stored_by_earlier_versions_read_back_unchanged(
    serializer: str, type_name: str, data: bytes, expected: Any
) -> None:
    back = decode(serializer, type_name, data)
    assert back == expected and type(back) is type(expected)


def test_decode_plain_reads_every_stored_form() -> None:
    assert decode_plain("json", b"[1,2]") == [1, 2]
    assert decode_plain("pydantic", b'{"approved":true}') == {"approved": True}
    assert decode_plain("bytes", b"\x00\xff") == "<bytes value, 2 bytes>"
    assert decode_plain("pickle", b"12345") == "<pickle value, 5 bytes>"
    typed = encode([UUID(int=1), Decimal("2")], allow_pickle=False, where="x")
    assert decode_plain(typed.serializer, typed.data) == [
        "00000000-0000-0000-0000-000000000001", "2"]


@pytest.mark.parametrize(("value", "message"), [
    ({3: "a"}, "dict key 3 is an int (keys must be strings)"),
    ({"meta": {True: 1}}, "value['meta'] key true is a bool (keys must be strings)"),
    ({"scores": [1.0, 2.0, float("nan")]}, "value['scores'][2] is NaN, which JSON cannot hold"),
    ([float("-inf")], "value[0] is -Infinity, which JSON cannot hold"),
    ({"client": Opaque()},
     "value['client'] is of type tests.sdk.test_serializers:Opaque; return JSON builtins, "
     "bytes, dataclasses, pydantic models, datetimes, UUIDs, Decimals, paths or tuples, opt "
     "in to pickle with pickle=True, or register a serializer with "
     "kitaru.register_serializer"),
    (Step("s", date(2025, 1, 1), [Note(text="n")], (1, (2, [Opaque()]))),  # type: ignore[list-item]
     "value.span[1][1][0] is of type tests.sdk.test_serializers:Opaque;"),
], ids=["int-key", "bool-key", "nan", "infinity", "unknown-type", "inside-dataclass"])
def test_unstorable_values_name_the_offending_part(value: Any, message: str) -> None:
    with pytest.raises(KitaruSerializationError) as refused:
        encode(value, allow_pickle=False, where="checkpoint 'draft'")
    assert str(refused.value).startswith(f"checkpoint 'draft': cannot store the value: {message}")


def test_a_type_defined_inside_a_function_is_refused_before_it_is_stored() -> None:
    @dataclasses.dataclass
    class Local:
        n: int

    with pytest.raises(KitaruSerializationError, match=r"value\[0\] is of type "
                       r"tests\.sdk\.test_serializers:.*<locals>\.Local, defined inside a "
                       "function; define it at the top level of a module"):
        encode([Local(1)], allow_pickle=False, where="checkpoint 'x'")


def test_pickle_opt_in_still_takes_what_json_cannot_hold() -> None:
    encoded = encode({"client": Opaque()}, allow_pickle=True, where="x")
    assert encoded.serializer == "pickle"
    assert type(decode(encoded.serializer, encoded.type_name, encoded.data)["client"]) is Opaque


def test_registered_serializer_stores_a_type_and_its_subclasses(clean_registry: None) -> None:
    kitaru.register_serializer(Money, name="test.money",
                               dumps=lambda m: {"cents": m.cents, "currency": m.currency},
                               loads=lambda d: Money(d["cents"], d["currency"]))
    kitaru.register_serializer(Euros, name="test.euros", dumps=lambda m: m.cents,
                               loads=lambda cents: Euros(cents, "EUR"))

    value = {"price": Money(250, "USD"), "fee": Euros(30, "EUR")}
    back = round_trip(value)

    assert back == value
    assert (type(back["price"]), type(back["fee"])) == (Money, Euros)
    typed = encode(value, allow_pickle=False, where="x")
    assert decode_plain(typed.serializer, typed.data) == {
        "price": {"cents": 250, "currency": "USD"}, "fee": 30}


def test_a_serializers_data_may_hold_other_typed_values(clean_registry: None) -> None:
    kitaru.register_serializer(Money, name="test.money",
                               dumps=lambda m: (m.cents, date(2025, 1, 1)),
                               loads=lambda pair: Money(pair[0], pair[1].isoformat()))

    back = round_trip([Money(5, "ignored")])

    assert back == [Money(5, "2025-01-01")]


def test_a_registered_serializer_takes_precedence_over_dataclass_handling(
    clean_registry: None,
) -> None:
    kitaru.register_serializer(Step, name="test.step", dumps=lambda s: s.name,
                               loads=lambda name: Step(name, date(2000, 1, 1), [], (0, (0, 0))))

    encoded = encode(PLAN.steps[0], allow_pickle=False, where="x")

    assert decode_plain(encoded.serializer, encoded.data) == "draft"
    assert round_trip(PLAN.steps[0]).due == date(2000, 1, 1)


def test_a_value_whose_serializer_is_not_registered_names_it(clean_registry: None) -> None:
    kitaru.register_serializer(Money, name="test.money", dumps=lambda m: m.cents,
                               loads=lambda cents: Money(cents, "USD"))
    encoded = encode(Money(1, "USD"), allow_pickle=False, where="x")
    del registry._by_name["test.money"]

    with pytest.raises(KitaruSerializationError, match=r"no serializer named 'test\.money' "
                       "is registered in this process; import the module that registers it"):
        decode(encoded.serializer, encoded.type_name, encoded.data)


@pytest.mark.parametrize(("cls", "name", "message"), [
    (dict, "mine", "values of type builtins:dict are stored as they are"),
    (Money, "has:colon", r"name 'has:colon' for tests\.sdk\.test_serializers:Money must start"),
    (Money, "datetime", "name 'datetime' is already registered for datetime:datetime"),
])
def test_registering_is_refused_with_the_reason(
    clean_registry: None, cls: type, name: str, message: str
) -> None:
    with pytest.raises(KitaruUsageError, match=message):
        kitaru.register_serializer(cls, name=name, dumps=str, loads=str)


def test_old_main_records_are_read_from_the_flows_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(names, "_read_from", {})
    names.use_flow_module("tests.sdk.sample_flows")

    assert import_type("__main__:Review") is Review
    old_pickle = pickle.dumps(Review(approved=True), protocol=2).replace(
        b"ctests.sdk.sample_flows\nReview\n", b"c__main__\nReview\n")
    assert b"__main__" in old_pickle
    assert decode("pickle", "__main__:Review", old_pickle) == Review(approved=True)


@checkpoint
def bad_keys() -> dict[int, str]:
    return {3: "three"}


@checkpoint
def make_plan() -> Plan:
    return PLAN


@flow
def plan_flow() -> str:
    plan = make_plan()
    assert isinstance(plan.steps[0], Step)
    kitaru.wait(name="go")
    return f"{type(plan).__name__} with {len(plan.steps)} step(s) due {plan.steps[0].due}"


@flow
def bad_keys_flow() -> None:
    bad_keys()


def test_a_checkpoint_returning_a_dataclass_resumes_with_it(store_uri: str) -> None:
    handle = plan_flow.run()
    info = kitaru.KitaruClient().executions.get(handle.exec_id)
    assert [(c.id, c.value_type) for c in info.checkpoints] == [
        ("make_plan", "tests.sdk.test_serializers:Plan")]

    resumed = kitaru.KitaruClient().executions.input(handle.exec_id, wait="go", value=True)

    assert resumed.wait(timeout=60) == "Plan with 1 step(s) due 2025-03-05"


def test_a_checkpoint_value_that_cannot_be_stored_fails_the_run_naming_it(
    store_uri: str,
) -> None:
    handle = bad_keys_flow.run()

    with pytest.raises(KitaruExecutionError) as failed:
        handle.wait()

    assert failed.value.error_type == "KitaruSerializationError"
    assert ("checkpoint 'bad_keys': cannot store the value: dict key 3 is an int (keys must "
            "be strings)") in str(failed.value)
