"""Isolated checkpoints on the cluster: each body in a Job pod of its own.

``pods_flow`` runs two sequential isolated checkpoints, an inline one, and a ``.map()``
over four isolated checkpoints (the FlowVersion's default runtime). The bodies note
which process ran them, and the mapped ones when they started and ended.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.sdk.test_dispatch import pids

from operator_fixtures import Agents, OperatorProcess
from polling import wait_until

SAMPLE = "tests.sdk.sample_flows"
EXPECTED = {"first": 10, "second": 20, "inline": 21, "squares": [0, 1, 4, 9]}


def _spans(counters: Path) -> dict[int, tuple[float, float]]:
    marks: dict[tuple[str, int], float] = {}
    for line in (counters / "times").read_text().splitlines():
        kind, i, when = line.split()
        marks[(kind, int(i))] = float(when)
    return {i: (marks[("start", i)], marks[("end", i)]) for _, i in marks if ("end", i) in marks}


def _isolated(agents: Agents, name: str) -> dict[str, object]:
    manifest = agents.flow_version(name, f"{SAMPLE}:pods_flow", parallelism=4,
                                   checkpoints={"iso_branch": {"nodeSelector": {
                                       "kubernetes.io/hostname": "kitaru-e2e"}}})
    del manifest["spec"]["checkpointRuntime"]  # the default: isolated
    return manifest


def test_each_isolated_checkpoint_runs_in_its_own_pod_and_branches_overlap(
    agents: Agents,
) -> None:
    agents.apply(_isolated(agents, "pods-v1"))
    for i in range(4):
        agents.gate(f"slow-branch-{i}").write_text("3")
    agents.apply(agents.execution("pods-1", "pods-v1", input={"width": 4}))
    seen_branch_pods: set[str] = set()

    most_pods = [0]

    def finished() -> bool:
        status = agents.get("pods-1").get("status") or {}
        most_pods[0] = max(most_pods[0], status.get("checkpointPods", 0))
        for pod in agents.pods():
            labels = pod["metadata"].get("labels") or {}
            if labels.get("kitaru.ai/branch") == "true":
                seen_branch_pods.add(pod["metadata"]["name"])
                assert pod["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "kitaru-e2e"}
        return agents.phase("pods-1") == "Succeeded"

    wait_until(finished, timeout=240, what="pods-1 to succeed")

    info = agents.store_client().executions.get(agents.get("pods-1")["status"]["executionId"])
    assert info.output == EXPECTED
    ran = pids(agents.counters)
    bodies = {k: v for k, v in ran.items() if k != "flow"}
    assert all(len(v) == 1 for v in bodies.values()), bodies  # each body ran once
    isolated = [v[0] for k, v in bodies.items() if k != "inline_step"]
    assert len(set(isolated)) == 6  # six isolated bodies, six processes
    assert ran["inline_step"][0] in ran["flow"]  # inline: in the pod running the flow
    spans = _spans(agents.counters)
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())  # overlap
    assert len(seen_branch_pods) >= 2
    assert most_pods[0] >= 2  # kubectl get executions showed the branch pods running
    started = sorted(e["message"] for e in agents.events("CheckpointPodStarted"))
    assert started == sorted([
        "checkpoint iso_step: pod of run 2 started",
        "checkpoint iso_step_2: pod of run 3 started",
        *(f"checkpoint {b}: pod started (attempt 1)"
          for b in ("iso_branch", "iso_branch_2", "iso_branch_3", "iso_branch_4"))])
    finished_pods = sorted(e["message"].split(":")[0] for e in agents.events(
        "CheckpointPodFinished"))  # each pod's end is told once
    assert finished_pods == sorted(f"checkpoint {c}" for c in (
        "iso_step", "iso_step_2", "iso_branch", "iso_branch_2", "iso_branch_3", "iso_branch_4"))


def test_a_killed_branch_pod_is_retried_and_finished_branches_do_not_rerun(
    agents: Agents,
) -> None:
    agents.apply(_isolated(agents, "pods-v1"))
    hold = agents.gate("hold-branch-2")
    hold.write_text("hold")
    agents.apply(agents.execution("pods-2", "pods-v1", input={"width": 4}))
    held = agents.gate("held-branch-2")
    wait_until(held.exists, timeout=180, what="branch 2 to start")

    os.kill(int(held.read_text()), signal.SIGKILL)
    hold.unlink()

    status = agents.wait_phase("pods-2", "Succeeded", timeout=240)["status"]
    info = agents.store_client().executions.get(status["executionId"])
    assert info.output == EXPECTED
    ran = pids(agents.counters)
    assert len(ran["iso_branch_2"]) == 2  # killed once, then finished in a new pod
    assert all(len(ran[f"iso_branch_{i}"]) == 1 for i in (0, 1, 3))
    assert status["infraRetries"] == 1
    lost = agents.events("CheckpointPodLost")
    assert lost and "checkpoint iso_branch_3" in lost[0]["message"]


def test_a_failing_checkpoint_is_retried_in_a_new_pod_then_fails_and_retry_reruns_only_it(
    agents: Agents,
) -> None:
    manifest = agents.flow_version("retry-pods-v1", f"{SAMPLE}:retry_pods")
    del manifest["spec"]["checkpointRuntime"]  # isolated
    agents.apply(manifest)
    agents.apply(agents.execution("retry-1", "retry-pods-v1", input={"x": 1}))

    status = agents.wait_phase("retry-1", "Failed", timeout=180)["status"]

    assert status["error"]["origin"] == "user_code"
    assert "the tool is down" in status["error"]["message"]
    assert (agents.runs_of("slow_step_1"), agents.runs_of("fragile_twice")) == (1, 2)
    attempts = pids(agents.counters)["fragile_twice"]
    assert len(set(attempts)) == 2  # retries=1: the second attempt ran in a new pod
    (retried,) = agents.events("CheckpointRetried")
    assert "checkpoint fragile_twice: attempt 1 failed in pod retry-1-r3" in retried["message"]
    assert "(RuntimeError: the tool is down); attempt 2 runs in a new pod" in retried["message"]
    (failed,) = agents.events("CheckpointPodFailed")
    assert "checkpoint fragile_twice: pod retry-1-r4 failed (user_code: RuntimeError" in (
        failed["message"])
    agents.gate("fixed").write_text("yes")
    agents.patch("retry-1", {"retry": 1})
    agents.wait_phase("retry-1", "Succeeded", timeout=180)
    assert (agents.runs_of("slow_step_1"), agents.runs_of("fragile_twice")) == (1, 3)
    info = agents.store_client().executions.get(agents.get("retry-1")["status"]["executionId"])
    assert info.output == 12


def test_an_operator_restarted_while_branch_pods_run_makes_no_duplicates(
    agents: Agents, operator: OperatorProcess,
) -> None:
    agents.apply(_isolated(agents, "pods-v1"))
    hold = agents.gate("hold-branch-3")
    hold.write_text("hold")
    agents.apply(agents.execution("pods-3", "pods-v1", input={"width": 4}))
    wait_until(agents.gate("held-branch-3").exists, timeout=180, what="branch 3 to start")

    operator.kill()
    hold.unlink()  # the branch finishes while no operator runs
    time.sleep(2)
    operator.start()

    status = agents.wait_phase("pods-3", "Succeeded", timeout=240)["status"]
    info = agents.store_client().executions.get(status["executionId"])
    assert info.output == EXPECTED
    assert all(len(v) == 1 for k, v in pids(agents.counters).items() if k != "flow")
    started = [e["message"] for e in agents.events("CheckpointPodStarted")]
    assert len(started) == len(set(started)) == 6  # no checkpoint pod made twice


def test_a_cancel_while_branch_pods_run_stops_them_and_keeps_what_finished(
    agents: Agents,
) -> None:
    agents.apply(_isolated(agents, "pods-v1"))
    hold = agents.gate("hold-branch-1")
    hold.write_text("hold")  # never released: only the cancel ends this branch
    agents.apply(agents.execution("pods-4", "pods-v1", input={"width": 4}))
    held = agents.gate("held-branch-1")
    wait_until(held.exists, timeout=180, what="branch 1 to start")
    times = agents.counters / "times"
    wait_until(lambda: times.exists() and len(_spans(agents.counters)) >= 3, timeout=120,
               what="the other branches to finish")

    agents.patch("pods-4", {"cancel": True})

    status = agents.wait_phase("pods-4", "Cancelled", timeout=60)["status"]
    assert status.get("checkpointPods", 0) == 0 and not status.get("runningCheckpoints")
    wait_until(lambda: not [p for p in agents.pods() if p["status"].get("phase") in (
        "Pending", "Running")], timeout=60, what="the running checkpoint pod to stop")
    body = int(held.read_text())
    wait_until(lambda: not _alive(body), timeout=60, what="the held body's process to stop")
    info = agents.store_client().executions.get(status["executionId"])
    done = {c.id for c in info.checkpoints}
    assert {"iso_step", "iso_step_2", "inline_step", "iso_branch", "iso_branch_3",
            "iso_branch_4"} <= done and "iso_branch_2" not in done  # finished work is kept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
