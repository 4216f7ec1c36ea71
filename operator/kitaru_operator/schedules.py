"""Schedules: which slots are due, and what to start, skip or stop for them.

Slots come from 5-field cron expressions (in the Schedule's time zone; cronsim handles
DST as cron does: a time skipped by a spring-forward is run at the next valid minute, an
hour repeated in autumn runs once) and from an ``interval`` anchored at ``startAt`` (else
the Schedule's creation). Each slot starts at most one Execution, ever: its name is
derived from the Schedule and the slot (``<schedule>-<unix seconds>``) and made with
create, so a restarted operator or a second replica cannot fire a slot twice.

:func:`decide_schedule` is pure; the handler applies what it returns.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kitaru_operator.models import Condition, ScheduleSpec, ScheduleStatus

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: Slots looked at in one pass at most (a long outage with a frequent schedule).
_MAX_SLOTS = 10_000
LABEL_SCHEDULE = "kitaru.ai/schedule"
ANNOTATION_SLOT = "kitaru.ai/slot"


class ScheduleError(ValueError):
    """A schedule that cannot be computed (its message names the field)."""


def parse_interval(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``2d`` as a timedelta."""
    match = re.fullmatch(r"([0-9]+)([smhd])", text)
    if not match or int(match.group(1)) == 0:
        raise ScheduleError(f"spec.interval {text!r} must be a whole number of s, m, h or d "
                            "above zero, e.g. 30s or 1h")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"spec.timezone {name!r} is not an IANA time zone, e.g. UTC or "
                            "Europe/Berlin") from None


def check(spec: ScheduleSpec) -> None:
    """Raise :class:`ScheduleError` for a schedule that cannot be computed."""
    from cronsim import CronSim, CronSimError

    if not spec.schedules and spec.interval is None:
        raise ScheduleError("set spec.schedules (cron) and/or spec.interval")
    zone = _zone(spec.timezone)
    for i, expr in enumerate(spec.schedules):
        try:
            CronSim(expr, datetime.now(zone))
        except CronSimError as exc:
            raise ScheduleError(f"spec.schedules[{i}] {expr!r}: {exc}") from None
    if spec.interval is not None:
        parse_interval(spec.interval)
    if not (spec.template.flow_version or (spec.template.flow and spec.template.tag)):
        raise ScheduleError("spec.template: set flowVersion, or flow with tag")


def slots(spec: ScheduleSpec, after: datetime, until: datetime,
          anchor: datetime) -> list[datetime]:
    """Slot times (UTC) in ``(after, until]``, in order, within startAt/endAt."""
    from cronsim import CronSim

    low = max(after, spec.start_at) if spec.start_at else after
    high = min(until, spec.end_at) if spec.end_at else until
    found: set[datetime] = set()
    zone = _zone(spec.timezone)
    for expr in spec.schedules:
        for local in CronSim(expr, low.astimezone(zone)):
            moment = local.astimezone(UTC)
            if moment > high or len(found) > _MAX_SLOTS:
                break
            if moment > low:
                found.add(moment)
    if spec.interval is not None:
        step = parse_interval(spec.interval)
        start = spec.start_at or anchor
        n = max(int((low - start) / step), 0)
        moment = start + n * step
        while moment <= high and len(found) <= _MAX_SLOTS:
            if moment > low:
                found.add(moment)
            moment += step
    return sorted(found)


def next_slot(spec: ScheduleSpec, after: datetime, anchor: datetime) -> datetime | None:
    """The first slot after ``after`` (within a year), or None."""
    ahead = slots(spec, after, after + timedelta(days=366), anchor)
    return ahead[0] if ahead else None


def execution_name(schedule: str, slot: datetime) -> str:
    """The one Execution name a slot can have."""
    suffix = f"-{int(slot.timestamp())}"
    if len(schedule) + len(suffix) <= 63:
        return schedule + suffix
    digest = hashlib.sha256(schedule.encode()).hexdigest()[:8]
    return f"{schedule[:63 - len(suffix) - 9]}-{digest}{suffix}"


@dataclass(frozen=True)
class ScheduledExecution:
    """An Execution a Schedule made, as the decision needs it."""

    name: str
    phase: str
    slot: datetime | None
    created: datetime


