"""Schedule slots and policies, with an injected clock (no cluster, no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kitaru_operator.models import ScheduleSpec, ScheduleStatus
from kitaru_operator.schedules import (
    ScheduledExecution,
    decide_schedule,
    execution_name,
    slots,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TEMPLATE = {"flowVersion": "digest-v1", "input": {"topic": "news"}}


def spec(**fields: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate({"template": TEMPLATE, **fields})


def decide(schedule: ScheduleSpec, seconds: float, *, last: float | None = None,
           running: list[str] | None = None) -> Any:
    status = ScheduleStatus(last_slot=T0 + timedelta(seconds=last) if last is not None
                            else None)
    executions = [ScheduledExecution(n, "Running", None, T0) for n in running or []]
    return decide_schedule("digest", schedule, status, now=T0 + timedelta(seconds=seconds),
                           created=T0, executions=executions)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_interval_fires_the_latest_missed_slot_and_says_when_the_next_comes() -> None:
    decision = decide(spec(interval="10s"), 35)
    assert decision.create == [(execution_name("digest", at(30)), at(30))]
    assert [e[1] for e in decision.events] == ["SlotSkipped", "SlotSkipped"]
    assert decision.status.last_slot == at(30) and decision.status.next_slot == at(40)
    assert decision.requeue_after == 5
    again = decide(spec(interval="10s"), 36, last=30)
    assert again.create == []  # a slot is fired once


def test_catch_up_all_is_bounded_and_a_deadline_drops_slots_too_old() -> None:
    everything = decide(spec(interval="10s", catchupPolicy="All", catchupLimit=2,
                             concurrencyPolicy="Allow"), 35)
    assert [slot for _, slot in everything.create] == [at(20), at(30)]
    fresh = decide(spec(interval="10s", catchupPolicy="All", startingDeadlineSeconds=12,
                        concurrencyPolicy="Allow"), 35)
    assert [slot for _, slot in fresh.create] == [at(30)]
    assert any(e[1] == "SlotMissed" for e in fresh.events)


def test_each_concurrency_policy() -> None:
    forbid = decide(spec(interval="10s"), 11, running=["digest-1"])
    assert forbid.create == [] and "still running" in forbid.events[0][2]
    assert forbid.status.last_slot == at(10)  # skipped, not left due
    allow = decide(spec(interval="10s", concurrencyPolicy="Allow"), 11, running=["digest-1"])
    assert [slot for _, slot in allow.create] == [at(10)] and allow.replace == []
    replace = decide(spec(interval="10s", concurrencyPolicy="Replace"), 11,
                     running=["digest-1"])
    assert replace.replace == ["digest-1"] and [s for _, s in replace.create] == [at(10)]
    all_forbid = decide(spec(interval="10s", catchupPolicy="All"), 35)
    assert [s for _, s in all_forbid.create] == [at(10)]  # Forbid: one at a time


def test_cron_in_a_time_zone_across_dst_and_month_ends() -> None:
    berlin = spec(schedules=["30 2 * * *"], timezone="Europe/Berlin")
    start = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    found = slots(berlin, start, start + timedelta(days=3), start)
    # 02:30 does not exist on 29 March (clocks jump 02:00 -> 03:00): cron runs it at 03:00.
    assert found == [datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
                     datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
                     datetime(2026, 3, 30, 0, 30, tzinfo=UTC)]
    month_end = spec(schedules=["0 0 31 * *"])
    year = slots(month_end, datetime(2026, 1, 1, tzinfo=UTC),
                 datetime(2027, 1, 1, tzinfo=UTC), T0)
    assert [s.month for s in year] == [1, 3, 5, 7, 8, 10, 12]
    weekdays = spec(schedules=["0 7 * * 1-5"], timezone="America/New_York")
    week = slots(weekdays, datetime(2026, 11, 30, tzinfo=UTC),
                 datetime(2026, 12, 7, tzinfo=UTC), T0)
    assert len(week) == 5 and all(s.hour == 12 for s in week)  # 07:00 EST is 12:00 UTC


def test_a_bad_schedule_is_a_condition_naming_the_field() -> None:
    for fields, expected in (({"schedules": ["61 * * * *"]}, "spec.schedules[0]"),
                             ({"interval": "10s", "timezone": "Mars/Olympus"},
                              "spec.timezone 'Mars/Olympus'"),
                             ({}, "set spec.schedules (cron) and/or spec.interval")):
        decision = decide(spec(**fields), 35)
        (ready,) = decision.status.conditions
        assert (ready.status, ready.reason) == ("False", "Invalid")
        assert expected in ready.message and decision.create == []


def test_suspend_bounds_and_history() -> None:
    assert decide(spec(interval="10s", suspend=True), 35).create == []
    bounded = decide(spec(interval="10s", catchupPolicy="All", concurrencyPolicy="Allow",
                          endAt=at(15).isoformat()), 35)
    assert [s for _, s in bounded.create] == [at(10)] and bounded.status.next_slot is None
    finished = [ScheduledExecution(f"d-{i}", "Succeeded", None, at(i)) for i in range(5)]
    history = decide_schedule("digest", spec(interval="1h"), ScheduleStatus(), now=at(1),
                              created=T0, executions=finished)
    assert history.delete == ["d-0", "d-1"] and history.status.last_outcome == "Succeeded"
    assert execution_name("digest", at(30)) == f"digest-{int(at(30).timestamp())}"
    assert len(execution_name("x" * 80, at(30))) <= 63
