"""Turning checkpoint values into bytes and back, with their type on record.

Five serializers, chosen by the value:

- ``json``: JSON builtins (None, bool, int, float, str, lists and str-keyed dicts of
  those, or a tuple of those at the top), stored as they are.
- ``typed-json``: JSON that also holds what JSON has no word for: dataclasses (rebuilt
  from their import path), datetimes, dates, UUIDs, Decimals, paths, tuples at any
  depth, pydantic models inside lists, dicts and dataclasses, and any type with a
  serializer from :func:`register_serializer`. See :mod:`kitaru.serialization.typed`.
- ``pydantic``: a pydantic model instance, stored as its JSON with the model's import
  path, and validated back into that model on read.
- ``bytes``: raw bytes, stored as they are.
- ``pickle``: anything else, only when the author opted in (``@checkpoint(pickle=True)``
  or ``@flow(pickle=True)``). Nothing outside the flow's own process ever unpickles.

Anything else fails with :class:`~kitaru.errors.KitaruSerializationError` naming the
checkpoint and the part of the value that has no JSON form, before a journal record is
written.

Invariants: every stored form but ``bytes`` and ``pickle`` is JSON that
:func:`decode_plain` reads without importing user types (the CLI, the operator); values
written by any earlier version stay readable exactly as they were (``tests/golden/``).
"""

from kitaru.serialization.codec import Encoded, SerializerName, decode, decode_plain, encode
from kitaru.serialization.names import import_type, type_path
from kitaru.serialization.registry import Serializer, register_serializer

__all__ = [
    "Encoded",
    "Serializer",
    "SerializerName",
    "decode",
    "decode_plain",
    "encode",
    "import_type",
    "register_serializer",
    "type_path",
]
