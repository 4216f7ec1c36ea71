"""One checkpoint call in three steps: plan, execute, commit.

- :func:`plan` runs in the flow's own thread, in call order: it gives the call its id
  and position, checks it against the journal (divergence, same arguments), and finds a
  result to reuse (the journal, a replay's offer, the cache). Ids and positions are
  therefore stable whatever runs concurrently afterwards.
- :func:`execute` / :func:`execute_async` run the body, with the checkpoint's retries.
  They touch no journal state, so they may run on a worker thread, in a task, or later
  in another process from arguments read back from the store.
- :func:`commit` stores the value and creates the journal record (create-if-absent: a
  concurrent writer of the same id never replaces a committed result; the loser adopts
  the winner's value).

Shared run state (records, lineage, counters) is changed only under the run's lock.
"""

from __future__ import annotations

import hashlib
import inspect
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from kitaru import pylog
from kitaru.arguments import argument_digests, changed_argument
from kitaru.backoff import Backoff
from kitaru.context import CheckpointScope, RunContext, enter_scope, leave_scope
from kitaru.errors import KitaruDivergenceError, KitaruUsageError
from kitaru.journal import cache_key_path, read_json, read_value_bytes, store_value
from kitaru.limits import MAX_RETRY_DELAY, check_name
from kitaru.records import CheckpointRecord, DispatchedCall, ReusableRecord, ValueRef
from kitaru.serialization import decode, encode, type_path
from kitaru.timers import utcnow

if TYPE_CHECKING:
    from kitaru.checkpoint import Checkpoint


#: The longest wait between two attempts of a checkpoint body.


@dataclass
class CallPlan:
    """A planned checkpoint call: who it is, what it was called with, what it may reuse."""

    checkpoint: Checkpoint[..., Any]
    checkpoint_id: str
    seq: int
    bound: inspect.BoundArguments
    digests: dict[str, str]
    parents: list[str] = field(default_factory=list)
    cache_key: str | None = None
    #: Set when the plan found a result: a 1-tuple, so that a stored None counts.
    reused: tuple[Any] | None = None
    #: Set when another pod runs the body (an isolated checkpoint on a cluster).
    deferred: bool = False


@dataclass
class Executed:
    """What a body returned, and how it went."""

    value: Any
    attempts: int
    started: datetime
    metadata: dict[str, Any]


def plan(ctx: RunContext, cp: Checkpoint[..., Any], args: tuple[Any, ...],
         kwargs: dict[str, Any], *, call_id: str | None, after: Any) -> CallPlan:
    """Plan one call, in call order; see the module docstring."""
    with ctx.lock:
        checkpoint_id = _next_id(ctx, cp, call_id)
        ctx.last_checkpoint_id = checkpoint_id
        seq = ctx.seq
        ctx.seq += 1
    ctx.check_cancel()
    record = ctx.records.get(checkpoint_id)
    _check_position(ctx, checkpoint_id, seq, record)
    bound = _bind(ctx, cp, checkpoint_id, args, kwargs)
    digests = argument_digests(bound.arguments, ctx.lineage.known_digest)
    call = CallPlan(cp, checkpoint_id, seq, bound, digests)
    if record is not None:
        _check_same_call(ctx, record, digests)
        call.reused = (reuse(ctx, record),)
        return call
    offer = ctx.reusable.get(checkpoint_id)
    if offer is not None and _matches(ctx, offer, digests):
        copy = offer.record.model_copy(update={"seq": seq, "arguments": digests})
        _, on_file = ctx.journal.commit(copy)
        _remember(ctx, on_file)
        call.reused = (reuse(ctx, on_file),)
        return call
    late = ctx.journal.record(checkpoint_id)
    if late is not None:
        # Committed since this run read the journal: by a newer run while this one went
        # on (a pod the operator gave up on), or by a racing process. Its body must not
        # run twice, so its value is used (one read per body about to run).
        ctx.log_event(f"checkpoint {checkpoint_id}: committed by another run meanwhile "
                      f"(run {late.run}); using its value")
        _check_same_call(ctx, late, digests)
        _remember(ctx, late)
        call.reused = (reuse(ctx, late),)
        return call

    call.parents = ctx.lineage.sources_of(*bound.args, *bound.kwargs.values())
    for source in after_sources(ctx, after):
        if source not in call.parents:
            call.parents.append(source)
    is_root = ctx.spec.replay is not None and checkpoint_id in ctx.spec.replay.roots
    use_cache = (cp.cache if cp.cache is not None else ctx.cache_default) or False
    call.cache_key = _cache_key(cp, bound) if use_cache and not is_root else None
    if call.cache_key is not None:
        cached = _from_cache(ctx, cp, call.cache_key)
        if cached is not None:
            done = Executed(None, attempts=0, started=utcnow(), metadata={})
            call.reused = (commit(ctx, call, done, ref=cached, source="cache"),)
            return call
    if ctx.dispatch.defers(checkpoint_id, cp.runtime):
        call.deferred = True
        return call
    if cp.runtime == "isolated" and not ctx.dispatch.enabled:
        ctx.log_event(f"checkpoint {checkpoint_id}: runtime='isolated' runs in its own pod "
                      "on a cluster; in local mode it runs in the flow's process")
    return call


