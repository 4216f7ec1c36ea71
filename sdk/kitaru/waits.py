"""``kitaru.wait()``: stop the flow until a person or another system answers.

An unanswered wait ends the run with outcome ``waiting`` and no process left running.
Answering it (client, CLI or a patch of the Execution on a cluster) validates the value
against the wait's JSON schema, records it once (an accepted answer is final) and starts a
new run, which replays the journal and gets the answer from this call.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kitaru.errors import (
    KitaruContextError,
    KitaruExecutionError,
    KitaruTimeoutError,
    KitaruUsageError,
    KitaruWaitValidationError,
)
from kitaru.limits import check_name
from kitaru.schema_check import verdict
from kitaru.timers import now

# The engine is imported when a wait is reached in a run; pydantic only for a schema
# other than a plain type (see _PLAIN).
if TYPE_CHECKING:
    from kitaru.records import WaitInfo

#: ``wait(default=...)`` left out (None is a default like any other).
_NO_DEFAULT: Any = object()


class WaitSuspend(BaseException):
    """Ends the run at an unanswered wait. A ``BaseException`` so flows cannot swallow it."""

    def __init__(self, info: WaitInfo) -> None:
        super().__init__(f"waiting on {info.name!r}")
        self.info = info


#: The plain types a wait is most often given, with the JSON schema pydantic gives each
#: and the values its strict validation accepts: a resumed run gets their answers
#: without importing pydantic. (``tests/sdk/test_waits.py`` compares both with pydantic.)
_PLAIN: dict[Any, tuple[dict[str, Any], Callable[[Any], bool]]] = {
    bool: ({"type": "boolean"}, lambda v: isinstance(v, bool)),
    str: ({"type": "string"}, lambda v: isinstance(v, str)),
    int: ({"type": "integer"}, lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ({"type": "number"}, lambda v: isinstance(v, float)),
}


def _plain(schema: Any) -> tuple[dict[str, Any], Callable[[Any], bool]] | None:
    try:
        return _PLAIN.get(schema)
    except TypeError:  # an unhashable schema is not a plain type
        return None


def schema_of(schema: Any) -> dict[str, Any] | None:
    """Return the JSON schema of a wait's ``schema`` argument (None for a plain gate)."""
    if schema is None:
        return None
    plain = _plain(schema)
    if plain is not None:
        return dict(plain[0])
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(schema).json_schema()
    except Exception as exc:
        raise KitaruUsageError(f"wait schema {schema!r} has no JSON schema: {exc}") from exc


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def check_answer(exec_id: str, wait: str, schema: dict[str, Any] | None, value: Any) -> None:
    """Check an answer against a wait's recorded JSON schema, without the flow's code.

    Raises:
        KitaruWaitValidationError: naming the execution, the wait, what was expected and
            the value received.
    """
    if schema is None or verdict(schema, value) is True:
        return
    # Refused, or a schema the quick check does not know: jsonschema decides, and words
    # the refusal. Imported here: it takes longer to import than the rest of kitaru.
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return
    where = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    got = json.dumps(error.instance)
    if error.validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        wanted = " or ".join(f"{_article(str(n))} {n}" for n in names)
        reason = f"must be {wanted}, got {got}"
    else:
        reason = f"{error.message}"
    field = f"{wait}{where}"
    raise KitaruWaitValidationError(
        f"execution {exec_id}: input for wait {field!r} {reason}"
    )


def wait(
    *,
    schema: Any = None,
    name: str | None = None,
    question: str | None = None,
    timeout: float | timedelta | None = None,
    metadata: dict[str, Any] | None = None,
    default: Any = _NO_DEFAULT,
) -> Any:
    """Wait for an answer from outside the flow; call only in the flow body.

    The first time the flow reaches an unanswered wait, the run ends with the execution
    ``waiting``. Once answered, a new run replays the finished checkpoints and this call
    returns the answer.

    Args:
        schema: The answer's type: ``bool``, ``str``, a pydantic model, ... ``None`` makes a
            plain continue/abort gate.
        name: The wait's name, used to answer it (default ``wait``, ``wait_2``, ...).
        question: What to show the person answering.
        timeout: Seconds (or a timedelta) from when a run first reached this wait. When it
            passes unanswered, the execution continues by itself (the operator, or
            ``kitaru executions resume-due`` locally) and this call returns ``default``,
            or raises :class:`KitaruTimeoutError` (which the flow may catch) without one.
        metadata: Extra JSON shown with the wait.
        default: What a timed-out wait returns instead of raising.

    Returns:
        The answer, validated against ``schema``.

    Raises:
        KitaruExecutionError: The wait was aborted.
        KitaruTimeoutError: The timeout passed with no answer.
    """
    from kitaru.context import current_scope, require_run
    from kitaru.lineage import content_digest
    from kitaru.records import WaitInfo

    ctx = require_run("kitaru.wait()")
    scope = current_scope()
    if scope is not None:
        raise KitaruContextError(
            f"kitaru.wait() was called inside checkpoint {scope.checkpoint_id!r}; "
            "call it from the flow body"
        )
    if name is None:
        count = ctx.wait_counts.get("wait", 0) + 1
        ctx.wait_counts["wait"] = count
        name = "wait" if count == 1 else f"wait_{count}"
    check_name("wait name", name)
    json_schema = schema_of(schema)
    answer = ctx.answers.get(name)
    if answer is not None:
        if answer.aborted:
            raise KitaruExecutionError(
                f"execution {ctx.exec_id}: wait {name!r} was aborted", exec_id=ctx.exec_id,
                origin="user_code", error_type="WaitAborted",
            )
        value = answer.value
        plain = _plain(schema)
        if schema is not None and not (plain is not None and plain[1](value)):
            from pydantic import TypeAdapter, ValidationError

            try:
                value = TypeAdapter(schema).validate_json(json.dumps(answer.value), strict=True)
            except ValidationError as exc:
                raise KitaruWaitValidationError(
                    f"execution {ctx.exec_id}: the recorded answer to wait {name!r} does not "
                    f"match {schema!r} any more: {exc.errors()[0]['msg']}"
                ) from exc
        ctx.lineage.produced(f"wait:{name}", value, digest=content_digest(value))
        ctx.log_event(f"wait {name}: answered")
        return value

    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    since = ctx.wait_since.get(name, now())
    deadline = since + timedelta(seconds=seconds) if seconds is not None else None
    if deadline is not None and now() >= deadline:
        if default is not _NO_DEFAULT:
            ctx.log_event(f"wait {name}: no answer before its deadline; using its default")
            return default
        raise KitaruTimeoutError(
            f"execution {ctx.exec_id}: wait {name!r} got no answer before {deadline.isoformat()}"
        )
    info = WaitInfo(name=name, question=question, schema=json_schema, since=since,
                    deadline=deadline, metadata=metadata or {})
    ctx.log_event(f"wait {name}: no answer yet, the run stops here")
    raise WaitSuspend(info)
