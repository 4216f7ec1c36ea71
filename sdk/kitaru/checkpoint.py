"""``@checkpoint``: a function whose result is committed to the journal once and reused.

Invariant: a checkpoint body runs only when no committed record exists for its id in
this execution, or when the recorded call had other arguments (a replay). Records are
created with ``put_if_absent``, so a concurrent writer of the same id (a zombie run)
never replaces a committed result; the loser adopts the winner's value.

A call is planned in the flow's own thread and in call order (see :mod:`kitaru.calls`),
so ids stay stable while bodies run concurrently: ``.submit()`` and ``.map()`` run them
on a bounded pool of threads, and ``async def`` checkpoints run as tasks of the flow's
event loop (``asyncio.gather`` over them runs them at once). Outside a flow a checkpoint
is its plain function, so it can be unit-tested as one.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, overload

from kitaru.errors import KitaruContextError, KitaruUsageError
from kitaru.limits import MAX_RETRY_DELAY, check_name

# The engine (kitaru.calls, kitaru.context) is imported where a checkpoint is called in a
# run, not where one is defined.
if TYPE_CHECKING:
    import inspect
    from concurrent.futures import Future, ThreadPoolExecutor

    from kitaru.context import RunContext

P = ParamSpec("P")
R = TypeVar("R")
Runtime = Literal["inline", "isolated"]

#: First retry delay in seconds; each later retry waits twice as long, up to the cap.
DEFAULT_RETRY_DELAY = 1.0
__all__ = ["DEFAULT_RETRY_DELAY", "MAX_RETRY_DELAY", "Checkpoint", "CheckpointFuture",
           "checkpoint"]


#: The code flag of an ``async def`` function (``inspect.CO_COROUTINE``).
_CO_COROUTINE = 0x80


def is_coroutine_function(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine, as ``inspect.iscoroutinefunction``
    tells it (bound methods and ``functools.partial`` looked through), without inspect."""
    fn = getattr(fn, "__func__", fn)
    while isinstance(fn, functools.partial):
        fn = fn.func
    code = getattr(fn, "__code__", None) if isinstance(fn, types.FunctionType) else None
    return code is not None and bool(code.co_flags & _CO_COROUTINE)


class CheckpointFuture(Generic[R]):
    """The result of :meth:`Checkpoint.submit`: call :meth:`result` to get the value."""

    def __init__(self, checkpoint_id: str, future: Future[R]) -> None:
        self.checkpoint_id = checkpoint_id
        self._future = future

    def result(self, timeout: float | None = None) -> R:
        """Return the checkpoint's value, or raise the exception its body raised.

        Args:
            timeout: Seconds to wait at most (default: until it finishes).
        """
        return self._future.result(timeout)

    def done(self) -> bool:
        """Whether the checkpoint has finished."""
        return self._future.done()

    @classmethod
    def finished(cls, checkpoint_id: str, value: Any = None,
                 error: BaseException | None = None) -> CheckpointFuture[Any]:
        """A future that is already done."""
        from concurrent.futures import Future  # imported when a run first needs one

        future: Future[Any] = Future()
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
        return cls(checkpoint_id, future)


class _DeferredFuture(CheckpointFuture[R]):
    """A call left to a pod of its own: asking for its result ends this run."""

    def __init__(self, ctx: RunContext, checkpoint_id: str) -> None:
        from concurrent.futures import Future

        super().__init__(checkpoint_id, Future())
        self._ctx = ctx

    def result(self, timeout: float | None = None) -> R:
        raise self._ctx.dispatch.suspend()

    def done(self) -> bool:
        return False


