"""A store outage, as an operator of the system meets it: S3 answers 503 for 25 s, twice.

The operator and the run pods reach moto through a fault proxy on loopback. Eight
executions (a checkpoint, a wait, a checkpoint) run through two outages, with the answers
to their waits patched during the second. Half of them run pods that give up on the store
after 5 s, so both paths are taken: a pod that rides the outage out, and a pod that gives
up and is replaced once the store answers. Every execution must succeed, and no
checkpoint body may run again after its result was committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from tests.stores import emulators
from tests.stores.proxy import FaultProxy, fault_proxy

from operator_fixtures import AWS_ENV, BUCKET, Agents
from polling import wait_until

SAMPLE = "tests.sdk.sample_flows"
OUTAGE_SECONDS = 25.0
LABELS = [f"job{i}" for i in range(8)]


@pytest.fixture
def proxy(s3: emulators.Emulator) -> Iterator[FaultProxy]:
    with fault_proxy(s3.endpoint) as running:
        yield running


@pytest.fixture
def via_proxy(agents: Agents, proxy: FaultProxy) -> Agents:
    """A credentials Secret whose endpoint is the proxy: the operator's reads and the pods'
    reads and writes of FlowVersions that name it all go through the proxy."""
    client.CoreV1Api(agents.api).create_namespaced_secret(agents.namespace, {  # type: ignore[arg-type]
        "metadata": {"name": "store-via-proxy"},
        "stringData": {"AWS_ENDPOINT_URL": proxy.endpoint, **AWS_ENV}})
    return agents


class Outage:
    """503 for every store request, for a while, in the background."""

    def __init__(self, proxy: FaultProxy, seconds: float) -> None:
        self.proxy = proxy
        self.ends = time.monotonic() + seconds
        proxy.fail_next(10**9, status=503)
        self._timer = threading.Timer(seconds, proxy.up)
        self._timer.start()

    def going(self) -> bool:
        return time.monotonic() < self.ends

    def wait_out(self, check: Any = None) -> None:
        """Sleep to the end of the outage, calling ``check`` about once a second."""
        while self.going():
            if check is not None:
                check()
            time.sleep(min(1.0, max(0.0, self.ends - time.monotonic())))
        self._timer.join()


def conditions(execution: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in (execution.get("status") or {}).get("conditions", [])
            if c["type"] == kind]


def test_two_store_outages_fail_no_execution_and_rerun_no_committed_checkpoint(
    via_proxy: Agents, proxy: FaultProxy
) -> None:
    agents = via_proxy
    store = {"uri": f"s3://{BUCKET}/{agents.namespace}",
             "credentialsSecret": {"name": "store-via-proxy"}}
    patient = agents.flow_version("outage-v1", f"{SAMPLE}:approve_between", store=store)
    impatient = agents.flow_version("outage-v2", f"{SAMPLE}:approve_between", store=store,
                                    version=2)
    impatient["spec"]["env"].append({"name": "KITARU_STORE_RETRY_SECONDS", "value": "5"})
    agents.apply(patient)
    agents.apply(impatient)
    names = {label: f"outage-{label}" for label in LABELS}
    for i, label in enumerate(LABELS):
        version = "outage-v1" if i % 2 == 0 else "outage-v2"
        agents.apply(agents.execution(names[label], version, input={"label": label}))
    seen_phases: dict[str, set[str]] = {name: set() for name in names.values()}

    def watch_phases() -> None:
        for name in names.values():
            seen_phases[name].add(agents.phase(name) or "Pending")

    # Outage 1, as the executions start and run their first checkpoint.
    wait_until(lambda: len(agents.jobs()) >= 2, timeout=60, what="the first run Jobs")
    first = Outage(proxy, OUTAGE_SECONDS)
    wait_until(lambda: any(conditions(agents.get(n), "StoreUnavailable")
                           for n in names.values()),
               timeout=OUTAGE_SECONDS, what="a StoreUnavailable condition during the outage")
    first.wait_out(watch_phases)
    assert proxy.failures_sent > 0
    for name in names.values():
        agents.wait_phase(name, "Waiting", timeout=180)
    waiting = [agents.get(name) for name in names.values()]
    assert not any(conditions(e, "StoreUnavailable") for e in waiting), "cleared once back"

    # Outage 2, with every answer patched while it lasts.
    second = Outage(proxy, OUTAGE_SECONDS)
    for name in names.values():
        agents.patch(name, {"answers": {"approve": True}})
    second.wait_out(watch_phases)
    finished = [agents.wait_phase(name, "Succeeded", timeout=240) for name in names.values()]

    assert not any("Failed" in phases for phases in seen_phases.values()), seen_phases
    assert all(not conditions(e, "StoreUnavailable") for e in finished)
    assert agents.events("StoreUnavailable") and agents.events("StoreAvailable")
    warning = agents.events("StoreUnavailable")[0]
    assert warning["type"] == "Warning" and "unreachable or failing" in warning["message"]
    lost = agents.events("RunLost")
    assert lost, "the impatient pods gave up at least once and were replaced"
    assert any("gave up on the store" in e["message"] for e in lost)

    # Outputs, and no body re-ran after its commit: a body may run again only in a run
    # that came before the run that committed its result (it ran, the store was down).
    kitaru = agents.store_client()
    bodies = [line.split() for line in
              (agents.counters / "bodies").read_text().splitlines()]
    for label, execution in zip(LABELS, finished, strict=True):
        info = kitaru.executions.get(execution["status"]["executionId"])
        assert info.output == f"NOTES FOR {label.upper()}"
        committed = {c.id: c.run for c in info.checkpoints}
        assert set(committed) == {"gather", "conclude"}
        for checkpoint_id, run in committed.items():
            runs = [int(r) for who, what, r in bodies if (who, what) == (label, checkpoint_id)]
            assert runs and max(runs) == run, (label, checkpoint_id, runs, run)
            assert runs.count(run) == 1, (label, checkpoint_id, runs)


def test_a_missing_bucket_fails_the_execution_at_once_with_its_message(
    agents: Agents,
) -> None:
    missing = agents.flow_version("nowhere-v1", f"{SAMPLE}:approve_between",
                                  store={"uri": "s3://no-such-bucket-e2e/x",
                                         "credentialsSecret": {"name": "store-credentials"}})
    agents.apply(missing)
    agents.apply(agents.execution("nowhere-1", "nowhere-v1", input={"label": "x"}))

    status = agents.wait_phase("nowhere-1", "Failed", timeout=60)["status"]

    assert "no-such-bucket-e2e" in status["error"]["message"]
    assert status.get("infraRetries", 0) == 0
    assert not agents.events("RunLost")
