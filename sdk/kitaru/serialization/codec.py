"""Choosing a value's serializer, and reading stored values back."""

from __future__ import annotations

import io
import json
import math
from typing import Any, Literal, NamedTuple

from kitaru.errors import KitaruSerializationError
from kitaru.serialization.names import (
    import_type,
    is_pydantic_class,
    is_pydantic_model,
    type_path,
)
from kitaru.serialization.registry import serializer_for
from kitaru.serialization.typed import MAX_DEPTH, UnstorableError, from_plain, to_plain

SerializerName = Literal["json", "typed-json", "pydantic", "bytes", "pickle"]

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_PLAIN_TYPE_NAMES: dict[type, str] = {
    cls: type_path(cls) for cls in (list, tuple, dict, str, int, float, bool, type(None))
}


class Encoded(NamedTuple):
    """A value as stored: the serializer, the Python type's import path and the bytes."""

    serializer: SerializerName
    type_name: str
    data: bytes


def _is_plain_json(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is JSON builtins that come back as they went in.

    A tuple only qualifies at the top, where the recorded type makes it a tuple again.
    """
    if depth > MAX_DEPTH:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list) or (depth == 0 and isinstance(value, tuple)):
        return all(_is_plain_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(k, str) and _is_plain_json(v, depth + 1) for k, v in value.items()
        )
    return False


def encode(value: object, *, allow_pickle: bool, where: str) -> Encoded:
    """Serialize ``value``.

    Args:
        value: The value to store.
        allow_pickle: Whether the author opted in to pickle for values JSON cannot hold.
        where: What produced the value (``checkpoint 'draft'``), for the error message.

    Raises:
        KitaruSerializationError: The value has no JSON form and pickle is not allowed;
            the message names the part of the value that has none.
    """
    cls = type(value)
    plain_name = _PLAIN_TYPE_NAMES.get(cls)
    if plain_name is not None and _is_plain_json(value):
        return Encoded("json", plain_name, _JSON.encode(value).encode())
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Encoded("bytes", "builtins:bytes", bytes(value))
    if is_pydantic_model(value) and serializer_for(cls) is None:
        return Encoded("pydantic", type_path(cls), value.model_dump_json().encode())
    try:
        plain, node = to_plain(value)
    except UnstorableError as exc:
        if allow_pickle:
            return _pickle(value, where)
        raise KitaruSerializationError(f"{where}: cannot store the value: {exc}") from None
    doc = {"value": plain, "types": node or {}}
    return Encoded("typed-json", type_path(cls), _JSON.encode(doc).encode())


def _pickle(value: object, where: str) -> Encoded:
    import pickle

    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise KitaruSerializationError(
            f"{where}: value of type {type_path(type(value))} cannot be pickled: {exc}"
        ) from exc
    return Encoded("pickle", type_path(type(value)), data)


def _unpickle(data: bytes) -> Any:
    """Unpickle, finding classes pickled from a script's ``__main__`` in the flow's module.
    (pickle is imported here: only a flow that opted in to it pays for it.)"""
    import pickle

    class Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == "__main__":
                return import_type(f"{module}:{name}")
            return super().find_class(module, name)

    return Unpickler(io.BytesIO(data)).load()


def decode(serializer: str, type_name: str, data: bytes, *, allow_pickle: bool = True) -> Any:
    """Rebuild a value from its stored form.

    Raises:
        KitaruSerializationError: The bytes do not parse, a recorded type cannot be
            imported or rebuilt, or the value is pickled and ``allow_pickle`` is false.
    """
    try:
        if serializer == "bytes":
            return data
        if serializer == "json":
            value = json.loads(data)
            return tuple(value) if type_name == "builtins:tuple" else value
        if serializer == "typed-json":
            doc = json.loads(data)
            return from_plain(doc["value"], doc["types"])
        if serializer == "pydantic":
            model = import_type(type_name)
            if not is_pydantic_class(model):
                raise KitaruSerializationError(f"{type_name} is not a pydantic model")
            return model.model_validate_json(data)
        if serializer == "pickle":
            if not allow_pickle:
                raise KitaruSerializationError(
                    f"refusing to unpickle a value of type {type_name} here; pickled "
                    "artifacts are read only inside the flow's own process"
                )
            return _unpickle(data)
    except KitaruSerializationError:
        raise
    except Exception as exc:
        raise KitaruSerializationError(
            f"cannot read back a stored {serializer} value of type {type_name}: {exc}"
        ) from exc
    raise KitaruSerializationError(f"unknown serializer {serializer!r} for type {type_name}")


def decode_plain(serializer: str, data: bytes) -> Any:
    """Return a JSON-compatible view of a stored value without importing user types.

    Used where the flow's code is not importable (the CLI, the operator): pydantic
    models and dataclasses come back as dicts, datetimes, UUIDs, Decimals and paths as
    strings, tuples as lists, bytes and pickles as a short description.
    """
    if serializer in ("json", "pydantic"):
        return json.loads(data)
    if serializer == "typed-json":
        return json.loads(data)["value"]
    return f"<{serializer} value, {len(data)} bytes>"
