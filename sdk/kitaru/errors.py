"""The errors Kitaru raises, all below :class:`KitaruError`.

Messages name the object, the field, what was wrong and what to do, because they are
what a user sees in a terminal or an Execution condition.
"""

from __future__ import annotations

from typing import Literal

#: Where a run's failure came from. ``infrastructure`` (the store could not be reached
#: for longer than the run retries) is never final: the execution gets a new run once the
#: store answers. ``backend`` is a store that refused the request (no such bucket, access
#: denied), which a new run would meet again.
FailureOrigin = Literal["user_code", "runtime", "backend", "divergence", "infrastructure"]


class KitaruError(Exception):
    """Base class of every error Kitaru raises."""


class KitaruUsageError(KitaruError):
    """The API was used in a way it does not support (for example a flow called directly)."""


class KitaruContextError(KitaruError):
    """A primitive was called outside the place it belongs (a checkpoint outside a flow)."""


class KitaruStateError(KitaruError):
    """The execution is not in a state that allows the request (retry of a running one)."""


class KitaruWaitValidationError(KitaruError):
    """An answer to a wait does not match the wait's schema; the execution stays waiting."""


class KitaruDivergenceError(KitaruError):
    """The flow's calls no longer line up with the journal of the run it resumes."""


class KitaruTimeoutError(KitaruError):
    """A wait or a handle's ``wait(timeout=...)`` ran out of time."""


class KitaruSerializationError(KitaruError):
    """A value cannot be stored as an artifact, or a stored artifact cannot be read back."""


class KitaruExecutionError(KitaruError):
    """An execution ended in failure.

    Attributes:
        exec_id: The execution that failed.
        status: Its status when the error was raised (usually ``failed``).
        origin: Where the failure came from: ``user_code``, ``runtime``, ``backend``,
            ``divergence`` or ``infrastructure``.
        error_type: The class name of the original exception, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        exec_id: str,
        status: str = "failed",
        origin: FailureOrigin = "user_code",
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.exec_id = exec_id
        self.status = status
        self.origin = origin
        self.error_type = error_type


class StoreError(KitaruError):
    """An artifact store could not do what was asked. The message names the store URI."""


class StoreConfigError(StoreError):
    """A store URI or its options are malformed or name an unsupported scheme."""


class ObjectNotFoundError(StoreError):
    """The key does not exist in the store."""


class StoreUnavailableError(StoreError):
    """The store could not be reached or kept failing after bounded retries.

    Attributes:
        where: The store or object URI that was being read or written.
        reason: The last transient fault, short and free of secrets (``HTTP 503 SlowDown``).
    """

    def __init__(self, message: str, *, where: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.reason = reason


class StorePermissionError(StoreError):
    """The store refused the request: missing bucket, access denied, bad credentials."""


class ArtifactCorruptedError(StoreError):
    """Bytes read back from the store do not match the digest they were stored under."""
