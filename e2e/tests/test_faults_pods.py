"""Run pods and checkpoint pods SIGKILLed at random moments: every execution finishes, and
no checkpoint body runs again once its result is committed.

A kill is what a container crash or an OOM kill does: the process kubelet's container
process group gets SIGKILL, the pod fails with exit code 137, and the operator must
make the next pod (a new run, or a new attempt at the checkpoint) without running any
committed body again. Each execution takes a bounded share of the kills, so none runs
out of the FlowVersion's infrastructure retries.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from faults import (
    EXPECTED,
    FULL,
    JobLedger,
    Report,
    all_finished,
    answer_waiting,
    body_runs,
    reruns_after_commit,
    start_chaos,
)
from operator_fixtures import Agents
from polling import wait_until

# Of the FlowVersion's 20 infrastructure retries; more would spend the run in backoff
# (5 s doubling per retry) with no pod to kill.
KILLS_PER_EXECUTION = 4


def running_pods(agents: Agents, state: Path) -> list[tuple[str, str, int, str]]:
    """(execution, pod, pid, kind) of every pod whose container process is alive now;
    kind is ``run``, ``checkpoint`` (a sequential checkpoint's pod) or ``branch``."""
    found = []
    pods = client.CoreV1Api(agents.api).list_namespaced_pod(agents.namespace).items
    for pod in pods:
        labels = pod.metadata.labels or {}
        execution = labels.get("kitaru.ai/execution")
        kind = ("branch" if "kitaru.ai/branch" in labels else
                "checkpoint" if "kitaru.ai/checkpoint" in labels else "run")
        if not execution or pod.status.phase != "Running":
            continue
        for record in state.glob(f"kubelet/pods/{agents.namespace}_{pod.metadata.name}_"
                                 f"{pod.metadata.uid}/*/pid"):
            pid = int(record.read_text().split()[0])
            if Path(f"/proc/{pid}").exists():
                found.append((execution, pod.metadata.name, pid, kind))
    return found


@pytest.mark.timeout(1800 if FULL else 300)  # the full size runs for minutes
def test_pods_killed_at_random_finish_every_execution_and_rerun_no_committed_body(
    agents: Agents, cluster_paths: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    count, kills = (40, 100) if FULL else (8, 15)
    seed = int(os.environ.get("KITARU_FAULTS_SEED", time.time_ns() % 10**6))
    rng = random.Random(seed)
    started = time.monotonic()
    retries: dict[str, Any] = {"retries": 20}
    killed: Counter[str] = Counter()
    killed_pods: set[str] = set()
    answered: set[str] = set()
    kinds: Counter[str] = Counter()
    deadline = time.monotonic() + (900 if FULL else 300)
    with JobLedger(agents.api, agents.namespace) as ledger:
        # At full size bodies last longer, so that pods live long enough to be killed.
        names = start_chaos(agents, "crash", count, body_seconds=2.0 if FULL else 0.5,
                            **retries)

        next_answers = 0.0
        while sum(killed.values()) < kills and time.monotonic() < deadline:
            if time.monotonic() >= next_answers:  # a listing and patches: not every kill
                answer_waiting(agents, answered)
                next_answers = time.monotonic() + 1.0
            candidates = [c for c in running_pods(agents, cluster_paths["state"])
                          if killed[c[0]] < KILLS_PER_EXECUTION and c[1] not in killed_pods]
            if not candidates:
                if all_finished(agents):
                    break  # nothing left to kill
                time.sleep(0.2)
                continue
            # A few pods of different executions from one listing: a listing per kill
            # was too slow to reach the executions before they finished.
            chosen: dict[str, tuple[str, str, int, str]] = {}
            for candidate in rng.sample(candidates, len(candidates)):
                chosen.setdefault(candidate[0], candidate)
            for execution, pod, pid, kind in list(chosen.values())[:rng.randint(1, 4)]:
                time.sleep(rng.uniform(0.0, 0.2))  # somewhere in the pod's life
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue  # it ended meanwhile
                killed[execution] += 1
                killed_pods.add(pod)
                kinds[kind] += 1

        def finished() -> bool:
            answer_waiting(agents, answered)
            return all_finished(agents)

        converged = True
        try:
            wait_until(finished, timeout=max(deadline - time.monotonic(), 120),
                       what="every execution to finish")
        except AssertionError:
            converged = False
    final = {n: agents.get(n).get("status") or {} for n in names}
    succeeded = [n for n in names if final[n].get("phase") == "Succeeded"
                 and final[n].get("output", {}).get("value") == EXPECTED]
    report = Report(
        "run and checkpoint pods SIGKILLed at random", executions=count,
        faults=sum(killed.values()), converged=len(succeeded),
        duplicate_jobs=ledger.duplicates(),
        reruns_after_commit=reruns_after_commit(agents, succeeded), jobs=ledger.jobs(),
        bodies=body_runs(agents), seconds=time.monotonic() - started,
        notes={"seed": seed, "pods killed by kind": dict(kinds),
               "runs lost (RunLost events)": len(agents.events("RunLost")),
               "checkpoint pods failed": len(agents.events("CheckpointPodFailed"))})
    with capsys.disabled():
        report.show()
    assert converged, {n: s.get("phase") for n, s in final.items()}
    assert len(succeeded) == count, {n: final[n] for n in names if n not in succeeded}
    assert report.reruns_after_commit == {}
    assert report.duplicate_jobs == {}
    assert report.faults >= kills, f"only {report.faults} kills landed"
