"""``@checkpoint``: a function whose result is committed to the journal once and reused.

Invariant: a checkpoint body runs only when no committed record exists for its id in
this execution. Its record is created with ``put_if_absent``, so a concurrent writer of
the same id (a zombie run) never replaces a committed result; the loser adopts the
winner's value.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

from kitaru.arguments import argument_digests, changed_argument
from kitaru.context import (
    CheckpointScope,
    RunContext,
    current_scope,
    enter_scope,
    leave_scope,
    require_run,
)
from kitaru.errors import KitaruContextError, KitaruDivergenceError, KitaruUsageError
from kitaru.journal import (
    cache_key_path,
    check_name,
    read_json,
    read_value_bytes,
    store_value,
)
from kitaru.records import CheckpointRecord, ReusableRecord, ValueRef, utcnow
from kitaru.serialization import decode, encode, type_path

P = ParamSpec("P")
R = TypeVar("R")
Runtime = Literal["inline", "isolated"]

logger = logging.getLogger("kitaru")

#: First retry delay in seconds; each later retry waits twice as long, up to the cap.
DEFAULT_RETRY_DELAY = 1.0
MAX_RETRY_DELAY = 60.0


class CheckpointFuture(Generic[R]):
    """The result of :meth:`Checkpoint.submit`: call :meth:`result` to get the value.

    Locally, submitted checkpoints run at once, one after another, with the same journal
    records a cluster run writes.
    """

    def __init__(self, checkpoint_id: str, value: Any = None, error: Exception | None = None):
        self.checkpoint_id = checkpoint_id
        self._value = value
        self._error = error

    def result(self) -> R:
        """Return the checkpoint's value, or raise the exception its body raised."""
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[no-any-return]

    def done(self) -> bool:
        """Whether the checkpoint has finished (always True locally)."""
        return True


