"""Two operator replicas: one acts (it holds the Lease), the other takes over when it dies.

The replicas run as processes started with the flags the Helm chart gives its pods
(``--leader-election`` and the Lease's name and namespace), each with its own liveness
and metrics port, as two pods would have. (The process kubelet shares the host's
network, so two chart pods of one release could not both bind their ports here.)
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tests.stores import emulators

from kitaru_operator.leader import LEASE_SECONDS, RETRY_SECONDS, LeaseElector
from operator_fixtures import BUCKET, OperatorProcess, lease_holder, make_agents
from polling import wait_until

SAMPLE = "tests.sdk.sample_flows"


def test_a_standby_takes_the_lease_only_once_the_holder_stops_renewing(
    k8s_api: client.ApiClient, namespace: str,
) -> None:
    leases = client.CoordinationV1Api(k8s_api)
    first = LeaseElector(leases, namespace, "kitaru", "replica-a")
    second = LeaseElector(leases, namespace, "kitaru", "replica-b")
    assert first.try_acquire() and not second.try_acquire()
    assert first.try_acquire()  # renewing its own

    stop = threading.Event()
    took: list[float] = []
    start = time.monotonic()
    standby = threading.Thread(target=lambda: took.append(
        time.monotonic() - start) if second.acquire(stop) else None)
    standby.start()  # the holder renews no more from here: as if it died
    standby.join(timeout=LEASE_SECONDS + 15)
    stop.set()
    assert took, "the standby never took over"
    print(f"takeover after the holder's last renewal: {took[0]:.1f} s")
    assert LEASE_SECONDS <= took[0] <= LEASE_SECONDS + RETRY_SECONDS + 3
    assert lease_holder(k8s_api, namespace, "kitaru") == "replica-b"
    assert not first.try_acquire()  # the old holder, back, stands by

    second.release()  # a clean stop hands over at once
    assert first.try_acquire()
    assert leases.read_namespaced_lease("kitaru", namespace).spec.lease_transitions == 2


@pytest.fixture
def replicas(kubeconfig: Path, namespace: str, s3: emulators.Emulator, crds: None,
             tmp_path: Path) -> Iterator[list[tuple[OperatorProcess, int]]]:
    made = []
    for name in ("a", "b"):
        metrics_port = emulators.free_port()
        made.append((OperatorProcess(
            kubeconfig, namespace, f"s3://{BUCKET}/{namespace}", s3.endpoint,
            tmp_path / f"operator-{name}.log", "--leader-election",
            "--leader-election-name", "kitaru", "--leader-election-namespace", namespace,
            "--liveness", f"http://127.0.0.1:{emulators.free_port()}/healthz",
            "--metrics-port", str(metrics_port)), metrics_port))
    for process, _ in made:
        process.start()
    yield made
    for name, (process, _) in zip("ab", made, strict=True):
        process.stop()
        print(f"--- operator {name} log ---\n{process.log()[-4000:]}")


def _leader_gauge(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
            text = page.read().decode()
    except OSError:
        return None
    line = next((x for x in text.splitlines() if x.startswith("kitaru_leader ")), None)
    return float(line.split()[1]) if line else None


def test_killing_the_acting_replica_mid_execution_lets_the_other_finish_it(  # noqa: PLR0917
    replicas: list[tuple[OperatorProcess, int]], k8s_api: client.ApiClient, namespace: str,
    kubectl: Any, tmp_path: Path, s3: emulators.Emulator,
) -> None:
    agents = make_agents(namespace, k8s_api, kubectl, tmp_path, s3)  # no third operator
    wait_until(lambda: lease_holder(k8s_api, namespace, "kitaru"), timeout=60,
               what="a replica to take the lease")

    def one_acts() -> list[float | None] | None:
        found = [_leader_gauge(port) for _, port in replicas]
        return found if sorted(found, key=str) == [0.0, 1.0] else None

    gauges = wait_until(one_acts, timeout=30, what="one replica acting, one standing by")
    acting, standing_by = (replicas if gauges[0] == 1.0 else replicas[::-1])
    agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    agents.apply(agents.execution("ask-1", "approval-v1", input={"topic": "kelp"}))
    agents.wait_phase("ask-1", "Waiting", timeout=120)
    assert standing_by[0].alive() and "standing by" in standing_by[0].log()
    assert "InputAccepted" not in standing_by[0].log()

    acting[0].kill()  # SIGKILL: the Lease is not released
    killed = time.monotonic()
    agents.patch("ask-1", {"answers": {"approve": True}})  # answered while no one acts
    agents.wait_phase("ask-1", "Succeeded", timeout=120)
    print(f"answer after the kill -> execution Succeeded through the standby: "
          f"{time.monotonic() - killed:.1f} s")
    assert _leader_gauge(standing_by[1]) == 1.0
    assert (agents.runs_of("research"), agents.runs_of("publish")) == (1, 1)
    # Run 1's Job went when the execution scaled to zero; run 2 was made once.
    assert agents.jobs() == ["job.batch/ask-1-r2"]
    assert len(agents.events("Resumed")) == 1