def defer(ctx: RunContext, call: CallPlan, *, fan_out: bool) -> None:
    """Leave a planned call to a pod of its own (see :mod:`kitaru.dispatch`)."""
    with ctx.lock:
        ctx.dispatch.defer(DispatchedCall(id=call.checkpoint_id, name=call.checkpoint.name,
                                          seq=call.seq, resources=call.checkpoint.resources),
                           fan_out=fan_out)
    ctx.log_event(f"checkpoint {call.checkpoint_id}: left to a pod of its own")


def execute(ctx: RunContext, call: CallPlan) -> Executed:
    """Run the body of a planned call, retrying as the checkpoint says."""
    cp = call.checkpoint
    started = utcnow()
    scope = CheckpointScope(call.checkpoint_id)
    attempt = ctx.dispatch.first_attempt(call.checkpoint_id) - 1  # earlier pods made the rest
    while True:
        attempt += 1
        token = enter_scope(scope)
        start = time.perf_counter()
        try:
            value = cp.fn(*call.bound.args, **call.bound.kwargs)
        except Exception as exc:
            delay = _failed(ctx, call, attempt, exc)
            ctx.sleep(delay)
            continue
        finally:
            leave_scope(token)
        return _ran(ctx, call, value, attempt=attempt, started=started, start=start,
                    scope=scope)


async def execute_async(ctx: RunContext, call: CallPlan) -> Executed:
    """Await the body of a planned ``async def`` call, retrying as the checkpoint says."""
    cp = call.checkpoint
    started = utcnow()
    scope = CheckpointScope(call.checkpoint_id)
    attempt = ctx.dispatch.first_attempt(call.checkpoint_id) - 1  # earlier pods made the rest
    while True:
        attempt += 1
        token = enter_scope(scope)  # a task has its own context: the scope is its own
        start = time.perf_counter()
        try:
            value = await cp.fn(*call.bound.args, **call.bound.kwargs)
        except Exception as exc:
            delay = _failed(ctx, call, attempt, exc)
            await ctx.async_sleep(delay)
            continue
        finally:
            leave_scope(token)
        return _ran(ctx, call, value, attempt=attempt, started=started, start=start,
                    scope=scope)


def _ran(ctx: RunContext, call: CallPlan, value: Any, *, attempt: int, started: datetime,
         start: float, scope: CheckpointScope) -> Executed:
    ctx.log_event(f"checkpoint {call.checkpoint_id}: ran in "
                  f"{time.perf_counter() - start:.3f} s")
    return Executed(value, attempt, started, scope.metadata)


def _failed(ctx: RunContext, call: CallPlan, attempt: int, exc: Exception) -> float:
    """Log a failed attempt and return the delay before the next one, or re-raise."""
    cp = call.checkpoint
    if attempt > cp.retries:
        ctx.log_event(f"checkpoint {call.checkpoint_id}: failed after {attempt} "
                      f"attempt(s): {type(exc).__name__}: {exc}")
        ctx.failed_checkpoint = call.checkpoint_id
        raise exc
    delay = Backoff(cp.retry_delay, MAX_RETRY_DELAY).delay(attempt)
    if ctx.dispatch.retries_in_new_pod(call.checkpoint_id):
        ctx.log_event(f"checkpoint {call.checkpoint_id}: attempt {attempt} failed "
                      f"({type(exc).__name__}: {exc}); attempt {attempt + 1} runs in a new "
                      f"pod in {delay:g} s")
        with ctx.lock:
            raise ctx.dispatch.retry_in_new_pod(
                DispatchedCall(id=call.checkpoint_id, name=cp.name, seq=call.seq,
                               resources=cp.resources), attempt, delay, exc) from exc
    ctx.log_event(f"checkpoint {call.checkpoint_id}: attempt {attempt} failed "
                  f"({type(exc).__name__}: {exc}); retrying in {delay:g} s")
    return delay


