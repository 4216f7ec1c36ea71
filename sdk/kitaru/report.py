"""The run pod's termination report: how a run ended, in at most 4 KB.

A run pod never calls the Kubernetes API. It tells the operator how its run ended in two
places: the run's outcome record in the store (the truth) and this short report in the
container's termination message, which the operator reads from the pod's status. The
report matters most when the store could not take the outcome: a run that could not start
(a bad entrypoint), or a store that stayed unreachable for longer than the run retries.

This model is the one definition both sides use: the runtime writes it, the operator
parses it. It holds pointers and reasons, never payloads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from kitaru.model import Field, Model
from kitaru.records import RunOutcome

#: The kubelet keeps at most this much of a termination message.
MESSAGE_LIMIT = 4096
_ERROR_MESSAGE_LIMIT = 1000


class ReportedError(Model):
    """Why a run failed, shortened for the report."""

    type: str = "Error"
    origin: str = Field(default="runtime", description="As in ErrorInfo.origin.")
    message: str = "the run could not start"


class ReportedOutput(Model):
    """Where the flow's return value is stored."""

    digest: str
    type: str


class ReportedCounts(Model):
    """Checkpoints the run executed and reused."""

    run: int = 0
    reused: int = 0


class ReportedRetry(Model):
    """A checkpoint body failed in this pod with retries left: attempt + 1 runs in a new
    pod, not before ``not_before``."""

    checkpoint: str
    attempt: int
    error: ReportedError
    not_before: datetime


class RunReport(Model):
    """The termination message of a run pod."""

    run: int
    outcome: Literal["succeeded", "failed", "waiting", "cancelled", "dispatch"]
    recorded: bool = Field(default=True, description="Whether the outcome is also in the "
                           "store. False when the run ended before it could write it.")
    output: ReportedOutput | None = None
    wait: str | None = None
    error: ReportedError | None = None
    checkpoints: ReportedCounts | None = None
    branch: list[str] | None = Field(default=None, description="For a branch pod: the "
                                     "checkpoints it ran. Its run's outcome is not its own.")
    retry: ReportedRetry | None = None

    @property
    def final(self) -> bool:
        """Whether this report ends the execution by itself: a failure that a new run
        would meet again. An unreachable store (origin ``infrastructure``) is not final."""
        return (self.outcome == "failed" and self.error is not None
                and self.error.origin != "infrastructure")

    @classmethod
    def of(cls, outcome: RunOutcome) -> RunReport:
        """Return the report of a recorded outcome."""
        error = outcome.error
        return cls(
            run=outcome.run, outcome=outcome.outcome,
            output=(ReportedOutput(digest=outcome.output.digest, type=outcome.output.type)
                    if outcome.output is not None else None),
            wait=outcome.wait.name if outcome.wait is not None else None,
            error=(ReportedError(type=error.type, origin=error.origin,
                                 message=error.message[:_ERROR_MESSAGE_LIMIT])
                   if error is not None else None),
            checkpoints=ReportedCounts(run=outcome.checkpoints_run,
                                       reused=outcome.checkpoints_reused),
            retry=_retry_of(outcome),
        )

    @classmethod
    def failure(cls, run: int, exc: BaseException, *, origin: str) -> RunReport:
        """Return the report of a run that ended before it could record its outcome."""
        return cls(run=run, outcome="failed", recorded=False, error=ReportedError(
            type=type(exc).__name__, origin=origin, message=str(exc)[:_ERROR_MESSAGE_LIMIT]))

    def message(self) -> str:
        """The report as the termination message: JSON, within :data:`MESSAGE_LIMIT`."""
        report = self
        text = report.model_dump_json(exclude_none=True)
        while len(text.encode()) > MESSAGE_LIMIT:
            # Escapes make the JSON longer than the text: cut messages until it fits.
            cut = max(len(text.encode()) - MESSAGE_LIMIT, 16)
            if report.error and report.error.message:
                error = report.error.model_copy(
                    update={"message": report.error.message[:-cut]})
                report = report.model_copy(update={"error": error})
            elif report.retry and report.retry.error.message:
                error = report.retry.error.model_copy(
                    update={"message": report.retry.error.message[:-cut]})
                report = report.model_copy(update={"retry": report.retry.model_copy(
                    update={"error": error})})
            else:
                break
            text = report.model_dump_json(exclude_none=True)
        return text

    @classmethod
    def parse(cls, text: str | None) -> RunReport | None:
        """Return the report in a termination message; None for anything else (a crash
        trace written by FallbackToLogsOnError, an empty message)."""
        try:
            return cls.model_validate_json(text or "")
        except ValueError:  # not JSON, or not a report (kitaru.model.ModelError)
            return None


def _retry_of(outcome: RunOutcome) -> ReportedRetry | None:
    retry = outcome.dispatch.retry if outcome.dispatch is not None else None
    if retry is None:
        return None
    return ReportedRetry(checkpoint=retry.checkpoint, attempt=retry.attempt,
                         not_before=retry.not_before, error=ReportedError(
                             type=retry.error.type, origin=retry.error.origin,
                             message=retry.error.message[:_ERROR_MESSAGE_LIMIT]))
