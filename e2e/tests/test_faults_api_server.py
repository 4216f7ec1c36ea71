"""The API server restarted mid-run, and etcd briefly stopped: the operator reconnects,
its watches resume, and every execution converges with nothing made twice.

The kube-apiserver process is SIGKILLed and started again with the same command line
(its state lives in etcd, so nothing else changes); etcd is then paused (SIGSTOP) for a
few seconds, which the API server meets as a store that stops answering.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from faults import (
    EXPECTED,
    JobLedger,
    Report,
    all_finished,
    answer_waiting,
    body_runs,
    phases,
    process_ended,
    reruns_after_commit,
    start_chaos,
    start_ticks,
)
from operator_fixtures import Agents, OperatorProcess
from polling import wait_until


def restart_api_server(state: Path, down_seconds: float) -> None:
    """SIGKILL kube-apiserver, wait, and start it again as e2e/cluster/up started it."""
    pid_file = state / "pids" / "kube-apiserver.pid"
    pid = int(pid_file.read_text().split()[0])
    argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: process_ended(pid), timeout=30, what="the API server to die")
    time.sleep(down_seconds)
    with open(state / "logs" / "kube-apiserver.log", "ab") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file.write_text(f"{process.pid} {start_ticks(process.pid)}\n")


def pause(state: Path, component: str, seconds: float) -> None:
    pid = int((state / "pids" / f"{component}.pid").read_text().split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def test_an_api_server_restart_and_an_etcd_pause_mid_run_converge(
    agents: Agents, operator: OperatorProcess, cluster_paths: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    if os.environ.get("E2E_KUBECONFIG"):
        pytest.skip("restarts the local control plane's API server")
    state = cluster_paths["state"]
    started = time.monotonic()
    answered: set[str] = set()
    with JobLedger(agents.api, agents.namespace) as ledger:
        names = start_chaos(agents, "restart", 6)
        wait_until(lambda: any(p == "Running" for p in phases(agents).values()),
                   timeout=60, what="the executions to run")
        restart_api_server(state, down_seconds=5)
        wait_until(lambda: agents.kubectl("get", "--raw", "/readyz", check=False
                                          ).returncode == 0,
                   timeout=90, what="the API server to be ready again")
        pause(state, "etcd", 5)

        def finished() -> bool:
            answer_waiting(agents, answered)  # each answer needs the watches back
            return all_finished(agents)

        wait_until(finished, timeout=300, what="every execution to finish")
    final = {n: agents.get(n)["status"] for n in names}
    succeeded = [n for n in names if final[n]["phase"] == "Succeeded"
                 and final[n].get("output", {}).get("value") == EXPECTED]
    report = Report("API server restarted, etcd paused", executions=len(names), faults=2,
                    converged=len(succeeded), duplicate_jobs=ledger.duplicates(),
                    reruns_after_commit=reruns_after_commit(agents, succeeded),
                    jobs=ledger.jobs(), bodies=body_runs(agents),
                    seconds=time.monotonic() - started,
                    notes={"operator restarts": 0 if operator.alive() else 1})
    with capsys.disabled():
        report.show()
    assert operator.alive(), operator.log()[-3000:]
    assert len(succeeded) == len(names), final
    assert report.duplicate_jobs == {} and report.reruns_after_commit == {}
