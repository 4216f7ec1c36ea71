"""The ``typed-json`` form: a value as plain JSON plus a tree of the types inside it.

Stored as ``{"value": <plain JSON>, "types": <node>}``. ``value`` is what anyone can
read without the flow's code (a dataclass as an object of its fields, a datetime as ISO
text, a tuple as a list); ``types`` says which parts to rebuild into what. A node is
``{"type": tag, "items": {key: node}, "of": node}``, each part present only when needed:

- ``items`` holds the nodes of a list's items (keys are indices) or a dict's values,
  only those with a type somewhere inside;
- ``type`` is a registered serializer's name (``datetime``, ``tuple``, ...),
  ``dataclass:<module:qualname>`` or ``pydantic:<module:qualname>``;
- ``of`` describes the data a serializer produced when that data has a type itself
  (a serializer whose ``dumps`` returns a tuple or a datetime).

Reading rebuilds bottom-up: a node's items, then its ``of``, then its own type.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kitaru.serialization.names import (
    import_type,
    is_pydantic_class,
    is_pydantic_model,
    type_path,
)
from kitaru.serialization.registry import serializer_for, serializer_named

MAX_DEPTH = 200
_DATACLASS = "dataclass:"
_PYDANTIC = "pydantic:"
_SCALARS = (str, int, bool, type(None))

Node = dict[str, Any]


class UnstorableError(Exception):
    """A part of a value has no stored form; the message names the part."""


def _show(value: object) -> str:
    """Return ``value`` as JSON for a message (``true``, not ``True``), else its repr."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def _importable(cls: type, path: str) -> str:
    name = type_path(cls)
    if "<locals>" in name:
        raise UnstorableError(
            f"{path} is of type {name}, defined inside a function; define it at the top "
            "level of a module so a later run can import it"
        )
    return name


def _typed(tag: str, inner: Node | None) -> Node:
    if inner is None:
        return {"type": tag}
    if "type" in inner:
        return {"type": tag, "of": inner}
    return {"type": tag, **inner}


def _float(value: float, path: str) -> float:
    if math.isfinite(value):
        return value
    word = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    raise UnstorableError(f"{path} is {word}, which JSON cannot hold")


def _list(value: Any, path: str, depth: int) -> tuple[list[Any], Node | None]:
    plain: list[Any] = []
    items: Node = {}
    for index, item in enumerate(value):
        data, node = to_plain(item, f"{path}[{index}]", depth + 1)
        plain.append(data)
        if node is not None:
            items[str(index)] = node
    return plain, ({"items": items} if items else None)


def _dict(
    value: Any, path: str, depth: int, *, attributes: bool = False
) -> tuple[dict[str, Any], Node | None]:
    plain: dict[str, Any] = {}
    items: Node = {}
    for key, item in value.items():
        if not isinstance(key, str):
            where = "dict" if path == "value" else path
            raise UnstorableError(
                f"{where} key {_show(key)} is {_article(type(key))} (keys must be strings)")
        part = f"{path}.{key}" if attributes else f"{path}[{key!r}]"
        data, node = to_plain(item, part, depth + 1)
        plain[key] = data
        if node is not None:
            items[key] = node
    return plain, ({"items": items} if items else None)


def _article(cls: type) -> str:
    name = cls.__name__ if cls.__module__ == "builtins" else type_path(cls)
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def to_plain(value: Any, path: str = "value", depth: int = 0) -> tuple[Any, Node | None]:
    """Return ``value``'s plain JSON view and its type node (None when it has no types).

    Raises:
        UnstorableError: A part of the value has no JSON form; the message names the part.
    """
    if depth > MAX_DEPTH:
        raise UnstorableError(
            f"value is nested more than {MAX_DEPTH} levels deep (does it hold itself?)")
    cls = type(value)
    if cls in _SCALARS:
        return value, None
    if cls is float:
        return _float(value, path), None
    if cls is list:
        return _list(value, path, depth)
    if cls is dict:
        return _dict(value, path, depth)
    serializer = serializer_for(cls)
    if serializer is not None:
        try:
            data = serializer.dumps(value)
        except Exception as exc:
            raise UnstorableError(f"{path}: serializer {serializer.name!r} failed: "
                                  f"{type(exc).__name__}: {exc}") from exc
        plain, inner = to_plain(data, path, depth + 1)
        return plain, _typed(serializer.name, inner)
    if is_pydantic_model(value):
        tag = _PYDANTIC + _importable(cls, path)
        try:
            return json.loads(value.model_dump_json()), {"type": tag}
        except ValueError as exc:
            raise UnstorableError(f"{path}: pydantic cannot serialize it: {exc}") from exc
    if _is_dataclass(cls):
        import dataclasses  # here: imported with inspect, so only for a dataclass value

        tag = _DATACLASS + _importable(cls, path)
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        plain, inner = _dict(fields, path, depth, attributes=True)
        return plain, _typed(tag, inner)
    # Subclasses of JSON types (enums, OrderedDict) inside a value are stored as their
    # plain JSON, as the plain-JSON fast path stores them.
    if depth > 0 and isinstance(value, (str, int)):
        return value, None
    if depth > 0 and isinstance(value, float):
        return _float(value, path), None
    if depth > 0 and isinstance(value, list):
        return _list(value, path, depth)
    if depth > 0 and isinstance(value, dict):
        return _dict(value, path, depth)
    raise UnstorableError(
        f"{path} is of type {type_path(cls)}; return JSON builtins, bytes, dataclasses, "
        "pydantic models, datetimes, UUIDs, Decimals, paths or tuples, opt in to pickle "
        "with pickle=True, or register a serializer with kitaru.register_serializer"
    )


def from_plain(data: Any, node: Node) -> Any:
    """Rebuild a value from its plain JSON view and its type node.

    Raises:
        LookupError: A type tag names no serializer registered in this process.
        ImportError: A recorded type's module cannot be imported.
        AttributeError: The module has no such type.
        TypeError: The recorded type is not what its tag says, or rejects the data.
    """
    items = node.get("items")
    if items:
        for key, child in items.items():
            index: Any = int(key) if isinstance(data, list) else key
            data[index] = from_plain(data[index], child)
    inner = node.get("of")
    if inner is not None:
        data = from_plain(data, inner)
    tag = node.get("type")
    if tag is None:
        return data
    if tag.startswith(_PYDANTIC):
        model = import_type(tag[len(_PYDANTIC):])
        if not is_pydantic_class(model):
            raise TypeError(f"{tag[len(_PYDANTIC):]} is not a pydantic model")
        return model.model_validate(data)
    if tag.startswith(_DATACLASS):
        return _dataclass(import_type(tag[len(_DATACLASS):]), data)
    serializer = serializer_named(tag)
    if serializer is None:
        raise LookupError(
            f"no serializer named {tag!r} is registered in this process; import the "
            "module that registers it (with kitaru.register_serializer) before reading"
        )
    return serializer.loads(data)


def _is_dataclass(cls: Any) -> bool:
    """``dataclasses.is_dataclass`` for a class, without importing dataclasses."""
    return isinstance(cls, type) and hasattr(cls, "__dataclass_fields__")


def _dataclass(cls: Any, data: dict[str, Any]) -> Any:
    if not _is_dataclass(cls):
        raise TypeError(f"{type_path(cls)} is not a dataclass")
    import dataclasses

    fields = dataclasses.fields(cls)
    value = cls(**{f.name: data[f.name] for f in fields if f.init and f.name in data})
    for f in fields:
        if not f.init and f.name in data:
            # Set like __post_init__ would, which also works for frozen dataclasses.
            object.__setattr__(value, f.name, data[f.name])
    return value
