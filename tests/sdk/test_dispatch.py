"""Isolated checkpoints on a cluster, without one: the run pod protocol, driven by hand.

The test plays the operator: it starts ``python -m kitaru.runtime`` processes with the
environment the operator gives run pods and branch pods, and follows each run's
``dispatch`` outcome, as the operator does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kitaru import KitaruClient
from kitaru.journal import ExecutionStore
from kitaru.report import RunReport
from kitaru.runenv import RunEnv
from kitaru.stores import open_store
from tests.sdk.sample_flows import gate, runs_of

ROOT = Path(__file__).resolve().parents[2]
EXEC = "pods-1"


def pod(store_uri: str, tmp_path: Path, run: int, *, checkpoints: list[str] | None = None,
        branch: bool = False, execution: str = EXEC, entrypoint: str = "pods_flow",
        inputs: dict[str, Any] | None = None, attempt: int = 1) -> subprocess.Popen[str]:
    """A run pod (or branch pod) of ``tests.sdk.sample_flows:<entrypoint>``."""
    env = RunEnv(store=store_uri, execution_id=execution, run=run,
                 entrypoint=f"tests.sdk.sample_flows:{entrypoint}",
                 input={"width": 4} if inputs is None else inputs,
                 checkpoint_runtime="isolated", checkpoints=checkpoints or [], branch=branch,
                 checkpoint_attempt=attempt)
    label = "-".join(checkpoints or ["run"])
    environ = {**os.environ, **{e["name"]: e["value"] for e in env.to_env()},
               "KITARU_TERMINATION_LOG": str(tmp_path / f"report-{run}-{label}")}
    return subprocess.Popen([sys.executable, "-m", "kitaru.runtime"], cwd=ROOT, env=environ,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def finish(proc: subprocess.Popen[str], tmp_path: Path, run: int,
           label: str = "run", *, code: int = 0) -> RunReport:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, out
    report = RunReport.parse((tmp_path / f"report-{run}-{label}").read_text())
    assert report is not None
    return report


def pids(counters: Path) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for line in (counters / "pids").read_text().splitlines():
        what, pid = line.split()
        found.setdefault(what, []).append(int(pid))
    return found


def test_each_isolated_body_runs_in_a_pod_of_its_own_and_branches_run_at_once(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    journal = ExecutionStore(open_store(store_uri), EXEC)

    first = finish(pod(store_uri, tmp_path, 1), tmp_path, 1)
    assert first.outcome == "dispatch"
    outcome = journal.run_outcome(1)
    assert outcome is not None and outcome.dispatch is not None
    assert [c.id for c in outcome.dispatch.calls] == ["iso_step"]
    assert not outcome.dispatch.fan_out

    assert finish(pod(store_uri, tmp_path, 2, checkpoints=["iso_step"]), tmp_path, 2,
                  "iso_step").outcome == "dispatch"  # ran iso_step, then met iso_step_2
    third = finish(pod(store_uri, tmp_path, 3, checkpoints=["iso_step_2"]), tmp_path, 3,
                   "iso_step_2")
    assert third.outcome == "dispatch"
    fan = journal.run_outcome(3)
    assert fan is not None and fan.dispatch is not None and fan.dispatch.fan_out
    branches = [c.id for c in fan.dispatch.calls]
    assert branches == ["iso_branch", "iso_branch_2", "iso_branch_3", "iso_branch_4"]

    # The branch pods start together; each runs its own call and nothing else.
    procs = {b: pod(store_uri, tmp_path, 3, checkpoints=[b], branch=True) for b in branches}
    reports = {b: finish(p, tmp_path, 3, b) for b, p in procs.items()}
    assert {b: (r.outcome, r.branch) for b, r in reports.items()} == {
        b: ("succeeded", [b]) for b in branches}
    assert journal.run_outcome(3) == fan  # a branch records no outcome of the run

    last = finish(pod(store_uri, tmp_path, 4), tmp_path, 4)
    assert last.outcome == "succeeded"
    info = KitaruClient().executions.get(EXEC)
    assert info.output == {"first": 10, "second": 20, "inline": 21, "squares": [0, 1, 4, 9]}

    ran = pids(counters)
    bodies = {k: v for k, v in ran.items() if k != "flow"}
    assert all(len(v) == 1 for v in bodies.values()), bodies  # every body ran once
    isolated = [v[0] for k, v in bodies.items() if k != "inline_step"]
    assert len(set(isolated)) == len(isolated) == 6  # each in a process of its own
    assert ran["inline_step"][0] == ran["iso_step_2"][0]  # in the pod that called it
    assert ran["inline_step"][0] in ran["flow"]
    records = {c.id: c for c in info.checkpoints}
    assert records["iso_step"].value_type == "builtins:int"
    assert json.loads(json.dumps([c.id for c in info.checkpoints])) == [
        "iso_step", "iso_step_2", "inline_step", *branches]


def test_local_mode_runs_every_body_in_the_flows_process(
    store_uri: str, counters: Path
) -> None:
    from tests.sdk.sample_flows import pods_flow

    result: Any = pods_flow.run(width=2).wait()

    assert result == {"first": 10, "second": 20, "inline": 21, "squares": [0, 1]}
    assert {pid for v in pids(counters).values() for pid in v} == {os.getpid()}


def test_gathered_async_isolated_checkpoints_become_branch_pods(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    def start(run: int, checkpoints: list[str] | None = None,
              branch: bool = False) -> subprocess.Popen[str]:
        return pod(store_uri, tmp_path, run, checkpoints=checkpoints, branch=branch,
                   execution="gather-1", entrypoint="gather_pods", inputs={})

    assert finish(start(1), tmp_path, 1).outcome == "dispatch"
    journal = ExecutionStore(open_store(store_uri), "gather-1")
    outcome = journal.run_outcome(1)
    assert outcome is not None and outcome.dispatch is not None and outcome.dispatch.fan_out
    branches = [c.id for c in outcome.dispatch.calls]
    assert branches == ["iso_async", "iso_async_2", "iso_async_3"]

    procs = {b: start(1, [b], branch=True) for b in branches}
    assert all(finish(p, tmp_path, 1, b).outcome == "succeeded" for b, p in procs.items())
    assert finish(start(2), tmp_path, 2).outcome == "succeeded"

    assert KitaruClient().executions.get("gather-1").output == [100, 101, 102]
    ran = pids(counters)
    assert len({v[0] for v in ran.values()}) == 3 and all(len(v) == 1 for v in ran.values())


def test_a_failed_attempt_in_a_checkpoint_pod_asks_for_a_new_pod_until_retries_run_out(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    def start(run: int, checkpoints: list[str] | None = None,
              attempt: int = 1) -> RunReport:
        label = "-".join(checkpoints or ["run"])
        return finish(pod(store_uri, tmp_path, run, checkpoints=checkpoints, attempt=attempt,
                          execution="retry-1", entrypoint="retry_pods", inputs={"x": 1}),
                      tmp_path, run, label)

    journal = ExecutionStore(open_store(store_uri), "retry-1")
    assert start(1).outcome == "dispatch"
    assert start(2, ["slow_step"]).outcome == "dispatch"  # then meets fragile_twice

    third = start(3, ["fragile_twice"])
    assert third.outcome == "dispatch" and third.retry is not None
    assert (third.retry.checkpoint, third.retry.attempt) == ("fragile_twice", 1)
    assert third.retry.error.origin == "user_code"
    assert "the tool is down" in third.retry.error.message
    outcome = journal.run_outcome(3)
    assert outcome is not None and outcome.dispatch is not None
    assert outcome.dispatch.retry is not None and not outcome.dispatch.fan_out
    assert [c.id for c in outcome.dispatch.calls] == ["fragile_twice"]
    assert runs_of(counters, "fragile_twice") == 1  # no second attempt in the same pod

    last = start(4, ["fragile_twice"], attempt=2)  # retries=1: the second attempt is the last
    assert last.outcome == "failed" and last.retry is None
    assert last.error is not None and last.error.origin == "user_code"
    assert runs_of(counters, "fragile_twice") == 2

    gate("fixed").touch()  # spec.retry after a fix: the checkpoint gets its attempts again
    assert start(5, ["fragile_twice"]).outcome == "succeeded"
    assert runs_of(counters, "slow_step_1") == 1  # finished work is never run again
    record = next(c for c in KitaruClient().executions.get("retry-1").checkpoints
                  if c.id == "fragile_twice")
    assert record.attempts == 1


def test_a_branch_pod_whose_body_fails_asks_for_a_new_pod_and_its_siblings_stay_done(
    store_uri: str, counters: Path, tmp_path: Path
) -> None:
    def start(run: int, checkpoints: list[str] | None = None, *, branch: bool = False,
              attempt: int = 1) -> subprocess.Popen[str]:
        return pod(store_uri, tmp_path, run, checkpoints=checkpoints, branch=branch,
                   attempt=attempt, execution="flaky-1", entrypoint="flaky_fan",
                   inputs={"width": 3})

    assert finish(start(1), tmp_path, 1).outcome == "dispatch"
    branches = ["flaky_branch", "flaky_branch_2", "flaky_branch_3"]
    reports = {b: finish(start(1, [b], branch=True), tmp_path, 1, b,
                         code=1 if b == "flaky_branch_2" else 0) for b in branches}
    failed = reports["flaky_branch_2"]
    assert failed.outcome == "dispatch" and failed.branch == ["flaky_branch_2"]
    assert failed.retry is not None and failed.retry.attempt == 1
    assert failed.retry.error.message == "branch 1: the tool is down"
    assert all(reports[b].outcome == "succeeded" for b in ("flaky_branch", "flaky_branch_3"))

    gate("fixed").touch()
    again = finish(start(1, ["flaky_branch_2"], branch=True, attempt=2), tmp_path, 1,
                   "flaky_branch_2")
    assert again.outcome == "succeeded"
    assert finish(start(2), tmp_path, 2).outcome == "succeeded"
    info = KitaruClient().executions.get("flaky-1")
    assert info.output == [0, 10, 20]
    assert {c.id: c.attempts for c in info.checkpoints}["flaky_branch_2"] == 2
    ran = pids(counters)
    assert len(ran["flaky_branch_1"]) == 2 and len(set(ran["flaky_branch_1"])) == 2
    assert len(ran["flaky_branch_0"]) == len(ran["flaky_branch_2"]) == 1


def test_in_local_mode_retries_stay_in_the_process(store_uri: str, counters: Path) -> None:
    from tests.sdk.sample_flows import flaky_fan

    handle = flaky_fan.run(width=3)
    assert handle.status == "failed"
    assert {pid for v in pids(counters).values() for pid in v} == {os.getpid()}
    assert len(pids(counters)["flaky_branch_1"]) == 2  # retries=1: two attempts here
