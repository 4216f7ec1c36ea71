"""Serializers for types JSON has no word for, keyed by type.

Each registered serializer turns a value into JSON-able data and back, under a name
recorded with every value it wrote. A value uses the serializer of the nearest class in
its MRO that has one, so registering a base class covers its subclasses. The built-ins
(``datetime``, ``date``, ``uuid``, ``decimal``, ``path``, ``tuple``) are registered here
through the same function adapters use.

Invariant: a name, once written to a store, must keep meaning the same format; register
a new name rather than change what an old one reads.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from kitaru.errors import KitaruUsageError
from kitaru.serialization.names import type_path

T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
#: Types stored as JSON without a serializer; registering one would never take effect.
_PLAIN_TYPES = (str, int, float, bool, type(None), list, dict, bytes, bytearray, memoryview)


class Serializer:
    """A registered way to store values of one type (and its subclasses) as JSON.

    A plain class rather than a dataclass: it is built while ``import kitaru`` runs.

    Attributes:
        cls: The type it serializes.
        name: The name recorded with every value it wrote.
        dumps: Turns a value into JSON-able data.
        loads: Turns that data back into a value.
    """

    __slots__ = ("cls", "dumps", "loads", "name")

    def __init__(self, cls: type, name: str, dumps: Callable[[Any], Any],
                 loads: Callable[[Any], Any]) -> None:
        self.cls = cls
        self.name = name
        self.dumps = dumps
        self.loads = loads

    def __repr__(self) -> str:
        return f"<Serializer {self.name!r} for {type_path(self.cls)}>"


_by_type: dict[type, Serializer] = {}
_by_name: dict[str, Serializer] = {}
_resolved: dict[type, Serializer | None] = {}


def register_serializer(
    cls: type[T],
    *,
    name: str,
    dumps: Callable[[T], Any],
    loads: Callable[[Any], T],
) -> None:
    """Teach Kitaru to store values of type ``cls`` (and its subclasses) as JSON.

    Register at import time of the module that defines or uses the type, so every
    process that runs the flow (a resumed run imports the flow's module afresh) has the
    serializer before it reads a value back. Registering ``cls`` again replaces its
    serializer for new values; values already stored keep being read by their name.

    Args:
        cls: The type. Values whose class has ``cls`` in its MRO use this serializer,
            unless a nearer base class has one of its own. Registered serializers take
            precedence over Kitaru's own handling of dataclasses and pydantic models.
        name: A stable name recorded with every value written (letters, digits, ``_``,
            ``.`` and ``-``), e.g. ``"openai_agents.RunResult"``. Stored values are read
            back by this name, so it must not change once values exist.
        dumps: Returns the value's data: JSON builtins, or any values Kitaru can store
            (dataclasses, pydantic models, datetimes, other registered types), which
            are stored with their own types.
        loads: Receives that data, nested values already rebuilt, and returns the value.

    Raises:
        KitaruUsageError: ``cls`` is stored as JSON already, or ``name`` is malformed or
            already registered for another type.
    """
    if not isinstance(cls, type):
        raise KitaruUsageError(f"register_serializer needs a class, got {cls!r}")
    _register_standard(also=name)
    if cls in _PLAIN_TYPES:
        raise KitaruUsageError(
            f"register_serializer: values of type {type_path(cls)} are stored as they are; "
            "register a subclass or a type of your own instead"
        )
    if not _NAME.match(name):
        raise KitaruUsageError(
            f"register_serializer: name {name!r} for {type_path(cls)} must start with a "
            "letter or digit and hold only letters, digits, '_', '.' and '-' (at most "
            "100 characters)"
        )
    existing = _by_name.get(name)
    if existing is not None and type_path(existing.cls) != type_path(cls):
        raise KitaruUsageError(
            f"register_serializer: name {name!r} is already registered for "
            f"{type_path(existing.cls)}; pick another name for {type_path(cls)}"
        )
    serializer = Serializer(cls=cls, name=name, dumps=dumps, loads=loads)
    _by_type[cls] = serializer
    _by_name[name] = serializer
    _resolved.clear()


def serializer_for(cls: type) -> Serializer | None:
    """Return the serializer of the nearest class in ``cls``'s MRO that has one."""
    if _STANDARD:
        _register_standard()
    try:
        return _resolved[cls]
    except KeyError:
        pass
    found = next((_by_type[base] for base in cls.__mro__ if base in _by_type), None)
    _resolved[cls] = found
    return found


def serializer_named(name: str) -> Serializer | None:
    """Return the serializer registered under ``name`` in this process, if any."""
    _register_standard(also=name)
    return _by_name.get(name)


#: Kitaru's own serializers for standard types of modules that `import kitaru` does not
#: load: each is registered once its module is loaded (a value of the type cannot exist
#: before), or when its name is asked for, before any serializer of the user's.
_STANDARD: dict[str, tuple[str, str]] = {
    "uuid": ("uuid", "UUID"), "decimal": ("decimal", "Decimal"), "path": ("pathlib", "Path")}


def _register_standard(also: str | None = None) -> None:
    if also in _STANDARD:
        importlib.import_module(_STANDARD[also][0])
    for name, (module, attr) in list(_STANDARD.items()):
        if module in sys.modules and _STANDARD.pop(name, None) is not None:
            cls = getattr(sys.modules[module], attr)
            register_serializer(cls, name=name, dumps=str, loads=cls)


register_serializer(datetime, name="datetime", dumps=datetime.isoformat,
                    loads=datetime.fromisoformat)
register_serializer(date, name="date", dumps=date.isoformat, loads=date.fromisoformat)
register_serializer(tuple, name="tuple", dumps=list, loads=tuple)