@dataclass
class ScheduleDecision:
    """What to do: Executions to create (name, slot), to delete as replaced (Replace) or
    past the history limits, the status to write, Events, and when to look again."""

    status: ScheduleStatus
    create: list[tuple[str, datetime]] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


_FINAL = ("Succeeded", "Failed", "Cancelled")


def decide_schedule(name: str, spec: ScheduleSpec, status: ScheduleStatus, *,
                    now: datetime, created: datetime,
                    executions: list[ScheduledExecution]) -> ScheduleDecision:
    """Decide one pass over a Schedule."""
    new = status.model_copy(deep=True)
    decision = ScheduleDecision(status=new)
    try:
        check(spec)
    except ScheduleError as exc:
        _condition(new, "False", "Invalid", str(exc), now)
        return decision
    _condition(new, "True", "Valid", "schedule is valid", now)
    active = [e for e in executions if e.phase not in _FINAL]
    new.active = sorted(e.name for e in active)[:20]
    finished = sorted((e for e in executions if e.phase in _FINAL), key=lambda e: e.created)
    if finished:
        new.last_outcome = finished[-1].phase
    if executions:
        new.last_execution = max(executions, key=lambda e: e.created).name
    decision.delete = _over_history(spec, finished)
    last = status.last_slot or created
    due = [] if spec.suspend else slots(spec, last, now, created)
    if due:
        if spec.starting_deadline_seconds is not None:
            late = now - timedelta(seconds=spec.starting_deadline_seconds)
            for slot in [s for s in due if s < late]:
                decision.events.append(("Warning", "SlotMissed", f"slot {slot.isoformat()} "
                                        "passed its startingDeadlineSeconds; skipped"))
            due = [s for s in due if s >= late]
        keep = 1 if spec.catchup_policy == "Latest" else spec.catchup_limit
        for slot in due[:-keep] if len(due) > keep else []:
            decision.events.append(("Normal", "SlotSkipped", f"slot {slot.isoformat()} "
                                    f"skipped by catchupPolicy {spec.catchup_policy}"))
        due = due[-keep:]
        new.last_slot = max(slots(spec, last, now, created))
    for slot in due:
        if active and spec.concurrency_policy == "Forbid":
            decision.events.append(("Normal", "SlotSkipped", f"slot {slot.isoformat()} "
                                    f"skipped: {', '.join(e.name for e in active)} still "
                                    "running (concurrencyPolicy Forbid)"))
            continue
        if active and spec.concurrency_policy == "Replace":
            decision.replace += [e.name for e in active]
            active = []
        decision.create.append((execution_name(name, slot), slot))
        if spec.concurrency_policy == "Forbid":
            active = [ScheduledExecution(execution_name(name, slot), "Pending", slot, now)]
    upcoming = None if spec.suspend else next_slot(spec, max(now, new.last_slot or now),
                                                   created)
    new.next_slot = upcoming
    if upcoming is not None:
        decision.requeue_after = max((upcoming - now).total_seconds(), 0.1)
    return decision


def _over_history(spec: ScheduleSpec, finished: list[ScheduledExecution]) -> list[str]:
    gone = []
    for phase, limit in (("Succeeded", spec.successful_history_limit),
                         ("Failed", spec.failed_history_limit)):
        kept = [e for e in finished if e.phase == phase]
        gone += [e.name for e in kept[:max(len(kept) - limit, 0)]]
    return gone


def _condition(status: ScheduleStatus, value: str, reason: str, message: str,
               now: datetime) -> None:
    old = next((c for c in status.conditions if c.type == "Ready"), None)
    condition = Condition(type="Ready", status=value, reason=reason,  # type: ignore[arg-type]
                          message=message)
    same = old is not None and (old.status, old.reason, old.message) == (value, reason, message)
    condition.last_transition_time = old.last_transition_time if same and old else now
    status.conditions = [c for c in status.conditions if c.type != "Ready"] + [condition]


def template_spec(spec: ScheduleSpec) -> dict[str, Any]:
    """The spec of the Execution a slot starts."""
    template = spec.template
    body: dict[str, Any] = {"input": dict(template.input)}
    if template.flow_version:
        body["flowVersion"] = template.flow_version
    else:
        body.update(flow=template.flow, tag=template.tag)
    return body
