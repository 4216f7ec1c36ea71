"""Recording which earlier values flowed into a checkpoint call.

Flow code is plain Python, so the runtime cannot see data flow directly. It matches a
call's arguments against values it has handed out during this run: checkpoint results,
flow inputs and wait answers. Two ways to match, erring towards recording an edge:

- identity: the argument *is* an object handed out (or an item nested inside one, such
  as ``notes["summary"]``);
- content: the argument's serialized bytes equal a handed-out value's bytes (the same
  value rebuilt, or read back from the journal in an earlier run).

Common values are never matched: ``None``, booleans, the integers CPython shares
(-5 to 256), strings and bytes of one character or none, and empty containers are the
same object wherever they appear, so ``1`` in one checkpoint's result says nothing about
a literal ``1`` passed to another. By content, only values whose stored form has at
least :data:`MIN_MATCH_BYTES` bytes are matched. An author can always add edges with
``after=``.

Lineage is for display and for choosing a replay's roots. Whether a recorded result is
reused rests on argument digests (:mod:`kitaru.arguments`), never on lineage.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kitaru.serialization import encode
from kitaru.stores.base import sha256_hex

_MAX_NODES = 2000
#: Values whose stored form is shorter than this are never matched by content.
MIN_MATCH_BYTES = 16


def _shared(item: Any) -> bool:
    """Whether ``item`` may be the very object a literal elsewhere in the code is."""
    kind = type(item)  # exact types first: this runs for every item a run hands out
    if item is None or kind is bool:
        return True
    if kind is int:
        return bool(-5 <= item <= 256)
    if kind is str or kind is bytes:
        return len(item) <= 1
    if kind is dict or kind is list or kind is tuple:
        return not item
    if kind is float:
        return False
    if isinstance(item, int):  # subclasses: an IntEnum member is a shared object too
        return True
    return isinstance(item, (str, bytes, list, tuple, dict)) and not item


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
    """Return the digest of ``value``'s stored form, or None when it has no JSON form or
    is too small to match."""
    if _shared(value) or isinstance(value, (int, float)):
        return None
    try:
        data = encode(value, allow_pickle=False, where="lineage").data
    except Exception:
        return None
    return sha256_hex(data) if len(data) >= MIN_MATCH_BYTES else None


class LineageTracker:
    """Values handed out during one run, and the source each came from.

    Sources are checkpoint ids, ``input:<name>`` for flow inputs and ``wait:<name>`` for
    wait answers.
    """

    def __init__(self) -> None:
        self._by_identity: dict[int, str] = {}
        self._by_digest: dict[str, str] = {}
        # Digests of handed-out strings and bytes, by identity: immutable, so the digest
        # of the stored value stays true, and an argument digest need not encode again.
        self._digest_of: dict[int, str] = {}
        # Holding the objects keeps their ids from being reused by new objects.
        self._alive: list[Any] = []

    def produced(self, source: str, value: Any, *, digest: str | None = None,
                 size: int | None = None) -> None:
        """Remember that ``value`` came from ``source``.

        Args:
            source: Where the value came from.
            value: The value handed out.
            digest: The sha256 of its stored form, when known: a stored value's, or
                :func:`content_digest`'s (None for a value too small to match).
            size: The size of its stored form, with a stored value's digest.
        """
        for item in _walk(value):
            if _shared(item):
                continue
            self._by_identity.setdefault(id(item), source)
            self._alive.append(item)
        if digest is None:
            return
        if isinstance(value, (str, bytes)):
            self._digest_of.setdefault(id(value), digest)
            self._alive.append(value)
        # Without a size the digest is content_digest's, given only to big values.
        big = size is None or size >= MIN_MATCH_BYTES
        if big and not _shared(value) and not isinstance(value, (int, float)):
            self._by_digest.setdefault(digest, source)

    def known_digest(self, value: Any) -> str | None:
        """Return the stored digest of a string or bytes value the run handed out."""
        if isinstance(value, (str, bytes)):
            return self._digest_of.get(id(value))
        return None

    def sources_of(self, *values: Any) -> list[str]:
        """Return the sources the given call arguments came from, in first-seen order.

        An argument that is itself a handed-out value names that value's source only;
        otherwise the items nested in it are matched by identity (``notes["summary"]``).
        Content is compared for whole arguments, where an equal value is unlikely to be a
        coincidence.
        """
        found: list[str] = []
        for value in values:
            whole = None if _shared(value) else self._by_identity.get(id(value))
            sources = [whole] if whole else [
                self._by_identity.get(id(item)) for item in _walk(value) if not _shared(item)]
            if self._by_digest and not any(sources):
                digest = content_digest(value)
                sources = [self._by_digest.get(digest) if digest else None]
            for source in sources:
                if source is not None and source not in found:
                    found.append(source)
        return found
