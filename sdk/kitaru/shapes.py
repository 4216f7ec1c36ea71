"""Checking a value read from JSON against a field's annotation, for :mod:`kitaru.model`.

:func:`decoder` turns an annotation (``str``, ``int``, ``float``, ``bool``, ``datetime``,
``Literal``, ``X | None``, ``list``, ``dict``, a nested model, ``Any``) into a function
that returns the value, converted where JSON cannot hold the type (an ISO 8601 string
becomes a datetime; an environment variable's digits become an int), or raises
:class:`ShapeError` saying where and why.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Union

__all__ = ["ANY", "MISSING", "Decode", "ShapeError", "decoder", "exact_types", "reader", "shown"]

Decode = Callable[[Any, tuple[str | int, ...]], Any]


class ShapeError(Exception):
    """A value read does not fit its annotation: where (field names and list positions)
    and why."""

    def __init__(self, loc: tuple[str | int, ...], reason: str) -> None:
        self.loc, self.reason = loc, reason


def shown(value: Any) -> str:
    """``repr(value)``, cut to 60 characters for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expect(kind: str, check: Callable[[Any], bool]) -> Decode:
    def decode(value: Any, loc: tuple[str | int, ...]) -> Any:
        if not check(value):
            raise ShapeError(loc, f"must be {kind}, got {shown(value)}")
        return value
    return decode


def _int(value: Any, loc: tuple[str | int, ...]) -> int:
    # Whole numbers, and (as environment variables are text) their decimal strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ShapeError(loc, f"must be a whole number, got {shown(value)}")


def _float(value: Any, loc: tuple[str | int, ...]) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ShapeError(loc, f"must be a number, got {shown(value)}")


def _datetime(value: Any, loc: tuple[str | int, ...]) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ShapeError(loc, f"must be a date and time (ISO 8601), got {shown(value)}")


def _any(value: Any, loc: tuple[str | int, ...]) -> Any:
    return value


_SIMPLE: dict[Any, Decode] = {
    Any: _any, object: _any, int: _int, float: _float, datetime: _datetime,
    str: _expect("a string", lambda v: isinstance(v, str)),
    bool: _expect("true or false", lambda v: isinstance(v, bool)),
    type(None): _expect("null", lambda v: v is None),
}


#: A field left out (``None`` is a value like any other).
MISSING: Any = object()

#: :func:`exact_types` for ``Any``: a value of any type is kept as it is.
ANY: frozenset[type] = frozenset({object})


def exact_types(hint: Any) -> frozenset[type] | None:
    """The types whose values fit ``hint`` as they are, with nothing to check or convert
    (``str`` for ``str | None``... and ``NoneType``); None when every value needs its
    decoder. Reading takes this fast path for almost every field of a record."""
    if hint is Any or hint is object:
        return ANY
    if hint in (str, bool, int, float, datetime, type(None)):
        return frozenset({hint})
    if isinstance(hint, type) and hasattr(hint, "__kitaru_fields__"):
        return frozenset({hint})
    if typing.get_origin(hint) in (Union, types.UnionType):
        options = [exact_types(a) for a in typing.get_args(hint)]
        if any(o is None for o in options):
            return None
        return ANY if ANY in options else frozenset().union(*options)  # type: ignore[arg-type]
    return None


