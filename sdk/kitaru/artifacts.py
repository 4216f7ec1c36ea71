"""Named artifacts (``kitaru.save`` / ``kitaru.load``) and ``kitaru.log`` metadata."""

from __future__ import annotations

from typing import Any

from kitaru.errors import KitaruContextError, ObjectNotFoundError

# The engine is imported when these are called in a run, not by `import kitaru`.


def save(name: str, value: Any, *, type: str = "output", tags: list[str] | None = None) -> None:
    """Store ``value`` as the named artifact ``name`` of this execution.

    Call it inside a checkpoint. Saving the same name again replaces the artifact.

    Args:
        name: The artifact's name, unique within the execution.
        value: JSON builtins, bytes or a pydantic model (pickle when the flow opted in).
        type: A label such as ``output``, ``context`` or ``prompt``.
        tags: Free-form tags.
    """
    from kitaru.context import current_scope, require_run
    from kitaru.journal import store_value
    from kitaru.records import ArtifactRecord
    from kitaru.serialization import encode

    ctx = require_run("kitaru.save()")
    scope = current_scope()
    if scope is None:
        raise KitaruContextError(f"kitaru.save({name!r}) can only be called inside a checkpoint")
    encoded = encode(value, allow_pickle=ctx.allow_pickle, where=f"artifact {name!r}")
    ref = store_value(ctx.journal.store, encoded)
    ctx.journal.save_artifact(ArtifactRecord(name=name, type=type, tags=list(tags or []),
                                             value=ref, checkpoint=scope.checkpoint_id))


def load(exec_id: str, name: str) -> Any:
    """Return the artifact ``name`` saved by execution ``exec_id`` (in this store).

    Call it inside a checkpoint, so the value read becomes part of that checkpoint's result.
    """
    from kitaru.context import current_scope, require_run
    from kitaru.journal import ExecutionStore, read_value_bytes
    from kitaru.serialization import decode

    ctx = require_run("kitaru.load()")
    if current_scope() is None:
        raise KitaruContextError(f"kitaru.load({exec_id!r}, {name!r}) can only be called "
                                 "inside a checkpoint")
    journal = ExecutionStore(ctx.journal.store, exec_id)
    artifact = journal.artifact(name)
    if artifact is None:
        raise ObjectNotFoundError(f"execution {exec_id} has no artifact {name!r} in store "
                                  f"{ctx.journal.store.uri}")
    data = read_value_bytes(ctx.journal.store, artifact.value)
    return decode(artifact.value.serializer, artifact.value.type, data)


def log(**metadata: Any) -> None:
    """Attach metadata to the running checkpoint, or to the execution in the flow body."""
    from kitaru.context import current_run, current_scope

    scope = current_scope()
    if scope is not None:
        scope.metadata.update(metadata)
        return
    ctx = current_run()
    if ctx is None:
        raise KitaruContextError("kitaru.log() can only be called while a @flow runs")
    ctx.metadata.update(metadata)