def commit(ctx: RunContext, call: CallPlan, done: Executed, *, ref: ValueRef | None = None,
           source: Literal["run", "cache"] = "run") -> Any:
    """Store the value of an executed call and commit its record; return the value."""
    cp = call.checkpoint
    if ref is None:
        where = f"checkpoint {call.checkpoint_id!r}"
        encoded = encode(done.value, allow_pickle=cp.pickle or ctx.allow_pickle, where=where)
        ref = store_value(ctx.journal.store, encoded)
        if call.cache_key is not None:
            ctx.journal.store.put_if_absent(cache_key_path(call.cache_key),
                                            ref.model_dump_json().encode())
        with ctx.lock:
            ctx.checkpoints_run += 1
    record = CheckpointRecord(
        id=call.checkpoint_id, seq=call.seq, name=cp.name, function=type_path(cp.fn),  # type: ignore[arg-type]
        type=cp.type, runtime=ctx.dispatch.runtime_of(cp.runtime), value=ref,
        parents=call.parents,
        metadata=done.metadata, run=ctx.run, attempts=done.attempts, started_at=done.started,
        finished_at=utcnow(), source=source, arguments=call.digests,
    )
    committed, on_file = ctx.journal.commit(record)
    _remember(ctx, on_file)
    if not committed or source == "cache":
        if not committed:
            ctx.log_event(f"checkpoint {call.checkpoint_id}: another process committed it "
                          "first; using its value")
        return reuse(ctx, on_file, count=False)
    with ctx.lock:
        ctx.lineage.produced(call.checkpoint_id, done.value, digest=ref.digest, size=ref.size)
        ctx.recent_checkpoints.append(call.checkpoint_id)
    ctx.on_commit()
    return done.value


def reuse(ctx: RunContext, record: CheckpointRecord, *, count: bool = True) -> Any:
    """Return a recorded value, read back from the store."""
    data = read_value_bytes(ctx.journal.store, record.value)
    value = decode(record.value.serializer, record.value.type, data)
    with ctx.lock:
        ctx.lineage.produced(record.id, value, digest=record.value.digest,
                             size=record.value.size)
        ctx.recent_checkpoints.append(record.id)
        if count:
            ctx.checkpoints_reused += 1
    return value


def after_sources(ctx: RunContext, after: Any) -> list[str]:
    """The sources named by a call's ``after=``: futures, or values handed out."""
    if after is None:
        return []
    from kitaru.checkpoint import CheckpointFuture  # the module that imports this one

    items = after if isinstance(after, (list, tuple)) else [after]
    sources: list[str] = []
    for item in items:
        if isinstance(item, CheckpointFuture):
            sources.append(item.checkpoint_id)
        else:
            sources.extend(ctx.lineage.sources_of(item))
    return sources


# -- planning, in detail ------------------------------------------------------------------

def _next_id(ctx: RunContext, cp: Checkpoint[..., Any], call_id: str | None) -> str:
    if call_id is not None:
        checkpoint_id = check_name("checkpoint id", call_id)
    else:
        count = ctx.name_counts.get(cp.name, 0) + 1
        ctx.name_counts[cp.name] = count
        checkpoint_id = cp.name if count == 1 else f"{cp.name}_{count}"
        while checkpoint_id in ctx.used_ids:  # an explicit id took this name earlier
            count += 1
            ctx.name_counts[cp.name] = count
            checkpoint_id = f"{cp.name}_{count}"
    if checkpoint_id in ctx.used_ids:
        raise KitaruUsageError(
            f"checkpoint id {checkpoint_id!r} is used twice in one run of flow "
            f"{ctx.spec.flow!r}; give each call its own id="
        )
    ctx.used_ids.add(checkpoint_id)
    return checkpoint_id


