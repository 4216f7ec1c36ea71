"""Digests of a checkpoint call's arguments: what decides whether a result may be reused.

A recorded result is reused only for a call with the same arguments. Each argument is
reduced to the sha256 of its stored form (the bytes :func:`~kitaru.serialization.encode`
would write), so two calls compare equal exactly when their arguments would be stored
the same. The comparison does not depend on lineage: a value derived from an upstream
result (``"Summarize: " + doc["text"]``) changes its digest when the upstream changes.

An argument with no stored form (a client object, say) is reduced to its type only: such
a call is reused whenever its other arguments match, as before digests existed.

Dict arguments compare in insertion order, as they are stored: a flow that builds the
same dict in another order on a resume diverges.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kitaru.serialization import encode, type_path
from kitaru.stores.base import sha256_hex

#: Encodes a str, int, bool or None exactly as the stored JSON form does.
_SCALAR = json.JSONEncoder(ensure_ascii=False)

#: Known digest of a value the run handed out, or None (see ``LineageTracker``).
KnownDigest = Callable[[Any], str | None]


def argument_digest(value: Any, known: KnownDigest | None = None) -> str:
    """Return the digest of one argument value."""
    if known is not None:
        digest = known(value)
        if digest is not None:
            return digest
    kind = type(value)
    if kind is int or kind is str or kind is bool or value is None:
        # The bytes encode() stores for these, without building an Encoded.
        return sha256_hex(_SCALAR.encode(value).encode())
    try:
        return sha256_hex(encode(value, allow_pickle=False, where="argument").data)
    except Exception:
        return f"type:{type_path(type(value))}"


def argument_digests(arguments: Mapping[str, Any],
                     known: KnownDigest | None = None) -> dict[str, str]:
    """Return the digest of each argument of a call, by parameter name."""
    return {name: argument_digest(value, known) for name, value in arguments.items()}


def changed_argument(recorded: Mapping[str, str], current: Mapping[str, str]) -> str | None:
    """Return the first parameter whose argument differs between two calls, else None."""
    for name in (*recorded, *(n for n in current if n not in recorded)):
        if recorded.get(name) != current.get(name):
            return name
    return None
