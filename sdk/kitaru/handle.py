"""``FlowHandle``: a reference to one execution, returned by ``.run()`` and the client."""

from __future__ import annotations

import time
from typing import Any

from kitaru.errors import KitaruExecutionError, KitaruStateError, KitaruTimeoutError
from kitaru.journal import ExecutionStore, read_value_bytes
from kitaru.serialization import decode
from kitaru.status import ExecutionInfo, Status, describe, latest_outcome

_POLL_SECONDS = 0.05


class FlowHandle:
    """One execution. Cheap to create; every property reads the store afresh.

    Args:
        journal: The execution's documents.
    """

    def __init__(self, journal: ExecutionStore) -> None:
        self._journal = journal

    def __repr__(self) -> str:
        return f"<FlowHandle {self.exec_id} {self.status}>"

    @property
    def exec_id(self) -> str:
        """The execution's id."""
        return self._journal.exec_id

    @property
    def status(self) -> Status:
        """``running``, ``waiting``, ``completed``, ``failed`` or ``cancelled``."""
        return describe(self._journal, with_checkpoints=False).status

    def info(self) -> ExecutionInfo:
        """Everything the client knows about the execution."""
        return describe(self._journal)

    def get(self) -> Any:
        """Return the flow's return value now, without waiting.

        Raises:
            KitaruStateError: The execution has not completed (yet).
            KitaruExecutionError: The execution failed or was cancelled.
        """
        info = describe(self._journal, with_checkpoints=False)
        if info.status == "completed":
            _, outcome = latest_outcome(self._journal)
            if outcome is None or outcome.output is None:
                return None
            ref = outcome.output
            return decode(ref.serializer, ref.type, read_value_bytes(self._journal.store, ref))
        if info.status in ("failed", "cancelled"):
            error = info.error
            message = (f"execution {self.exec_id} {info.status}"
                       + (f": {error.type}: {error.message}" if error else ""))
            raise KitaruExecutionError(
                message, exec_id=self.exec_id, status=info.status,
                origin=error.origin if error else "runtime",  # type: ignore[arg-type]
                error_type=error.type if error else None,
            )
        if info.status == "waiting" and info.pending_wait is not None:
            wait = info.pending_wait
            question = f" ({wait.question})" if wait.question else ""
            raise KitaruStateError(
                f"execution {self.exec_id} is waiting for input on {wait.name!r}{question}; "
                f"answer it with: kitaru executions input {self.exec_id} --wait {wait.name} "
                "--value <json>"
            )
        raise KitaruStateError(f"execution {self.exec_id} is still {info.status}")

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the execution completes and return the flow's return value.

        Returns at once, raising :class:`KitaruStateError`, when the execution is waiting
        for input: it will not finish until someone answers.

        Raises:
            KitaruExecutionError: The execution failed or was cancelled.
            KitaruStateError: The execution is waiting for input.
            KitaruTimeoutError: ``timeout`` seconds passed while it was still running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status
            if status != "running":
                return self.get()
            if deadline is not None and time.monotonic() >= deadline:
                raise KitaruTimeoutError(
                    f"execution {self.exec_id} still running after {timeout} s"
                )
            time.sleep(_POLL_SECONDS)
