"""Runs that end without a final outcome, and a store the operator cannot read.

A run pod that dies (OOM, eviction, node loss) or gives up on an unreachable store is an
infrastructure failure: a new run starts, reusing every committed checkpoint, while the
FlowVersion's retries last. A store the operator cannot read holds every decision that
needs it, and says so in a ``StoreUnavailable`` condition until the store answers.
"""

from __future__ import annotations

from datetime import timedelta

from kitaru.backoff import Backoff
from kitaru_operator.models import Condition, ErrorStatus
from kitaru_operator.observed import Decision, Event, JobView, Observed, StoreFault
from kitaru_operator.transitions import drop_condition, set_condition, set_phase, start_run

#: First backoff after an infrastructure failure; doubles per retry up to the cap.
INFRA_BACKOFF_SECONDS = 5.0
INFRA_BACKOFF_CAP_SECONDS = 300.0
#: While the store cannot be read, the execution is looked at again this often. A run
#: lost to a store outage is started again on the first look that reads the store, so
#: this bounds the delay between the store's return and the next run.
STORE_RECHECK_SECONDS = 10.0
_INFRA_BACKOFF = Backoff(INFRA_BACKOFF_SECONDS, INFRA_BACKOFF_CAP_SECONDS)


def backoff(retries_used: int) -> float:
    """Seconds to wait before infrastructure retry number ``retries_used + 1``."""
    return _INFRA_BACKOFF.delay(retries_used + 1)


_FAULT_REASONS = {"unavailable": "StoreUnreachable", "refused": "StoreRefused",
                  "credentials": "StoreCredentials"}


def store_fault(decision: Decision, obs: Observed, fault: StoreFault, *,
                 active: bool) -> Decision:
    """The store could not be read: decide nothing that needs it, say so, look again.

    Without the store the operator cannot tell a run that finished from one that was
    lost, so it keeps the phase and starts no run. A store that refuses outright (no
    such bucket) fails the execution once no pod is left to report; credentials that are
    missing or refused hold it until the Secret is fixed.
    """
    status = decision.status
    if fault.kind == "refused" and not active:
        status.error = ErrorStatus(type="StoreRefused", origin="backend",
                                   message=fault.message[:1000])
        drop_condition(status, "StoreUnavailable")
        set_phase(decision, "Failed", obs, reason="StoreRefused", message=status.error.message)
        return decision
    message = (f"store {fault.store}: {fault.message}; the execution keeps its phase and "
               f"is checked again every {STORE_RECHECK_SECONDS:g} s")[:1000]
    old = next((c for c in status.conditions if c.type == "StoreUnavailable"), None)
    if old is None or old.status != "True":
        decision.add(Event("Warning", "StoreUnavailable", message))
    set_condition(status, Condition(
        type="StoreUnavailable", status="True",
        reason=_FAULT_REASONS[fault.kind],
        message=message, observed_generation=obs.generation), obs.now)
    decision.requeue_after = STORE_RECHECK_SECONDS
    return decision


def store_answers(decision: Decision, obs: Observed) -> None:
    """The store was read fine: clear a StoreUnavailable condition from an earlier pass."""
    status = decision.status
    if any(c.type == "StoreUnavailable" for c in status.conditions):
        drop_condition(status, "StoreUnavailable")
        decision.add(Event("Normal", "StoreAvailable",
                                     "the store answers again"))


def infrastructure_failure(
    decision: Decision, obs: Observed, run: int, why: str, *, store_outage: bool = False,
    job: JobView | None = None,
) -> Decision:
    """Run ``run`` ended without a final outcome: start another, with backoff, while the
    FlowVersion's retries last.

    A run lost to a store outage gets here only on a pass that read the store (the
    operator waits for that, see :func:`_store_fault`), and it already spent the run
    pod's own retry time, so the next run starts at once instead of after a backoff.
    """
    status = decision.status
    limit = obs.flow_version.retries if obs.flow_version else 0
    if status.infra_retries >= limit:
        status.error = ErrorStatus(type="InfrastructureFailure", origin="infrastructure",
                                   message=f"run {run} failed: {why}; no retries left "
                                   f"({limit} allowed)")
        set_phase(decision, "Failed", obs, reason="InfrastructureFailure",
               message=status.error.message)
        return decision
    if status.next_run_after is None:
        delay = 0.0 if store_outage else backoff(status.infra_retries)
        status.next_run_after = obs.now + timedelta(seconds=delay)
        decision.add(Event("Warning", "RunLost", f"run {run} failed: {why}; "
                                     + (f"retrying in {delay:g} s" if delay else
                                        "retrying now that the store answers")))
    if obs.now < status.next_run_after:
        decision.requeue_after = (status.next_run_after - obs.now).total_seconds()
        return decision
    status.infra_retries += 1
    # A lost checkpoint pod's run is made again as that checkpoint's pod.
    start_run(decision, obs, run + 1, reason="RetryingAfterInfrastructureFailure",
              message=f"run {run + 1} started after: {why}",
              checkpoint=job.checkpoint if job else None,
              checkpoint_name=job.checkpoint_name if job else None,
              resources=job.resources if job else None,
              checkpoint_attempt=job.checkpoint_attempt if job else 1)
    return decision