class Checkpoint(Generic[P, R]):
    """A function wrapped by :func:`checkpoint`. Call it inside a ``@flow``."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        retries: int = 0,
        retry_delay: float = DEFAULT_RETRY_DELAY,
        type: str | None = None,
        runtime: Runtime | None = None,
        cache: bool | None = None,
        pickle: bool = False,
        name: str | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        if retries < 0:
            raise KitaruUsageError(f"checkpoint {fn.__name__}: retries must be >= 0, got {retries}")
        if runtime not in (None, "inline", "isolated"):
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
        self.resources = resources
        self.is_async = is_coroutine_function(fn)
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def signature(self) -> inspect.Signature:
        """The function's signature, read when a call is first bound: a module that only
        defines checkpoints does not import inspect (and its ast, dis and tokenize)."""
        import inspect

        return inspect.signature(self.fn)

    def __repr__(self) -> str:
        return f"<checkpoint {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        ctx = self._run_or_none()
        if ctx is None:
            return self.fn(*args, **kwargs)
        from kitaru import calls

        call_id = kwargs.pop("id", None)
        after = kwargs.pop("after", None)
        call = calls.plan(ctx, self, args, kwargs, call_id=call_id, after=after)  # type: ignore[arg-type]
        if call.deferred:
            calls.defer(ctx, call, fan_out=False)
            if not self.is_async:
                raise ctx.dispatch.suspend()
        if self.is_async:
            return calls.run_async(ctx, call)  # type: ignore[return-value]
        if call.reused is not None:
            return call.reused[0]  # type: ignore[no-any-return]
        return calls.commit(ctx, call, calls.execute(ctx, call))  # type: ignore[no-any-return]

    def submit(self, *args: Any, id: str | None = None, after: Any = None,
               **kwargs: Any) -> CheckpointFuture[R]:
        """Start the checkpoint and return a future of its value.

        The body runs on the run's pool of threads (``max_concurrency`` of the flow);
        its id is given now, in call order, however long it takes.
        """
        ctx = self._run_or_none()
        if ctx is None:
            return self._submit_plain(args, kwargs)
        return self._submit(ctx, ctx.pool(), args, kwargs, call_id=id, after=after)

    def map(self, *iterables: Iterable[Any], after: Any = None,
            max_concurrency: int | None = None) -> list[CheckpointFuture[R]]:
        """Run the checkpoint once per item (zipping several iterables), like ``map``.

        Args:
            iterables: The arguments, one iterable per parameter.
            after: Values or futures every call depends on.
            max_concurrency: Bodies running at once for this call (default: the flow's).
        """
        return self._fan_out(zip(*iterables, strict=False), after, max_concurrency)

    def product(self, *iterables: Iterable[Any], after: Any = None,
                max_concurrency: int | None = None) -> list[CheckpointFuture[R]]:
        """Run the checkpoint once per combination of the iterables' items."""
        return self._fan_out(itertools.product(*iterables), after, max_concurrency)

    # -- plumbing ------------------------------------------------------------------------

    def _run_or_none(self) -> RunContext | None:
        from kitaru.context import current_run, current_scope

        ctx = current_run()
        scope = current_scope()
        if ctx is not None and scope is not None:
            raise KitaruContextError(
                f"checkpoint {self.name!r} was called inside checkpoint "
                f"{scope.checkpoint_id!r}; checkpoints cannot be nested, call both from the flow"
            )
        return ctx

    def _fan_out(self, calls_args: Iterable[tuple[Any, ...]], after: Any,
                 max_concurrency: int | None) -> list[CheckpointFuture[R]]:
        ctx = self._run_or_none()
        if ctx is None:
            return [self._submit_plain(args, {}) for args in calls_args]
        if max_concurrency is not None and max_concurrency < 1:
            raise KitaruUsageError(f"checkpoint {self.name!r}: max_concurrency must be >= 1, "
                                   f"got {max_concurrency}")
        from concurrent.futures import ThreadPoolExecutor

        pool = (ThreadPoolExecutor(max_concurrency, thread_name_prefix=f"kitaru-{self.name}")
                if max_concurrency is not None else ctx.pool())
        try:
            return [self._submit(ctx, pool, args, {}, call_id=None, after=after)
                    for args in calls_args]
        finally:
            if pool is not ctx.pool():
                pool.shutdown(wait=False)  # its threads finish the calls, then end

    def _submit(self, ctx: RunContext, pool: ThreadPoolExecutor, args: tuple[Any, ...],
                kwargs: dict[str, Any], *, call_id: str | None,
                after: Any) -> CheckpointFuture[R]:
        from kitaru import calls

        try:
            call = calls.plan(ctx, self, args, kwargs, call_id=call_id, after=after)
        except Exception as exc:  # a bad call: the future carries the error
            return CheckpointFuture.finished(ctx.last_checkpoint_id, error=exc)
        if call.reused is not None:
            return CheckpointFuture.finished(call.checkpoint_id, call.reused[0])
        if call.deferred:
            calls.defer(ctx, call, fan_out=True)
            return _DeferredFuture(ctx, call.checkpoint_id)

        def work() -> Any:
            if self.is_async:
                import asyncio

                return asyncio.run(calls.run_async(ctx, call))
            return calls.commit(ctx, call, calls.execute(ctx, call))

        # Each task runs in a copy of this context: the run is visible there, and the
        # checkpoint scope one task enters is not seen by another.
        future = pool.submit(contextvars.copy_context().run, work)
        ctx.track(future)
        return CheckpointFuture(call.checkpoint_id, future)

    def _submit_plain(self, args: tuple[Any, ...], kwargs: dict[str, Any]
                      ) -> CheckpointFuture[R]:
        try:
            value: Any = self.fn(*args, **kwargs)
            if self.is_async:
                import asyncio

                value = asyncio.run(value)
        except Exception as exc:
            return CheckpointFuture.finished(self.name, error=exc)
        return CheckpointFuture.finished(self.name, value)


@overload
def checkpoint(fn: Callable[P, R], /) -> Checkpoint[P, R]: ...


@overload
def checkpoint(
    *,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    type: str | None = None,
    runtime: Runtime | None = None,
    cache: bool | None = None,
    pickle: bool = False,
    name: str | None = None,
    resources: dict[str, Any] | None = None,
) -> Callable[[Callable[P, R]], Checkpoint[P, R]]: ...


def checkpoint(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    type: str | None = None,
    runtime: Runtime | None = None,
    cache: bool | None = None,
    pickle: bool = False,
    name: str | None = None,
    resources: dict[str, Any] | None = None,
) -> Checkpoint[P, R] | Callable[[Callable[P, R]], Checkpoint[P, R]]:
    """Make a function a checkpoint: its return value is stored and reused on resume.

    Use bare (``@checkpoint``) or with options, on a plain or an ``async def`` function.
    Inside a ``@flow`` each call gets a stable id (``name``, ``name_2``, ... or ``id=`` at
    the call site); outside a flow the function runs as it is.

    Args:
        fn: The function (when used bare).
        retries: Extra attempts when the body raises, with exponential backoff.
        retry_delay: Seconds before the first retry; doubles each time, capped at a minute.
        type: A label for tools and dashboards, such as ``"llm_call"`` or ``"tool_call"``.
        runtime: ``"isolated"`` (its own pod on a cluster) or ``"inline"`` (in the pod
            that runs the flow). Unset, the FlowVersion's ``spec.checkpointRuntime``
            decides (default ``isolated``). In local mode every body runs in the flow's
            process, with the same journal records.
        cache: Reuse the result across executions when the code and arguments match.
            Off by default; ``None`` takes the flow's setting. A replay root always runs.
        pickle: Allow pickle for return values JSON cannot hold.
        name: The checkpoint's name (default: the function's name).
        resources: Container resources of its pod on a cluster (Pod API form, e.g.
            ``{"limits": {"nvidia.com/gpu": "1"}}``); the FlowVersion's placement for the
            checkpoint wins where it sets any.
    """
    def wrap(f: Callable[P, R]) -> Checkpoint[P, R]:
        return Checkpoint(f, retries=retries, retry_delay=retry_delay, type=type,
                          runtime=runtime, cache=cache, pickle=pickle, name=name,
                          resources=resources)

    return wrap(fn) if fn is not None else wrap
