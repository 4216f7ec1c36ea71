"""A quick JSON-schema check of a wait's answer, so a good answer never loads jsonschema.

jsonschema takes longer to import than the rest of Kitaru (its metaschemas, referencing,
attrs), and every answer given through the CLI is a fresh process. :func:`verdict` decides
draft 2020-12 validity for the keywords pydantic's schemas use (types, properties and
required, enum and const, anyOf/allOf/oneOf/not, local ``$ref``, items, bounds, lengths,
pattern). It answers ``None`` for a schema with any other keyword, and :func:`~kitaru.
waits.check_answer` then asks jsonschema; it also asks jsonschema whenever an answer is
refused, so the message is jsonschema's, word for word. Only "valid" is ever decided
here alone, and ``tests/sdk/test_schema_check.py`` compares that with jsonschema over
generated schemas and values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

__all__ = ["verdict"]

#: Keywords draft 2020-12 only annotates with (jsonschema does not validate format by
#: default), and pydantic's ``discriminator``, which no draft knows.
_ANNOTATIONS = frozenset({
    "title", "description", "default", "examples", "format", "deprecated", "readOnly",
    "writeOnly", "$schema", "$comment", "$defs", "definitions", "discriminator",
    "contentMediaType", "contentEncoding",
})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "number": _is_number,
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
}


def _equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it: true is not 1, 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return a is None and b is None


def _all(results: list[bool | None]) -> bool | None:
    if False in results:
        return False
    return None if None in results else True


class _Checker:
    """Checks values against one root schema (which local ``$ref`` s point into)."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def _ref(self, ref: Any) -> Any:
        if not isinstance(ref, str):
            return None
        for prefix in ("#/$defs/", "#/definitions/"):
            if ref.startswith(prefix):
                name = ref[len(prefix):]
                defs = self.root.get(prefix[2:-1])
                if "/" not in name and "~" not in name and isinstance(defs, dict):
                    return defs.get(name)
        return None

    def check(self, schema: Any, value: Any, depth: int = 0) -> bool | None:
        if schema is True or schema is False:
            return schema
        if not isinstance(schema, dict) or depth > 64:
            return None
        results: list[bool | None] = []
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS:
                continue
            result = self._keyword(keyword, arg, value, schema, depth)
            if result is False:
                return False
            results.append(result)
        return _all(results)

    def _keyword(self, keyword: str, arg: Any, value: Any, schema: dict[str, Any],
                 depth: int) -> bool | None:
        if keyword == "type":
            names = arg if isinstance(arg, list) else [arg]
            if not all(isinstance(n, str) and n in _TYPES for n in names):
                return None
            return any(_TYPES[n](value) for n in names)
        if keyword == "enum":
            return any(_equal(value, option) for option in arg) if isinstance(arg, list) else None
        if keyword == "const":
            return _equal(value, arg)
        if keyword == "$ref":
            target = self._ref(arg)
            return None if target is None else self.check(target, value, depth + 1)
        if keyword in ("anyOf", "allOf", "oneOf"):
            if not isinstance(arg, list) or not arg:
                return None
            found = [self.check(option, value, depth + 1) for option in arg]
            if keyword == "allOf":
                return _all(found)
            if None in found:
                return True if keyword == "anyOf" and True in found else None
            return True in found if keyword == "anyOf" else found.count(True) == 1
        if keyword == "not":
            inner = self.check(arg, value, depth + 1)
            return None if inner is None else not inner
        if keyword not in _TYPED_KEYWORDS:
            return None  # a keyword this check does not know: jsonschema decides
        if isinstance(value, dict):
            return self._object(keyword, arg, value, schema, depth)
        if isinstance(value, list):
            return self._array(keyword, arg, value, schema, depth)
        if isinstance(value, str):
            return self._string(keyword, arg, value)
        if _is_number(value):
            return self._number(keyword, arg, value)
        return True  # null and booleans: no keyword of these bounds them

    def _object(self, keyword: str, arg: Any, value: dict[str, Any], schema: dict[str, Any],
                depth: int) -> bool | None:
        if keyword == "required":
            return all(k in value for k in arg) if isinstance(arg, list) else None
        if keyword == "properties":
            if not isinstance(arg, dict):
                return None
            return _all([self.check(arg[k], v, depth + 1) for k, v in value.items()
                         if k in arg])
        if keyword == "additionalProperties":
            # Only beside plain properties: patternProperties would change which are extra.
            known = schema.get("properties", {})
            if "patternProperties" in schema or not isinstance(known, dict):
                return None
            return _all([self.check(arg, v, depth + 1) for k, v in value.items()
                         if k not in known])
        return _count(keyword, arg, len(value), "Properties")

    def _array(self, keyword: str, arg: Any, value: list[Any], schema: dict[str, Any],
               depth: int) -> bool | None:
        if keyword == "items":
            if "prefixItems" in schema:
                return None
            return _all([self.check(arg, item, depth + 1) for item in value])
        return _count(keyword, arg, len(value), "Items")

    def _string(self, keyword: str, arg: Any, value: str) -> bool | None:
        if keyword == "pattern":
            if not isinstance(arg, str):
                return None
            try:
                return re.search(arg, value) is not None
            except re.error:
                return None
        return _count(keyword, arg, len(value), "Length")

    def _number(self, keyword: str, arg: Any, value: float) -> bool | None:
        if keyword not in _BOUNDS:
            return True
        if not _is_number(arg) or (isinstance(arg, float) and not math.isfinite(arg)):
            return None
        return bool(_BOUNDS[keyword](value, arg))


def _count(keyword: str, arg: Any, size: int, noun: str) -> bool | None:
    """``min<noun>``/``max<noun>`` against ``size``; keywords of other types pass."""
    if keyword not in (f"min{noun}", f"max{noun}"):
        return True
    if not isinstance(arg, int) or isinstance(arg, bool):
        return None
    return size >= arg if keyword.startswith("min") else size <= arg


_BOUNDS = {
    "minimum": lambda v, a: v >= a, "maximum": lambda v, a: v <= a,
    "exclusiveMinimum": lambda v, a: v > a, "exclusiveMaximum": lambda v, a: v < a,
}

#: Keywords this check knows that bound one type of value; a value of another type
#: passes them (``minimum`` says nothing about a string).
_TYPED_KEYWORDS = frozenset({
    "required", "properties", "additionalProperties", "minProperties", "maxProperties",
    "items", "minItems", "maxItems", "minLength", "maxLength", "pattern", *_BOUNDS,
})


def verdict(schema: dict[str, Any] | bool, value: Any) -> bool | None:
    """Whether ``value`` matches ``schema`` (draft 2020-12); None when this check cannot
    tell (a keyword it does not know, a remote ``$ref``) and jsonschema must."""
    return _Checker(schema if isinstance(schema, dict) else {}).check(schema, value)