def decoder(hint: Any) -> Decode:
    """The function that checks (and converts) a value read for the type ``hint``."""
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    if isinstance(hint, type) and hasattr(hint, "__kitaru_fields__"):  # a kitaru.model.Model
        nested: Decode = typing.cast(Any, hint)._from
        return nested
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        allowed = ", ".join(repr(a) for a in args)
        members = frozenset((type(a), a) for a in args)  # True is not 1, "1" is not 1

        def member(value: Any) -> bool:
            try:
                return (type(value), value) in members
            except TypeError:  # a list or an object: unhashable, and no member
                return False
        return _expect(f"one of {allowed}", member)
    if origin in (Union, types.UnionType):
        options = [decoder(a) for a in args]
        nullable = type(None) in args

        def either(value: Any, loc: tuple[str | int, ...]) -> Any:
            if value is None and nullable:
                return None
            first: ShapeError | None = None
            for option in options:
                try:
                    return option(value, loc)
                except ShapeError as problem:
                    first = first or problem
            assert first is not None
            raise first
        return either
    if origin is list and args:
        item, item_exact = decoder(args[0]), exact_types(args[0])

        def sequence(value: Any, loc: tuple[str | int, ...]) -> Any:
            if not isinstance(value, list | tuple):
                raise ShapeError(loc, f"must be a list, got {shown(value)}")
            if type(value) is list and (item_exact is ANY or (
                    item_exact is not None and all(type(v) in item_exact for v in value))):
                return value
            return [item(v, (*loc, i)) for i, v in enumerate(value)]
        return sequence
    if origin is dict:
        entry = decoder(args[1]) if args else _any
        entry_exact = exact_types(args[1]) if args else ANY

        def mapping(value: Any, loc: tuple[str | int, ...]) -> Any:
            if not isinstance(value, dict):
                raise ShapeError(loc, f"must be an object, got {shown(value)}")
            if type(value) is dict and all(type(k) is str for k in value) and (
                    entry_exact is ANY or (entry_exact is not None and all(
                        type(v) in entry_exact for v in value.values()))):
                return value
            out = {}
            for key, v in value.items():
                if not isinstance(key, str):
                    raise ShapeError(loc, f"keys must be strings, got {shown(key)}")
                out[key] = entry(v, (*loc, key))
            return out
        return mapping
    raise TypeError(f"kitaru.model cannot read fields of type {hint!r}")


def reader(cls: type, fields: list[tuple[str, Any, Any, Any, int | None]]) -> Decode:
    """The function that reads an instance of the model ``cls`` from a dict, given its
    fields as (name, annotation, default, default factory, lower bound).

    It is generated as straight-line code, one block per field, as dataclasses generates
    ``__init__``: every record a run or a command reads goes through it. A field whose
    value already has its type (most) is taken as it is; the others go to their
    :func:`decoder`. The instance is made without calling ``__init__``.
    """
    namespace: dict[str, Any] = {"MISSING": MISSING, "ShapeError": ShapeError, "cls": cls,
                                 "new": object.__new__, "shown": shown}
    lines = ["def read(data, loc):",
             "    if type(data) is not dict:",
             "        if isinstance(data, cls):",
             "            return data",
             "        if not isinstance(data, dict):",
             "            raise ShapeError(loc, f'must be an object, got {shown(data)}')",
             "    get = data.get",
             "    state = {}"]
    for i, (name, hint, default, factory, ge) in enumerate(fields):
        exact, key = exact_types(hint), repr(name)
        namespace[f"decode_{i}"] = decoder(hint)
        lines.append(f"    v = get({key}, MISSING)")
        lines.append("    if v is MISSING:")
        if default is not MISSING:
            namespace[f"default_{i}"] = default
            lines.append(f"        v = default_{i}")
        elif factory is not MISSING:
            namespace[f"factory_{i}"] = factory
            lines.append(f"        v = factory_{i}()")
        else:
            lines.append(f"        raise ShapeError((*loc, {key}), 'is missing')")
        if exact is not ANY:
            if exact is not None and len(exact) == 1:
                namespace[f"type_{i}"] = next(iter(exact))
                lines.append(f"    elif type(v) is not type_{i}:")
            elif exact is not None:
                namespace[f"types_{i}"] = exact
                lines.append(f"    elif type(v) not in types_{i}:")
            else:
                lines.append("    else:")
            lines.append(f"        v = decode_{i}(v, (*loc, {key}))")
        if ge is not None:
            lines.append(f"    if v < {ge!r}:")
            lines.append(f"        raise ShapeError((*loc, {key}), f'must be at least {ge}, "
                         "got {v}')")
        lines.append(f"    state[{key}] = v")
    lines += ["    made = new(cls)", "    made.__dict__ = state", "    return made"]
    exec("\n".join(lines), namespace)
    read: Decode = namespace["read"]
    return read

