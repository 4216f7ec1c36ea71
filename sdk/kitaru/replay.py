"""Planning and starting a replay: which checkpoints of the source run again, which are
reused, and the new execution that records it (:func:`start_replay`).

A replay is a new execution linked to its source. Its roots are the checkpoint named by
``at``, the direct consumers of every overridden checkpoint output or flow input, and
every checkpoint whose arguments are overridden. The roots and everything downstream of
them in the recorded lineage run again. Every other checkpoint's record is offered to
the replay (same blobs, zero bytes copied), wherever it sits in the call order, and is
reused only when the replay calls it with the same arguments (see
:mod:`kitaru.arguments`): lineage is a guess from the values a run saw, so correctness
never rests on it. ``skip`` and output overrides force reuse whatever the arguments.

Override keys:

- ``input.<name>``: a flow input;
- ``checkpoint.<id>``: a checkpoint's output (the checkpoint is not run; its consumers are);
- ``checkpoint.<id>.inputs.<param>``: one argument of a checkpoint call (it runs again).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kitaru.errors import KitaruUsageError
from kitaru.flow import new_execution_id
from kitaru.handle import FlowHandle
from kitaru.journal import ExecutionStore, store_value
from kitaru.records import (
    Answer,
    CheckpointRecord,
    ExecutionSpec,
    ReplaySpec,
    ReusableRecord,
    ValueRef,
)
from kitaru.serialization import encode
from kitaru.timers import utcnow


@dataclass
class ReplayPlan:
    """What a replay execution starts with."""

    spec: ReplaySpec
    inputs: dict[str, ValueRef]
    reusable: list[ReusableRecord]
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


def _loaded_function(path: str) -> Callable[..., Any] | None:
    """The function a record names, if its module is already imported (no side effects)."""
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split(".") if obj is not None else ():
        obj = getattr(obj, part, None)
    obj = getattr(obj, "fn", obj)  # a @checkpoint wraps its function
    return obj if callable(obj) else None


def _check_parameter(record: CheckpointRecord, param: str, key: str) -> None:
    fn = _loaded_function(record.function)
    if fn is None:
        return  # not importable here: the run checks it when it binds the call
    params = inspect.signature(fn).parameters
    if param in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    raise KitaruUsageError(
        f"replay override {key!r}: checkpoint {record.name!r} has no parameter {param!r}; "
        f"its parameters are: {', '.join(params) or 'none'}"
    )


def _check_names(src: ExecutionSpec, records: Mapping[str, CheckpointRecord],
                 overrides: Mapping[str, Any], known_inputs: set[str]) -> None:
    for key in overrides:
        kind, _, rest = key.partition(".")
        if kind == "input" and rest and rest not in known_inputs:
            raise KitaruUsageError(
                f"replay override {key!r}: flow {src.flow!r} has no input {rest!r}; its "
                f"inputs are: {', '.join(sorted(known_inputs)) or 'none'}")
        checkpoint_id, _, tail = rest.partition(".inputs.")
        if kind == "checkpoint" and tail and checkpoint_id in records:
            _check_parameter(records[checkpoint_id], tail, key)


def plan_replay(
    source: ExecutionStore,
    *,
    at: str | None,
    overrides: Mapping[str, Any],
    skip: Iterable[str] = (),
    allow_pickle: bool = False,
    flow_parameters: Iterable[str] = (),
) -> ReplayPlan:
    """Work out a replay of ``source``.

    Args:
        source: The execution replayed.
        at: The checkpoint to replay from.
        overrides: New values by override key.
        skip: Checkpoints reused even when downstream of a root.
        allow_pickle: Whether override values may be pickled.
        flow_parameters: The flow function's parameters, when it is at hand; an
            ``input.<name>`` override must name one of them or an input of the source.

    Raises:
        KitaruUsageError: ``at``, a ``skip`` entry or an override names something the
            source does not have, or an override key is malformed. Nothing is written
            then.
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

    # Every key is checked before any value is written.
    _check_names(src, records, overrides, set(src.inputs) | set(flow_parameters))
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
    offered: list[ReusableRecord] = []
    for record in records.values():
        if record.id in rerun:
            continue
        origin = record.source_execution or src.exec_id
        if record.id in output_overrides:
            offered.append(ReusableRecord(forced=True, record=record.model_copy(update={
                "value": output_overrides[record.id], "source": "override",
                "source_execution": None,
            })))
        else:
            offered.append(ReusableRecord(forced=record.id in skip, record=record.model_copy(
                update={"source": "replay", "source_execution": origin})))
    spec = ReplaySpec(source=src.exec_id, at=at, roots=sorted(roots), rerun=sorted(rerun),
                      overrides=sorted(overrides), arg_overrides=arg_overrides)
    answers = list(source.answers().values())
    return ReplayPlan(spec=spec, inputs=inputs, reusable=offered, answers=answers)


def start_replay(
    source: ExecutionStore,
    *,
    at: str | None,
    overrides: Mapping[str, Any],
    skip: tuple[str, ...] | list[str] = (),
    allow_pickle: bool = False,
    exec_id: str | None = None,
    flow_fn: Callable[..., Any] | None = None,
) -> FlowHandle:
    """Create a replay execution of ``source`` (without running it) and return its handle.

    ``exec_id`` names the new execution (a run pod is told its id); default a fresh one.
    ``flow_fn``, when at hand, lets an override of an input the source took by default
    be told apart from a typo.
    """
    src = source.spec()
    parameters = inspect.signature(flow_fn).parameters if flow_fn is not None else {}
    plan = plan_replay(source, at=at, overrides=overrides, skip=skip, allow_pickle=allow_pickle,
                       flow_parameters=parameters)
    journal = ExecutionStore(source.store, exec_id or new_execution_id(src.flow))
    for offer in plan.reusable:
        journal.offer_reuse(offer)
    for answer in plan.answers:
        journal.answer(answer)
    journal.create(src.model_copy(update={
        "exec_id": journal.exec_id, "inputs": plan.inputs, "replay": plan.spec,
        "created_at": utcnow(),
    }))
    return FlowHandle(journal)
