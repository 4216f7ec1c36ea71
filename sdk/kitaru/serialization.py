"""Turning checkpoint values into bytes and back, with their type on record.

Four serializers, chosen by the value:

- ``json``: builtins (None, bool, int, float, str, and lists, tuples and str-keyed dicts
  of those). A top-level tuple comes back as a tuple; nested tuples come back as lists.
- ``pydantic``: a pydantic model instance, stored as its JSON with the model's import
  path, and validated back into that model on read.
- ``bytes``: raw bytes, stored as they are.
- ``pickle``: anything else, only when the author opted in (``@checkpoint(pickle=True)``
  or ``@flow(pickle=True)``). Nothing outside the flow's own process ever unpickles.

Anything else fails with :class:`KitaruSerializationError` naming the checkpoint and the
type, before a journal record is written.
"""

from __future__ import annotations

import importlib
import json
import math
import pickle
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from kitaru.errors import KitaruSerializationError

SerializerName = Literal["json", "pydantic", "bytes", "pickle"]

_MAX_JSON_DEPTH = 200


@dataclass(frozen=True)
class Encoded:
    """A value as stored: the serializer, the Python type's import path and the bytes."""

    serializer: SerializerName
    type_name: str
    data: bytes


def type_path(cls: type) -> str:
    """Return ``module:qualname`` of a class, the form recorded with every value."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_plain_json(value: object, depth: int = 0) -> bool:
    if depth > _MAX_JSON_DEPTH:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
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
        KitaruSerializationError: The value has no JSON form and pickle is not allowed.
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Encoded("bytes", "builtins:bytes", bytes(value))
    if isinstance(value, BaseModel):
        return Encoded("pydantic", type_path(type(value)), value.model_dump_json().encode())
    if type(value) in (list, tuple, dict, str, int, float, bool, type(None)) and _is_plain_json(
        value
    ):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return Encoded("json", type_path(type(value)), text.encode())
    if allow_pickle:
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise KitaruSerializationError(
                f"{where}: value of type {type_path(type(value))} cannot be pickled: {exc}"
            ) from exc
        return Encoded("pickle", type_path(type(value)), data)
    raise KitaruSerializationError(
        f"{where}: cannot store a value of type {type_path(type(value))}; return JSON "
        "builtins, bytes or a pydantic model, or opt in to pickle with pickle=True"
    )


def decode(serializer: str, type_name: str, data: bytes, *, allow_pickle: bool = True) -> Any:
    """Rebuild a value from its stored form.

    Raises:
        KitaruSerializationError: The bytes do not parse, the pydantic model cannot be
            imported, or the value is pickled and ``allow_pickle`` is false.
    """
    try:
        if serializer == "bytes":
            return data
        if serializer == "json":
            value = json.loads(data)
            return tuple(value) if type_name == "builtins:tuple" else value
        if serializer == "pydantic":
            model = import_type(type_name)
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                raise KitaruSerializationError(f"{type_name} is not a pydantic model")
            return model.model_validate_json(data)
        if serializer == "pickle":
            if not allow_pickle:
                raise KitaruSerializationError(
                    f"refusing to unpickle a value of type {type_name} here; pickled "
                    "artifacts are read only inside the flow's own process"
                )
            return pickle.loads(data)
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
    values come back as dicts, bytes and pickles as a short description.
    """
    if serializer in ("json", "pydantic"):
        return json.loads(data)
    return f"<{serializer} value, {len(data)} bytes>"


def import_type(path: str) -> Any:
    """Import ``module:qualname`` and return the object it names."""
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj
