"""Planning a replay: which checkpoints of the source run again, which are reused.

A replay is a new execution linked to its source. Its roots are the checkpoint named by
``at``, the direct consumers of every overridden checkpoint output or flow input, and
every checkpoint whose arguments are overridden. The roots and everything downstream of
them in the recorded lineage run again; every other checkpoint's record is copied by
reference (same blobs, zero bytes copied), wherever it sits in the call order.
``skip`` forces reuse of named checkpoints even when they are downstream of a root.

Override keys:

- ``input.<name>``: a flow input;
- ``checkpoint.<id>``: a checkpoint's output (the checkpoint is not run; its consumers are);
- ``checkpoint.<id>.inputs.<param>``: one argument of a checkpoint call (it runs again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kitaru.errors import KitaruUsageError
from kitaru.journal import ExecutionStore, store_value
from kitaru.records import Answer, CheckpointRecord, ReplaySpec, ValueRef
from kitaru.serialization import encode


@dataclass
class ReplayPlan:
    """What a replay execution starts with."""

    spec: ReplaySpec
    inputs: dict[str, ValueRef]
    records: list[CheckpointRecord]
    answers: list[Answer]


def _unknown(kind: str, name: str, known: Iterable[str], source: str) -> KitaruUsageError:
    listing = ", ".join(sorted(known)) or "none"
    return KitaruUsageError(
        f"replay of execution {source}: no {kind} {name!r}; the source has: {listing}"
    )


def _consumers(records: Mapping[str, CheckpointRecord], source: str) -> set[str]:
    return {r.id for r in records.values() if source in r.parents}


def _downstream(records: Mapping[str, CheckpointRecord], roots: set[str]) -> set[str]:
    children: dict[str, set[str]] = {}
    for record in records.values():
        for parent in record.parents:
            children.setdefault(parent, set()).add(record.id)
    reached = set(roots)
    frontier = list(roots)
    while frontier:
        for child in children.get(frontier.pop(), ()):
            if child not in reached:
                reached.add(child)
                frontier.append(child)
    return reached


def plan_replay(
    source: ExecutionStore,
    *,
    at: str | None,
    overrides: Mapping[str, Any],
    skip: Iterable[str] = (),
    allow_pickle: bool = False,
) -> ReplayPlan:
    """Work out a replay of ``source``.

    Raises:
        KitaruUsageError: ``at``, a ``skip`` entry or an override names something the
            source does not have, or an override key is malformed.
    """
    src = source.spec()
    records = source.records()
    store = source.store
    if at is None and not overrides:
        raise KitaruUsageError(
            f"replay of execution {src.exec_id}: give a checkpoint to replay from (at=) or "
            "at least one override"
        )
    if at is not None and at not in records:
        raise _unknown("checkpoint", at, records, src.exec_id)
    skip = set(skip)
    for name in skip:
        if name not in records:
            raise _unknown("checkpoint", name, records, src.exec_id)

    inputs = dict(src.inputs)
    roots: set[str] = {at} if at else set()
    output_overrides: dict[str, ValueRef] = {}
    arg_overrides: dict[str, dict[str, ValueRef]] = {}

    def ref_of(key: str, value: Any) -> ValueRef:
        return store_value(store, encode(value, allow_pickle=allow_pickle,
                                         where=f"replay override {key!r}"))

    for key, value in overrides.items():
        kind, _, rest = key.partition(".")
        if kind == "input" and rest:
            inputs[rest] = ref_of(key, value)
            roots |= _consumers(records, f"input:{rest}")
        elif kind == "checkpoint" and rest:
            checkpoint_id, _, tail = rest.partition(".inputs.")
            if checkpoint_id not in records:
                raise _unknown("checkpoint", checkpoint_id, records, src.exec_id)
            if tail:
                arg_overrides.setdefault(checkpoint_id, {})[tail] = ref_of(key, value)
                roots.add(checkpoint_id)
            elif "." in checkpoint_id:
                raise KitaruUsageError(f"replay override {key!r}: use checkpoint.<id> or "
                                       "checkpoint.<id>.inputs.<param>")
            else:
                output_overrides[checkpoint_id] = ref_of(key, value)
                roots |= _consumers(records, checkpoint_id)
        else:
            raise KitaruUsageError(
                f"replay override {key!r}: keys are input.<name>, checkpoint.<id> or "
                "checkpoint.<id>.inputs.<param>"
            )

    roots -= set(output_overrides) | skip
    rerun = _downstream(records, roots) - set(output_overrides) - skip
    copied: list[CheckpointRecord] = []
    for record in records.values():
        if record.id in rerun:
            continue
        origin = record.source_execution or src.exec_id
        if record.id in output_overrides:
            copied.append(record.model_copy(update={
                "value": output_overrides[record.id], "source": "override",
                "source_execution": None,
            }))
        else:
            copied.append(record.model_copy(update={"source": "replay",
                                                    "source_execution": origin}))
    spec = ReplaySpec(source=src.exec_id, at=at, roots=sorted(roots), rerun=sorted(rerun),
                      overrides=sorted(overrides), arg_overrides=arg_overrides)
    answers = list(source.answers().values())
    return ReplayPlan(spec=spec, inputs=inputs, records=copied, answers=answers)