class Checkpoint(Generic[P, R]):
    """A function wrapped by :func:`checkpoint`. Call it inside a ``@flow``."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        retries: int = 0,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        type: str | None = None,
        runtime: Runtime = "inline",
        cache: bool | None = None,
        pickle: bool = False,
        name: str | None = None,
    ) -> None:
        if retries < 0:
            raise KitaruUsageError(f"checkpoint {fn.__name__}: retries must be >= 0, got {retries}")
        if runtime not in ("inline", "isolated"):
            raise KitaruUsageError(
                f"checkpoint {fn.__name__}: runtime must be 'inline' or 'isolated', got {runtime!r}"
            )
        self.fn = fn
        self.name = check_name("checkpoint name", name or fn.__name__)
        self.retries = retries
        self.retry_delay = retry_delay
        self.type = type
        self.runtime = runtime
        self.cache = cache
        self.pickle = pickle
        self._signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<checkpoint {self.name}>"

    def __call__(
        self, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        call_id = kwargs.pop("id", None)
        after = kwargs.pop("after", None)
        return self._call(args, kwargs, call_id=call_id, after=after)  # type: ignore[arg-type]

    def submit(self, *args: Any, id: str | None = None, after: Any = None, **kwargs: Any
               ) -> CheckpointFuture[R]:
        """Start the checkpoint and return a future of its value."""
        checkpoint_id, value, error = self._call_capturing(args, kwargs, id, after)
        return CheckpointFuture(checkpoint_id, value, error)

    def map(self, *iterables: Iterable[Any], after: Any = None) -> list[CheckpointFuture[R]]:
        """Run the checkpoint once per item (zipping several iterables), like ``map``."""
        return [self.submit(*args, after=after) for args in zip(*iterables, strict=False)]

    def product(self, *iterables: Iterable[Any], after: Any = None) -> list[CheckpointFuture[R]]:
        """Run the checkpoint once per combination of the iterables' items."""
        return [self.submit(*args, after=after) for args in itertools.product(*iterables)]

    # -- the call ------------------------------------------------------------------------

    def _call_capturing(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], call_id: str | None, after: Any
    ) -> tuple[str, Any, Exception | None]:
        ctx = self._require_flow()
        try:
            value = self._call(args, kwargs, call_id=call_id, after=after)
        except Exception as exc:
            return ctx.last_checkpoint_id, None, exc
        return ctx.last_checkpoint_id, value, None

    def _require_flow(self) -> RunContext:
        ctx = require_run(f"checkpoint {self.name!r}")
        scope = current_scope()
        if scope is not None:
            raise KitaruContextError(
                f"checkpoint {self.name!r} was called inside checkpoint "
                f"{scope.checkpoint_id!r}; checkpoints cannot be nested, call both from the flow"
            )
        return ctx

    def _next_id(self, ctx: RunContext, call_id: str | None) -> str:
        if call_id is not None:
            checkpoint_id = check_name("checkpoint id", call_id)
        else:
            count = ctx.name_counts.get(self.name, 0) + 1
            ctx.name_counts[self.name] = count
            checkpoint_id = self.name if count == 1 else f"{self.name}_{count}"
            while checkpoint_id in ctx.used_ids:  # an explicit id took this name earlier
                count += 1
                ctx.name_counts[self.name] = count
                checkpoint_id = f"{self.name}_{count}"
        if checkpoint_id in ctx.used_ids:
            raise KitaruUsageError(
                f"checkpoint id {checkpoint_id!r} is used twice in one run of flow "
                f"{ctx.spec.flow!r}; give each call its own id="
            )
        ctx.used_ids.add(checkpoint_id)
        return checkpoint_id

    def _call(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], *, call_id: str | None, after: Any
    ) -> R:
        ctx = self._require_flow()
        checkpoint_id = self._next_id(ctx, call_id)
        ctx.last_checkpoint_id = checkpoint_id
        seq = ctx.seq
        ctx.seq += 1
        ctx.check_cancel()

        record = ctx.records.get(checkpoint_id)
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
        bound = self._bind(ctx, checkpoint_id, args, kwargs)
        digests = argument_digests(bound.arguments, ctx.lineage.known_digest)
        if record is not None:
            self._check_same_call(ctx, record, digests)
            return self._reuse(ctx, record)
        offer = ctx.reusable.get(checkpoint_id)
        if offer is not None:
            reused = self._take_offer(ctx, offer, seq=seq, digests=digests)
            if reused is not None:
                return reused[0]  # type: ignore[no-any-return]

        parents = ctx.lineage.sources_of(*bound.args, *bound.kwargs.values())
        for source in _after_sources(ctx, after):
            if source not in parents:
                parents.append(source)

        is_root = ctx.spec.replay is not None and checkpoint_id in ctx.spec.replay.roots
        use_cache = (self.cache if self.cache is not None else ctx.cache_default) or False
        cache_key = self._cache_key(bound) if use_cache and not is_root else None
        if cache_key is not None:
            cached = self._from_cache(ctx, cache_key)
            if cached is not None:
                return self._commit(ctx, checkpoint_id=checkpoint_id, seq=seq, ref=cached,
                                    parents=parents, metadata={}, attempts=0,
                                    started=utcnow(), source="cache", value=None,
                                    digests=digests)

        if self.runtime == "isolated":
            ctx.log_event(f"checkpoint {checkpoint_id}: runtime='isolated' runs in its own pod "
                          "on a cluster; in local mode it runs in the flow's process")
        started = utcnow()
        scope = CheckpointScope(checkpoint_id)
        value, attempts = self._run_body(ctx, scope, bound)
        where = f"checkpoint {checkpoint_id!r}"
        encoded = encode(value, allow_pickle=self.pickle or ctx.allow_pickle, where=where)
        ref = store_value(ctx.journal.store, encoded)
        if cache_key is not None:
            ctx.journal.store.put_if_absent(cache_key_path(cache_key),
                                            ref.model_dump_json().encode())
        ctx.checkpoints_run += 1
        return self._commit(ctx, checkpoint_id=checkpoint_id, seq=seq, ref=ref, parents=parents,
                            metadata=scope.metadata, attempts=attempts, started=started,
                            source="run", value=value, digests=digests)

    def _bind(
        self, ctx: RunContext, checkpoint_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> inspect.BoundArguments:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise KitaruUsageError(f"checkpoint {checkpoint_id!r}: {exc}") from exc
        replay = ctx.spec.replay
        if replay is not None and checkpoint_id in replay.arg_overrides:
            for param, ref in replay.arg_overrides[checkpoint_id].items():
                if param not in self._signature.parameters:
                    raise KitaruUsageError(
                        f"replay override checkpoint.{checkpoint_id}.inputs.{param}: checkpoint "
                        f"{self.name!r} has no parameter {param!r}"
                    )
                bound.arguments[param] = decode(
                    ref.serializer, ref.type, read_value_bytes(ctx.journal.store, ref)
                )
        return bound

    def _run_body(
        self, ctx: RunContext, scope: CheckpointScope, bound: inspect.BoundArguments
    ) -> tuple[Any, int]:
        attempt = 0
        while True:
            attempt += 1
            token = enter_scope(scope)
            start = time.perf_counter()
            try:
                value = self.fn(*bound.args, **bound.kwargs)
            except Exception as exc:
                if attempt > self.retries:
                    ctx.log_event(f"checkpoint {scope.checkpoint_id}: failed after {attempt} "
                                  f"attempt(s): {type(exc).__name__}: {exc}")
                    ctx.failed_checkpoint = scope.checkpoint_id
                    raise
                delay = min(self.retry_delay * 2 ** (attempt - 1), MAX_RETRY_DELAY)
                ctx.log_event(f"checkpoint {scope.checkpoint_id}: attempt {attempt} failed "
                              f"({type(exc).__name__}: {exc}); retrying in {delay:g} s")
                ctx.sleep(delay)
                continue
            finally:
                leave_scope(token)
            ctx.log_event(f"checkpoint {scope.checkpoint_id}: ran in "
                          f"{time.perf_counter() - start:.3f} s")
            return value, attempt

    def _commit(
        self,
        ctx: RunContext,
        *,
        checkpoint_id: str,
        seq: int,
        ref: ValueRef,
        parents: list[str],
        metadata: dict[str, Any],
        attempts: int,
        started: datetime,
        source: Literal["run", "cache"],
        value: Any,
        digests: dict[str, str],
    ) -> R:
        record = CheckpointRecord(
            id=checkpoint_id, seq=seq, name=self.name, function=type_path(self.fn),  # type: ignore[arg-type]
            type=self.type, runtime=self.runtime, value=ref, parents=parents,
            metadata=metadata, run=ctx.run, attempts=attempts, started_at=started,
            finished_at=utcnow(), source=source, arguments=digests,
        )
        committed, on_file = ctx.journal.commit(record)
        ctx.records[checkpoint_id] = on_file
        ctx.by_seq[seq] = on_file
        if not committed or source == "cache":
            if not committed:
                ctx.log_event(f"checkpoint {checkpoint_id}: another process committed it "
                              "first; using its value")
            return self._reuse(ctx, on_file, count=False)
        ctx.lineage.produced(checkpoint_id, value, digest=ref.digest, size=ref.size)
        ctx.recent_checkpoints.append(checkpoint_id)
        return value  # type: ignore[no-any-return]

    def _check_same_call(self, ctx: RunContext, record: CheckpointRecord,
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

    def _take_offer(self, ctx: RunContext, offer: ReusableRecord, *, seq: int,
                    digests: dict[str, str]) -> tuple[Any] | None:
        """Reuse a replay source's record when this call matches it; None: run the body."""
        source = offer.record
        if not offer.forced and source.arguments is not None:
            changed = changed_argument(source.arguments, digests)
            if changed is not None:
                ctx.log_event(f"checkpoint {source.id}: argument {changed!r} differs from "
                              f"execution {source.source_execution}, so it runs again")
                return None
        copy = source.model_copy(update={"seq": seq, "arguments": digests})
        _, on_file = ctx.journal.commit(copy)
        ctx.records[on_file.id] = on_file
        ctx.by_seq[seq] = on_file
        return (self._reuse(ctx, on_file),)

    def _reuse(self, ctx: RunContext, record: CheckpointRecord, *, count: bool = True) -> R:
        data = read_value_bytes(ctx.journal.store, record.value)
        value = decode(record.value.serializer, record.value.type, data)
        ctx.lineage.produced(record.id, value, digest=record.value.digest,
                             size=record.value.size)
        ctx.recent_checkpoints.append(record.id)
        if count:
            ctx.checkpoints_reused += 1
        return value  # type: ignore[no-any-return]

    def _cache_key(self, bound: inspect.BoundArguments) -> str | None:
        try:
            source = inspect.getsource(self.fn)
        except (OSError, TypeError):
            source = type_path(self.fn)  # type: ignore[arg-type]
        try:
            args = encode(dict(bound.arguments), allow_pickle=False, where="cache key").data
        except Exception:
            logger.info("checkpoint %s: arguments have no JSON form, so cache=True is skipped",
                        self.name)
            return None
        return hashlib.sha256(source.encode() + b"\0" + args).hexdigest()

    def _from_cache(self, ctx: RunContext, key: str) -> ValueRef | None:
        doc = read_json(ctx.journal.store, cache_key_path(key))
        if doc is None:
            return None
        ctx.log_event(f"checkpoint {self.name}: cache hit, body not run")
        return ValueRef.model_validate(doc)


def _after_sources(ctx: RunContext, after: Any) -> list[str]:
    if after is None:
        return []
    items = after if isinstance(after, (list, tuple)) else [after]
    sources: list[str] = []
    for item in items:
        if isinstance(item, CheckpointFuture):
            sources.append(item.checkpoint_id)
        else:
            sources.extend(ctx.lineage.sources_of(item))
    return sources


@overload
def checkpoint(fn: Callable[P, R], /) -> Checkpoint[P, R]: ...


@overload
def checkpoint(
    *,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    type: str | None = None,
    runtime: Runtime = "inline",
    cache: bool | None = None,
    pickle: bool = False,
    name: str | None = None,
) -> Callable[[Callable[P, R]], Checkpoint[P, R]]: ...


def checkpoint(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    type: str | None = None,
    runtime: Runtime = "inline",
    cache: bool | None = None,
    pickle: bool = False,
    name: str | None = None,
) -> Checkpoint[P, R] | Callable[[Callable[P, R]], Checkpoint[P, R]]:
    """Make a function a checkpoint: its return value is stored and reused on resume.

    Use bare (``@checkpoint``) or with options. Call it only inside a ``@flow``; each call
    gets a stable id (``name``, ``name_2``, ... or ``id=`` at the call site).

    Args:
        fn: The function (when used bare).
        retries: Extra attempts when the body raises, with exponential backoff.
        retry_delay: Seconds before the first retry; doubles each time, capped at a minute.
        type: A label for tools and dashboards, such as ``"llm_call"`` or ``"tool_call"``.
        runtime: ``"inline"`` (in the flow's process) or ``"isolated"`` (its own pod on a
            cluster; in local mode it runs in the flow's process and the log says so).
        cache: Reuse the result across executions when the code and arguments match.
            Off by default; ``None`` takes the flow's setting. A replay root always runs.
        pickle: Allow pickle for return values JSON cannot hold.
        name: The checkpoint's name (default: the function's name).
    """
    def wrap(f: Callable[P, R]) -> Checkpoint[P, R]:
        return Checkpoint(f, retries=retries, retry_delay=retry_delay, type=type,
                          runtime=runtime, cache=cache, pickle=pickle, name=name)

    return wrap(fn) if fn is not None else wrap
