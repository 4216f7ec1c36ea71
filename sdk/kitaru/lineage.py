"""Recording which earlier values flowed into a checkpoint call.

Flow code is plain Python, so the runtime cannot see data flow directly. It matches a
call's arguments against values it has handed out during this run: checkpoint results,
flow inputs and wait answers. Two ways to match, erring towards recording an edge:

- identity: the argument *is* an object handed out (or an item nested inside one, such
  as ``notes["summary"]``);
- content: the argument's serialized bytes equal a handed-out value's bytes (the same
  value rebuilt, or read back from the journal in an earlier run).

``None`` and booleans are never matched by content: they are too common to mean
anything. An author can always add edges with ``after=``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kitaru.serialization import encode
from kitaru.stores.base import sha256_hex

_MAX_NODES = 2000


def _walk(value: Any) -> Iterable[Any]:
    """Yield ``value`` and the containers and strings nested in it (bounded)."""
    stack = [value]
    seen = 0
    while stack and seen < _MAX_NODES:
        item = stack.pop()
        seen += 1
        yield item
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def content_digest(value: Any) -> str | None:
    """Return the digest of ``value``'s stored form, or None when it has no JSON form."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return sha256_hex(encode(value, allow_pickle=False, where="lineage").data)
    except Exception:
        return None


class LineageTracker:
    """Values handed out during one run, and the source each came from.

    Sources are checkpoint ids, ``input:<name>`` for flow inputs and ``wait:<name>`` for
    wait answers.
    """

    def __init__(self) -> None:
        self._by_identity: dict[int, str] = {}
        self._by_digest: dict[str, str] = {}
        # Holding the objects keeps their ids from being reused by new objects.
        self._alive: list[Any] = []

    def produced(self, source: str, value: Any, *, digest: str | None = None) -> None:
        """Remember that ``value`` came from ``source``."""
        for item in _walk(value):
            if item is None or isinstance(item, (bool, int, float)):
                continue
            self._by_identity.setdefault(id(item), source)
            self._alive.append(item)
        if digest is not None and not (value is None or isinstance(value, bool)):
            self._by_digest.setdefault(digest, source)

    def sources_of(self, *values: Any) -> list[str]:
        """Return the sources the given call arguments came from, in first-seen order.

        Nested items are matched by identity only; content is compared for whole
        arguments, where an equal value is unlikely to be a coincidence.
        """
        found: list[str] = []
        for value in values:
            sources = [self._by_identity.get(id(item)) for item in _walk(value)]
            if self._by_digest and not any(sources):
                digest = content_digest(value)
                sources = [self._by_digest.get(digest) if digest else None]
            for source in sources:
                if source is not None and source not in found:
                    found.append(source)
        return found
