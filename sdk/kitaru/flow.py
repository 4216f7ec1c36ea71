"""``@flow``: the durable entry point of an agent.

A flow is never called directly. ``.run()`` creates an execution and runs it in this
process until it completes, fails or reaches a wait; later runs (after an answer, a
retry) happen in fresh processes that import the flow by its entrypoint
(``module:qualname``), so a flow must be defined at the top level of an importable
module (a script's flows are imported by the script's file name).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from kitaru.backoff import Backoff
from kitaru.errors import KitaruStateError, KitaruUsageError
from kitaru.limits import DEFAULT_MAX_CONCURRENCY, check_name
from kitaru.serialization.names import import_type, script_module_name, use_flow_module

# The engine is imported where a flow starts, not where one is defined: a flow module's
# decorators (and `import kitaru`) load none of it.
if TYPE_CHECKING:
    import inspect

    from kitaru.context import RunContext
    from kitaru.handle import FlowHandle
    from kitaru.journal import ExecutionStore
    from kitaru.records import ExecutionSpec
    from kitaru.stores import ObjectStore

P = ParamSpec("P")
R = TypeVar("R")

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _child_id(parent: RunContext, flow_name: str) -> str:
    """The id of a child flow started by a parent's run: stable across the parent's runs."""
    with parent.lock:
        count = parent.child_counts.get(flow_name, 0) + 1
        parent.child_counts[flow_name] = count
    base = "".join(c if c.isalnum() or c in "_-" else "-" for c in flow_name)
    child = f"{parent.exec_id}.{base}" + (f"_{count}" if count > 1 else "")
    return check_name("execution id", child[-200:].lstrip(".-_") or base)


def new_execution_id(flow_name: str) -> str:
    """Return a fresh execution id: the flow's name (DNS-label friendly) and 8 random chars."""
    import secrets

    base = "".join(c if c.isalnum() else "-" for c in flow_name.lower()).strip("-")[:40]
    suffix = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    return f"{base or 'flow'}-{suffix}"


def _entrypoint(fn: Callable[..., Any]) -> tuple[str, str | None]:
    """Return the importable ``module:qualname`` of ``fn`` and the folder to import it from.

    A flow in a script run as ``python script.py`` is imported by later runs under the
    script's module name, the name its values' types are recorded under too.
    """
    from pathlib import Path

    module_name = fn.__module__
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if module_name == "__main__":
        if not file:
            return f"__main__:{fn.__qualname__}", None
        path = Path(file).resolve()
        return f"{script_module_name(file)}:{fn.__qualname__}", str(path.parent)
    if not file:
        return f"{module_name}:{fn.__qualname__}", None
    root = Path(file).resolve().parent
    depth = module_name.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    for _ in range(depth):
        root = root.parent
    return f"{module_name}:{fn.__qualname__}", str(root)


def load_flow(entrypoint: str, source_dir: str | None) -> Flow[..., Any]:
    """Import the flow named by ``module:qualname``.

    Values recorded before types from a script were named by the script's module say
    ``__main__:X``; from here on this process reads them from the flow's module.

    Raises:
        KitaruUsageError: The entrypoint is malformed, cannot be imported or is not a flow.
    """
    module, sep, qualname = entrypoint.partition(":")
    if not sep or not module or not qualname:
        raise KitaruUsageError(f"entrypoint {entrypoint!r} must look like module:function")
    if source_dir and source_dir not in sys.path:
        sys.path.insert(0, source_dir)
    try:
        obj = import_type(entrypoint)
    except (ImportError, AttributeError) as exc:
        raise KitaruUsageError(f"entrypoint {entrypoint!r} cannot be imported: {exc}") from exc
    if not isinstance(obj, Flow):
        raise KitaruUsageError(f"entrypoint {entrypoint!r} is not a @flow function")
    use_flow_module(module)
    return obj


#: Delays between a flow's own retries after a failure of the runtime or the store.
_RETRY_BACKOFF = Backoff(1.0, 30.0)


