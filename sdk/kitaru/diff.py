"""Comparing two executions checkpoint by checkpoint (``kitaru executions diff A B``).

Checkpoints are matched by id. Equal digests mean equal stored values (``same``);
otherwise the values are read as JSON (without the flow's code) and their differences
listed by path (``changed``). A checkpoint only one side has is ``only_a`` or
``only_b``. Values that have no JSON view (bytes, pickle) compare by digest only.
"""

from __future__ import annotations

from typing import Any, Literal

from kitaru.journal import ExecutionStore, read_value_bytes
from kitaru.model import Field, Model
from kitaru.records import CheckpointRecord
from kitaru.serialization import decode_plain

#: At most this many differing paths are listed per checkpoint.
MAX_CHANGES = 50

State = Literal["same", "changed", "only_a", "only_b"]


class ValueChange(Model):
    """One place where two values differ: a JSON path, and each side's value there
    (absent on a side that has nothing at that path)."""

    path: str
    a: Any = None
    b: Any = None
    in_a: bool = True
    in_b: bool = True


class CheckpointDiff(Model):
    """How one checkpoint compares across the two executions."""

    id: str
    state: State
    changes: list[ValueChange] = Field(default_factory=list)
    more_changes: int = Field(default=0, description="Changes not listed (past the limit).")


class ExecutionDiff(Model):
    """Two executions compared checkpoint by checkpoint, in call order."""

    a: str
    b: str
    checkpoints: list[CheckpointDiff]

    def count(self, state: State) -> int:
        """How many checkpoints are in ``state``."""
        return sum(1 for c in self.checkpoints if c.state == state)


def diff_executions(a: ExecutionStore, b: ExecutionStore) -> ExecutionDiff:
    """Compare the checkpoints of two executions (each may live in its own store)."""
    left, right = a.records(), b.records()
    order = sorted(left.values(), key=lambda r: r.seq) + sorted(
        (r for r in right.values() if r.id not in left), key=lambda r: r.seq)
    found = []
    for record in order:
        one, two = left.get(record.id), right.get(record.id)
        if one is None:
            found.append(CheckpointDiff(id=record.id, state="only_b"))
        elif two is None:
            found.append(CheckpointDiff(id=record.id, state="only_a"))
        elif one.value.digest == two.value.digest:
            found.append(CheckpointDiff(id=record.id, state="same"))
        else:
            changes = list(json_changes(_plain(a, one), _plain(b, two)))
            found.append(CheckpointDiff(id=record.id, state="changed",
                                        changes=changes[:MAX_CHANGES],
                                        more_changes=max(len(changes) - MAX_CHANGES, 0)))
    return ExecutionDiff(a=a.exec_id, b=b.exec_id, checkpoints=found)


def _plain(journal: ExecutionStore, record: CheckpointRecord) -> Any:
    return decode_plain(record.value.serializer, read_value_bytes(journal.store, record.value))


def json_changes(a: Any, b: Any, path: str = "$") -> list[ValueChange]:
    """The differences between two JSON values, leaf by leaf, by path."""
    if isinstance(a, dict) and isinstance(b, dict):
        changes: list[ValueChange] = []
        for key in [*a, *(k for k in b if k not in a)]:
            where = f"{path}.{key}"
            if key not in b:
                changes.append(ValueChange(path=where, a=a[key], in_b=False))
            elif key not in a:
                changes.append(ValueChange(path=where, b=b[key], in_a=False))
            else:
                changes += json_changes(a[key], b[key], where)
        return changes
    if isinstance(a, list) and isinstance(b, list):
        changes = []
        for i in range(max(len(a), len(b))):
            where = f"{path}[{i}]"
            if i >= len(b):
                changes.append(ValueChange(path=where, a=a[i], in_b=False))
            elif i >= len(a):
                changes.append(ValueChange(path=where, b=b[i], in_a=False))
            else:
                changes += json_changes(a[i], b[i], where)
        return changes
    same = type(a) is type(b) and a == b  # True and 1 are equal in Python, not in JSON
    return [] if same else [ValueChange(path=path, a=a, b=b)]
