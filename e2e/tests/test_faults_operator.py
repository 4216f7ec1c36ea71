"""The operator SIGKILLed at random moments while executions run, answers patched while
it is down: every execution converges, no Job is made twice, no answer is lost, and no
checkpoint body runs again after its result was committed.

Half the executions run their checkpoints in pods of their own (a fan-out among them),
half inline in the run pod. The seed is printed, so a failing sequence can be replayed
with ``KITARU_FAULTS_SEED``.
"""

from __future__ import annotations

import os
import random
import time

import pytest

from faults import (
    EXPECTED,
    FULL,
    JobLedger,
    Report,
    all_finished,
    answer_waiting,
    body_runs,
    executions,
    reruns_after_commit,
    start_chaos,
)
from operator_fixtures import Agents, OperatorProcess
from polling import wait_until


@pytest.mark.timeout(1800 if FULL else 300)  # the full size runs for minutes
def test_the_operator_killed_at_random_converges_with_nothing_lost_or_doubled(
    agents: Agents, operator: OperatorProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    count, kills = (50, 20) if FULL else (8, 6)
    seed = int(os.environ.get("KITARU_FAULTS_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    started = time.monotonic()
    answered: set[str] = set()
    answered_while_down = 0
    with JobLedger(agents.api, agents.namespace) as ledger:
        names = start_chaos(agents, "chaos", count)
        done = 0
        # Past the asked-for kills only until an answer has been patched while it was down.
        while done < kills or (not answered_while_down and done < 4 * kills):
            done += 1
            # Up long enough, now and then, to get past its start-up (about 1.5 s here)
            # and bring executions to their wait; killed at any moment all the same.
            time.sleep(rng.uniform(0.3, 5.0))
            operator.kill()
            answered_while_down += answer_waiting(agents, answered)
            time.sleep(rng.uniform(0.1, 1.5))
            operator.start()

        def finished() -> bool:
            answer_waiting(agents, answered)
            return all_finished(agents)

        converged = True
        try:
            wait_until(finished, timeout=900 if FULL else 300,
                       what="every execution to finish")
        except AssertionError:
            converged = False
    final = executions(agents)
    succeeded = [n for n in names if (final[n].get("status") or {}).get("phase") == "Succeeded"
                 and final[n]["status"].get("output", {}).get("value") == EXPECTED]
    report = Report(
        "operator SIGKILLed at random", executions=count, faults=done,
        converged=len(succeeded), duplicate_jobs=ledger.duplicates(),
        reruns_after_commit=reruns_after_commit(agents, succeeded),
        answers_lost=sum((final[n].get("status") or {}).get("phase") == "Waiting"
                         for n in answered),
        jobs=ledger.jobs(), bodies=body_runs(agents), seconds=time.monotonic() - started,
        notes={"seed": seed, "answers patched while the operator was down":
               answered_while_down})
    with capsys.disabled():
        report.show()
    assert converged, {n: (o.get("status") or {}).get("phase") for n, o in final.items()}
    assert len(succeeded) == count, [n for n in names if n not in succeeded]
    assert report.duplicate_jobs == {}
    assert report.reruns_after_commit == {}
    assert report.answers_lost == 0
    assert answered_while_down > 0  # the scenario did what it says