class Flow(Generic[P, R]):
    """A function wrapped by :func:`flow`."""

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        retries: int = 0,
        cache: bool | None = None,
        pickle: bool = False,
        store: str | ObjectStore | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        if max_concurrency < 1:
            raise KitaruUsageError(f"flow {fn.__name__}: max_concurrency must be >= 1, got "
                                   f"{max_concurrency}")
        self.fn = fn
        self.name = check_name("flow name", name or fn.__name__)
        self.retries = retries
        self.cache = cache
        self.pickle = pickle
        self.max_concurrency = max_concurrency
        self._store = store
        functools.update_wrapper(self, fn)

    @functools.cached_property
    def _signature(self) -> inspect.Signature:
        # Read when the flow is first started: defining flows does not import inspect.
        import inspect

        return inspect.signature(self.fn)

    def __repr__(self) -> str:
        return f"<flow {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        raise KitaruUsageError(
            f"flow {self.name!r} cannot be called directly; use {self.name}.run(...) to "
            "start a durable execution"
        )

    def options(self, *, store: str | ObjectStore | None = None) -> Flow[P, R]:
        """Return this flow bound to another store (a URI or an :class:`ObjectStore`)."""
        return Flow(self.fn, name=self.name, retries=self.retries, cache=self.cache,
                    pickle=self.pickle, store=store, max_concurrency=self.max_concurrency)

    def store(self) -> ObjectStore:
        """The store this flow's executions go to."""
        from kitaru.stores import ObjectStore, open_store

        if isinstance(self._store, ObjectStore):
            return self._store
        return open_store(self._store)

    def deploy(self, *, image: str, version: int | None = None, tag: str | None = None,
               store: str | None = None, store_secret: str | None = None,
               env: dict[str, str] | None = None, namespace: str | None = None,
               context: str | None = None, dry_run: bool = False) -> list[dict[str, Any]]:
        """Deploy this flow to the cluster as ``kitaru deploy`` does; return the manifests.

        The entrypoint is this flow's module and name, so the module must be importable
        in the image (not ``__main__``).
        """
        from kitaru.cluster.api import connect
        from kitaru.cluster.flows import deploy

        module = self.fn.__module__
        if module == "__main__":
            raise KitaruUsageError(f"flow {self.name!r} is defined in a script run as "
                                   "__main__; deploy it from an importable module")
        cluster = None if dry_run and version else connect(context=context,
                                                           namespace=namespace)
        return deploy(cluster, f"{module}:{self.fn.__name__}", self.name, image=image,
                      version=version, tag=tag, store=store, store_secret=store_secret,
                      env=env, dry_run=dry_run)

    def run(self, *args: P.args, **kwargs: P.kwargs) -> FlowHandle:
        """Start an execution and run it here until it completes, fails or waits.

        A failure inside the flow does not raise: inspect the handle (``status``,
        ``wait()``, ``get()``).

        ``execution_id=`` (a keyword, unless the flow has a parameter of that name)
        names the execution. Starting with an id that exists does not run anything
        again: it returns that execution's handle, so another system can start a flow
        exactly once by retrying the same call. The same id with other inputs is refused.

        Called inside another flow's body, this starts a child flow whose id is derived
        from the parent's (``<parent>.<flow>``, ``_2``, ... in call order), so a re-run of
        the parent finds the same child instead of starting a new one.

        Raises:
            KitaruUsageError: The arguments do not fit the flow.
            KitaruStateError: ``execution_id`` names an execution of another flow, or one
                started with other inputs.
        """
        from kitaru.context import current_run
        from kitaru.handle import FlowHandle
        from kitaru.journal import ExecutionStore, store_value
        from kitaru.serialization import encode

        execution_id = None
        if "execution_id" in kwargs and "execution_id" not in self._signature.parameters:
            execution_id = str(kwargs.pop("execution_id"))
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise KitaruUsageError(f"flow {self.name!r}: {exc}") from exc
        bound.apply_defaults()
        parent = current_run()
        store = (parent.journal.store if parent is not None and self._store is None
                 else self.store())
        if execution_id is None and parent is not None:
            execution_id = _child_id(parent, self.name)
        journal = ExecutionStore(store, execution_id or new_execution_id(self.name))
        inputs = {
            name: store_value(store, encode(value, allow_pickle=self.pickle,
                                            where=f"flow {self.name!r} input {name!r}"))
            for name, value in bound.arguments.items()
        }
        if not journal.create(self._spec(journal.exec_id, inputs)):
            self._check_same_start(journal, inputs)
            if parent is not None:
                parent.log_event(f"child flow {journal.exec_id}: already started; reused")
            return FlowHandle(journal)
        if parent is not None:
            parent.log_event(f"child flow {journal.exec_id} started")
        self._run_here(journal, reason="start")
        return FlowHandle(journal)

    def _check_same_start(self, journal: ExecutionStore, inputs: Mapping[str, Any]) -> None:
        existing = journal.spec()
        if existing.flow != self.name:
            raise KitaruStateError(
                f"execution {journal.exec_id} is an execution of flow {existing.flow!r}, "
                f"not {self.name!r}; choose another execution_id")
        for name in sorted(set(existing.inputs) | set(inputs)):
            old, new = existing.inputs.get(name), inputs.get(name)
            if (old.digest if old else None) != (new.digest if new else None):
                raise KitaruStateError(
                    f"execution {journal.exec_id} was started with another input {name!r}; "
                    "an execution id names one start of a flow, so use a new id to start "
                    "it with other inputs")

    async def run_async(self, *args: P.args, **kwargs: P.kwargs) -> FlowHandle:
        """Like :meth:`run`, from async code: the execution runs on a worker thread (an
        ``async def`` flow on an event loop of its own there), so this loop stays free."""
        import asyncio  # only async callers pay for importing it

        return await asyncio.to_thread(self.run, *args, **kwargs)

    def replay(
        self,
        exec_id: str,
        *,
        at: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        skip: tuple[str, ...] | list[str] = (),
        **flow_inputs: Any,
    ) -> FlowHandle:
        """Start a new execution that replays ``exec_id`` and run it here.

        Args:
            exec_id: The source execution.
            at: The checkpoint to replay from (it and its dependants run again).
            overrides: ``input.<name>``, ``checkpoint.<id>`` or
                ``checkpoint.<id>.inputs.<param>`` to new values.
            skip: Checkpoints to reuse even when downstream of a root.
            flow_inputs: Shorthand for ``input.<name>`` overrides.
        """
        from kitaru.journal import ExecutionStore
        from kitaru.replay import start_replay

        store = self.store()
        source = ExecutionStore(store, exec_id)
        merged = dict(overrides or {})
        merged.update({f"input.{k}": v for k, v in flow_inputs.items()})
        if source.spec().flow != self.name:
            raise KitaruUsageError(f"execution {exec_id} is an execution of flow "
                                   f"{source.spec().flow!r}, not {self.name!r}")
        handle = start_replay(source, at=at, overrides=merged, skip=skip, flow_fn=self.fn,
                              allow_pickle=self.pickle)
        self._run_here(ExecutionStore(store, handle.exec_id), reason="replay")
        return handle

    def _spec(self, exec_id: str, inputs: dict[str, Any]) -> ExecutionSpec:
        from kitaru.records import ExecutionSpec

        entrypoint, source_dir = _entrypoint(self.fn)
        return ExecutionSpec(exec_id=exec_id, flow=self.name, entrypoint=entrypoint,
                             source_dir=source_dir, cwd=os.getcwd(), inputs=inputs)

    def _run_here(self, journal: ExecutionStore, *, reason: str) -> None:
        from kitaru.claims import claim_run, next_run_number
        from kitaru.runner import execute_run

        for attempt in range(self.retries + 1):
            run = next_run_number(journal)
            if not claim_run(journal, run, reason=reason if attempt == 0 else "retry"):
                return  # another process is running it
            outcome = execute_run(journal, run, self.fn, allow_pickle=self.pickle,
                                  cache_default=self.cache,
                                  max_concurrency=self.max_concurrency)
            retryable = (outcome.outcome == "failed" and outcome.error is not None
                         and outcome.error.origin in ("runtime", "backend",
                                                         "infrastructure"))
            if not retryable or attempt == self.retries:
                return
            time.sleep(_RETRY_BACKOFF.delay(attempt + 1))


@overload
def flow(fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    retries: int = 0,
    cache: bool | None = None,
    pickle: bool = False,
    store: str | ObjectStore | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    retries: int = 0,
    cache: bool | None = None,
    pickle: bool = False,
    store: str | ObjectStore | None = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
) -> Flow[P, R] | Callable[[Callable[P, R]], Flow[P, R]]:
    """Make a function a durable flow. Start it with ``.run(...)``.

    Args:
        fn: The function (when used bare).
        name: The flow's name (default: the function's name).
        retries: New runs after a failure of the runtime or the store (not of the flow's
            own code), each reusing every finished checkpoint.
        cache: Default ``cache`` for checkpoints that do not set their own.
        pickle: Allow pickle for values JSON cannot hold, in every checkpoint.
        store: Store URI for this flow's executions (default ``$KITARU_STORE`` or
            ``./.kitaru``).
        max_concurrency: Checkpoint bodies run at once from ``.submit()`` and ``.map()``
            (a ``.map()`` call may set its own).
    """
    def wrap(f: Callable[P, R]) -> Flow[P, R]:
        return Flow(f, name=name, retries=retries, cache=cache, pickle=pickle, store=store,
                    max_concurrency=max_concurrency)

    return wrap(fn) if fn is not None else wrap
