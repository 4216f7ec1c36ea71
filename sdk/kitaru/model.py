"""The base of Kitaru's own documents and summaries: typed dataclasses read from JSON
and written back, without pydantic.

Why not pydantic: every CLI command, resumed run and run pod is a fresh process, and
importing pydantic and building its models costs such a process more than the rest of
its start-up together (see ``bench/startup.py``). These documents are Kitaru's own,
written by Kitaru and read back by Kitaru, so they need a strict check of their shape
with an error that names the document and the field, not a general validator. The
values users pass through Kitaru (flow inputs, checkpoint values, wait answers) are
still checked by pydantic where their types are pydantic's.

A model is a keyword-only dataclass with the part of pydantic's model API Kitaru uses:
``model_validate``, ``model_validate_json``, ``model_dump``, ``model_dump_json`` and
``model_copy``. Reading checks every field against its annotation (``str``, ``int``,
``float``, ``bool``, ``datetime``, ``Literal``, ``X | None``, ``list``, ``dict``, nested
models, ``Any``) and ignores keys it does not know, so a newer writer's documents stay
readable. Unlike pydantic, constructing a model in code does not check it: mypy does.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Literal, TypeVar, Union, dataclass_transform

__all__ = ["Field", "Model", "ModelError"]

M = TypeVar("M", bound="Model")
_Decode = Callable[[Any, tuple[str | int, ...]], Any]


class ModelError(ValueError):
    """A document does not have the shape its model needs.

    Attributes:
        model: The model's name.
        loc: Where in the document: field names and list positions.
        reason: What is wrong there, in plain words.
    """

    def __init__(self, model: str, loc: tuple[str | int, ...], reason: str) -> None:
        self.model, self.loc, self.reason = model, loc, reason
        where = ".".join(str(part) for part in loc)
        super().__init__(f"{model}: {where}: {reason}" if where else f"{model}: {reason}")


def Field(  # noqa: N802  (named as pydantic's, which it stands in for)
    default: Any = dataclasses.MISSING,
    *,
    default_factory: Callable[[], Any] | Any = dataclasses.MISSING,
    description: str | None = None,
    ge: int | None = None,
) -> Any:
    """A field with a default, a description (for readers of the code and the docs) and
    optionally a lower bound ``ge`` that reading checks."""
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"description": description, "ge": ge})


class _ShapeError(Exception):
    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        self.loc, self.reason = loc, reason


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expect(kind: str, check: Callable[[Any], bool],
            convert: Callable[[Any], Any] = lambda v: v) -> _Decode:
    def decode(value: Any, loc: tuple[str | int, ...]) -> Any:
        if not check(value):
            raise _ShapeError(loc, f"must be {kind}, got {_shown(value)}")
        return convert(value)
    return decode


def _int(value: Any, loc: tuple[str | int, ...]) -> int:
    # Whole numbers, and (as environment variables are text) their decimal strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise _ShapeError(loc, f"must be a whole number, got {_shown(value)}")


def _float(value: Any, loc: tuple[str | int, ...]) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _ShapeError(loc, f"must be a number, got {_shown(value)}")


def _datetime(value: Any, loc: tuple[str | int, ...]) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _ShapeError(loc, f"must be a date and time (ISO 8601), got {_shown(value)}")


def _any(value: Any, loc: tuple[str | int, ...]) -> Any:
    return value


_SIMPLE: dict[Any, _Decode] = {
    Any: _any, object: _any, int: _int, float: _float, datetime: _datetime,
    str: _expect("a string", lambda v: isinstance(v, str)),
    bool: _expect("true or false", lambda v: isinstance(v, bool)),
    type(None): _expect("null", lambda v: v is None),
}


def _decoder(hint: Any) -> _Decode:
    """The function that checks (and converts) a value read for the type ``hint``."""
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    if isinstance(hint, type) and issubclass(hint, Model):
        def nested(value: Any, loc: tuple[str | int, ...]) -> Any:
            return hint._from(value, loc)
        return nested
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        allowed = ", ".join(repr(a) for a in args)
        return _expect(f"one of {allowed}", lambda v: any(v == a and type(v) is type(a)
                                                         for a in args))
    if origin in (Union, types.UnionType):
        options = [_decoder(a) for a in args]
        nullable = type(None) in args

        def either(value: Any, loc: tuple[str | int, ...]) -> Any:
            if value is None and nullable:
                return None
            first: _ShapeError | None = None
            for option in options:
                try:
                    return option(value, loc)
                except _ShapeError as problem:
                    first = first or problem
            assert first is not None
            raise first
        return either
    if origin in (list, tuple) and args:
        item = _decoder(args[0])

        def sequence(value: Any, loc: tuple[str | int, ...]) -> Any:
            if not isinstance(value, list | tuple):
                raise _ShapeError(loc, f"must be a list, got {_shown(value)}")
            return origin(item(v, (*loc, i)) for i, v in enumerate(value))
        return sequence
    if origin is dict:
        entry = _decoder(args[1]) if args else _any

        def mapping(value: Any, loc: tuple[str | int, ...]) -> Any:
            if not isinstance(value, dict):
                raise _ShapeError(loc, f"must be an object, got {_shown(value)}")
            out = {}
            for key, v in value.items():
                if not isinstance(key, str):
                    raise _ShapeError(loc, f"keys must be strings, got {_shown(key)}")
                out[key] = entry(v, (*loc, key))
            return out
        return mapping
    if hint in (list, dict):
        return _expect("a list" if hint is list else "an object",
                       lambda v: isinstance(v, hint))
    raise TypeError(f"kitaru.model cannot read fields of type {hint!r}")


@dataclasses.dataclass(frozen=True)
class _Slot:
    name: str
    decode: _Decode
    required: bool
    ge: int | None


def _encode(value: Any, mode: Literal["python", "json"], exclude_none: bool) -> Any:
    if isinstance(value, Model):
        return value.model_dump(mode=mode, exclude_none=exclude_none)
    if isinstance(value, dict):
        return {k: _encode(v, mode, exclude_none) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, mode, exclude_none) for v in value]
    if mode == "json" and isinstance(value, datetime):
        text = value.isoformat()
        # As pydantic writes it (and older journals hold it): UTC as "Z".
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, dataclasses.field))
class Model:
    """A keyword-only dataclass read from and written to JSON; see the module's doc.

    A subclass sets ``forbid_extra = True`` to refuse keys it does not know.
    """

    forbid_extra: ClassVar[bool] = False
    _slots: ClassVar[list[_Slot] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._slots = None
        # Only __init__ is generated per class (each generated method costs the import
        # an exec); equality and repr are the base's.
        dataclasses.dataclass(kw_only=True, repr=False, eq=False)(cls)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f.name) == getattr(other, f.name)
                   for f in dataclasses.fields(self))  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]  # mutable, as dataclasses with eq are

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}"
                          for f in dataclasses.fields(self))  # type: ignore[arg-type]
        return f"{type(self).__name__}({shown})"

    @classmethod
    def _fields(cls) -> list[_Slot]:
        # Built on first read, so a process pays only for the models it reads.
        slots = cls.__dict__.get("_slots")
        if slots is None:
            hints = typing.get_type_hints(cls)
            slots = [_Slot(f.name, _decoder(hints[f.name]),
                           f.default is dataclasses.MISSING
                           and f.default_factory is dataclasses.MISSING,
                           f.metadata.get("ge"))
                     for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
            cls._slots = slots
        return slots

    @classmethod
    def _from(cls: type[M], data: Any, loc: tuple[str | int, ...]) -> M:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise _ShapeError(loc, f"must be an object, got {_shown(data)}")
        slots = cls._fields()
        if cls.forbid_extra:
            known = {s.name for s in slots}
            extra = sorted(str(k) for k in data if k not in known)
            if extra:
                raise _ShapeError(loc, f"has unknown fields {', '.join(extra)}")
        values = {}
        for slot in slots:
            if slot.name not in data:
                if slot.required:
                    raise _ShapeError((*loc, slot.name), "is missing")
                continue
            value = slot.decode(data[slot.name], (*loc, slot.name))
            if slot.ge is not None and value < slot.ge:
                raise _ShapeError((*loc, slot.name), f"must be at least {slot.ge}, got {value}")
            values[slot.name] = value
        return cls(**values)

    @classmethod
    def model_validate(cls: type[M], data: Any) -> M:
        """Read a model from Python data (as ``json.loads`` gives it).

        Raises:
            ModelError: naming the model, the field and what is wrong with it.
        """
        try:
            return cls._from(data, ())
        except _ShapeError as problem:
            raise ModelError(cls.__name__, problem.loc, problem.reason) from None

    @classmethod
    def model_validate_json(cls: type[M], data: str | bytes) -> M:
        """Read a model from JSON text.

        Raises:
            ModelError: The text is not JSON, or not of the model's shape.
        """
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError as exc:
            reason = f"invalid JSON: {exc.msg[:1].lower()}{exc.msg[1:]} at line {exc.lineno} " \
                     f"column {exc.colno}"
            raise ModelError(cls.__name__, (), reason) from None
        except UnicodeDecodeError as exc:
            raise ModelError(cls.__name__, (), f"invalid UTF-8: {exc.reason}") from None
        return cls.model_validate(parsed)

    def model_dump(self, *, mode: Literal["python", "json"] = "python",
                   exclude_none: bool = False) -> dict[str, Any]:
        """The fields as a dict (nested models as dicts); ``mode="json"`` gives what JSON
        can hold (date-times as ISO 8601 text)."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and exclude_none:
                continue
            out[f.name] = _encode(value, mode, exclude_none)
        return out

    def model_dump_json(self, *, indent: int | None = None, exclude_none: bool = False) -> str:
        """The model as JSON text."""
        return json.dumps(self.model_dump(mode="json", exclude_none=exclude_none),
                          indent=indent, ensure_ascii=False,
                          separators=None if indent else (",", ":"))

    def model_copy(self: M, *, update: dict[str, Any] | None = None, deep: bool = False) -> M:
        """A copy with the fields in ``update`` replaced (not checked, as in pydantic)."""
        base = copy.deepcopy(self) if deep else self
        return dataclasses.replace(base, **(update or {}))  # type: ignore[type-var]