def _check_position(ctx: RunContext, checkpoint_id: str, seq: int,
                    record: CheckpointRecord | None) -> None:
    at_seq = ctx.by_seq.get(seq)
    if (record is not None and record.seq != seq) or (
        at_seq is not None and at_seq.id != checkpoint_id
    ):
        expected = at_seq.id if at_seq is not None else "nothing"
        raise KitaruDivergenceError(
            f"execution {ctx.exec_id}: checkpoint call #{seq + 1} is {checkpoint_id!r} but "
            f"the journal has {expected!r} at that position (recorded in run "
            f"{at_seq.run if at_seq else record.run if record else '?'}); the flow's calls "
            "no longer line up with the run it resumes"
        )


def _bind(ctx: RunContext, cp: Checkpoint[..., Any], checkpoint_id: str,
          args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
    try:
        bound = cp.signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise KitaruUsageError(f"checkpoint {checkpoint_id!r}: {exc}") from exc
    replay = ctx.spec.replay
    if replay is not None and checkpoint_id in replay.arg_overrides:
        for param, ref in replay.arg_overrides[checkpoint_id].items():
            if param not in cp.signature.parameters:
                raise KitaruUsageError(
                    f"replay override checkpoint.{checkpoint_id}.inputs.{param}: checkpoint "
                    f"{cp.name!r} has no parameter {param!r}"
                )
            bound.arguments[param] = decode(
                ref.serializer, ref.type, read_value_bytes(ctx.journal.store, ref)
            )
    return bound


def _check_same_call(ctx: RunContext, record: CheckpointRecord,
                     digests: dict[str, str]) -> None:
    """A resumed run must call a finished checkpoint as the run that finished it did."""
    if record.arguments is None:  # recorded before digests existed
        return
    changed = changed_argument(record.arguments, digests)
    if changed is not None:
        raise KitaruDivergenceError(
            f"execution {ctx.exec_id}: checkpoint {record.id!r} is called with another "
            f"{changed!r} than in run {record.run}, which recorded its result; a resumed "
            "run must call its finished checkpoints with the same arguments (replay the "
            "execution to run it with new ones)"
        )


def _matches(ctx: RunContext, offer: ReusableRecord, digests: dict[str, str]) -> bool:
    """Whether a replay may reuse its source's record for this call."""
    source = offer.record
    if offer.forced or source.arguments is None:
        return True
    changed = changed_argument(source.arguments, digests)
    if changed is None:
        return True
    ctx.log_event(f"checkpoint {source.id}: argument {changed!r} differs from execution "
                  f"{source.source_execution}, so it runs again")
    return False


def _remember(ctx: RunContext, record: CheckpointRecord) -> None:
    with ctx.lock:
        ctx.records[record.id] = record
        ctx.by_seq[record.seq] = record


def _cache_key(cp: Checkpoint[..., Any], bound: inspect.BoundArguments) -> str | None:
    try:
        source = inspect.getsource(cp.fn)
    except (OSError, TypeError):
        source = type_path(cp.fn)  # type: ignore[arg-type]
    try:
        args = encode(dict(bound.arguments), allow_pickle=False, where="cache key").data
    except Exception:
        pylog.info("kitaru", "checkpoint %s: arguments have no JSON form, so cache=True is "
                   "skipped", cp.name)
        return None
    return hashlib.sha256(source.encode() + b"\0" + args).hexdigest()


def _from_cache(ctx: RunContext, cp: Checkpoint[..., Any], key: str) -> ValueRef | None:
    doc = read_json(ctx.journal.store, cache_key_path(key))
    if doc is None:
        return None
    ctx.log_event(f"checkpoint {cp.name}: cache hit, body not run")
    return ValueRef.model_validate(doc)


async def run_async(ctx: RunContext, call: CallPlan) -> Any:
    """Execute and commit a planned ``async def`` call (or return what it reuses)."""
    if call.reused is not None:
        return call.reused[0]
    if call.deferred:  # deferred when it was called; awaiting it needs the result
        raise ctx.dispatch.suspend()
    done = await execute_async(ctx, call)
    return commit(ctx, call, done)

