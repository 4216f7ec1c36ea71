"""Types defined in a script run as ``python script.py`` survive a resume in a new process.

The script's classes live in ``__main__`` while it runs; the run that resumes after an
answer is ``python -m kitaru.runtime``, which imports the script under its own name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kitaru import KitaruClient

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent('''
    import dataclasses
    import datetime
    import os
    import sys
    from pathlib import Path

    from pydantic import BaseModel

    import kitaru
    from kitaru import checkpoint, flow

    COUNTERS = Path(os.environ["KITARU_TEST_COUNTERS"])


    class Plan(BaseModel):
        title: str
        steps: list[str]


    @dataclasses.dataclass(frozen=True)
    class Stop:
        city: str
        day: datetime.date


    class Ticket:
        def __init__(self, seat: str) -> None:
            self.seat = seat


    def bump(name: str) -> None:
        with open(COUNTERS / name, "a") as counter:
            counter.write("x")


    @checkpoint
    def make_plan(city: str) -> Plan:
        bump("make_plan")
        return Plan(title=f"trip to {city}", steps=["pack", "fly"])


    @checkpoint
    def first_stop(plan: Plan) -> Stop:
        bump("first_stop")
        return Stop(city=plan.title.removeprefix("trip to "), day=datetime.date(2025, 5, 1))


    @checkpoint(pickle=True)
    def book(stop: Stop) -> Ticket:
        bump("book")
        return Ticket(seat="12A")


    @flow
    def trip(city: str) -> str:
        plan = make_plan(city)
        stop = first_stop(plan)
        ticket = book(stop)
        for value, cls in ((plan, Plan), (stop, Stop), (ticket, Ticket)):
            if not isinstance(value, cls):
                raise TypeError(f"{value!r} is a {type(value)!r}, not this script's {cls!r}")
        approved = kitaru.wait(schema=bool, name="approve", question="Book it?")
        return (f"{plan.title} ({', '.join(plan.steps)}): {stop.city} on "
                f"{stop.day.isoformat()}, seat {ticket.seat}, approved={approved}")


    if __name__ == "__main__":
        handle = trip.run(city="Lisbon")
        if sys.argv[1:] == ["--replay"]:
            handle = trip.replay(handle.exec_id, at="book")
        print(handle.exec_id)
''')

OUTPUT = "trip to Lisbon (pack, fly): Lisbon on 2025-05-01, seat 12A, approved=True"


def _start(tmp_path: Path, store_uri: str, *args: str) -> str:
    script = tmp_path / "trip_planner.py"
    script.write_text(SCRIPT)
    started = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=os.environ,
                             capture_output=True, text=True, timeout=120, check=False)
    assert started.returncode == 0, started.stderr
    exec_id = started.stdout.split()[-1]
    assert KitaruClient(store_uri).executions.get(exec_id).status == "waiting"
    return exec_id


def _answer(exec_id: str) -> None:
    answered = subprocess.run(
        [sys.executable, "-m", "kitaru.cli", "executions", "input", exec_id,
         "--wait", "approve", "--value", "true"],
        cwd=ROOT, env=os.environ, capture_output=True, text=True, timeout=120, check=False)
    assert answered.returncode == 0, answered.stderr


def _runs(counters: Path) -> dict[str, int]:
    return {name: len((counters / name).read_text()) if (counters / name).exists() else 0
            for name in ("make_plan", "first_stop", "book")}


def test_script_types_are_recorded_under_the_script_module_and_resume(
    tmp_path: Path, store_uri: str, counters: Path
) -> None:
    exec_id = _start(tmp_path, store_uri)
    client = KitaruClient(store_uri)
    recorded = {c.id: c.value_type for c in client.executions.get(exec_id).checkpoints}
    assert recorded == {"make_plan": "trip_planner:Plan", "first_stop": "trip_planner:Stop",
                        "book": "trip_planner:Ticket"}

    _answer(exec_id)

    assert client.executions.handle(exec_id).wait(timeout=60) == OUTPUT
    assert _runs(counters) == {"make_plan": 1, "first_stop": 1, "book": 1}


def test_records_naming_main_resume_through_the_flows_module(
    tmp_path: Path, store_uri: str, counters: Path
) -> None:
    exec_id = _start(tmp_path, store_uri)
    # Rewrite the record as versions before script-module names wrote it.
    record = Path(store_uri) / "executions" / exec_id / "journal" / "make_plan.json"
    doc = json.loads(record.read_text())
    doc["value"]["type"] = "__main__:Plan"
    record.write_text(json.dumps(doc))

    _answer(exec_id)

    assert KitaruClient(store_uri).executions.handle(exec_id).wait(timeout=60) == OUTPUT
    assert _runs(counters) == {"make_plan": 1, "first_stop": 1, "book": 1}


def test_a_script_reads_its_own_types_back_in_its_own_process(
    tmp_path: Path, store_uri: str, counters: Path
) -> None:
    replay_id = _start(tmp_path, store_uri, "--replay")

    info = KitaruClient(store_uri).executions.get(replay_id)
    assert info.is_replay and info.status == "waiting", info.error
    assert {c.id: c.source for c in info.checkpoints} == {
        "make_plan": "replay", "first_stop": "replay", "book": "run"}
    assert _runs(counters) == {"make_plan": 1, "first_stop": 1, "book": 2}
