"""The store failing under the operator and the pods: bursts of 503s, slow answers, and a
30 s outage in which every connection is dropped.

The run pods and the operator reach moto through a fault proxy. Executions stall and
recover; no record is left half written (every record and value reads back and matches
its digest); a condition and an Event say what is wrong while it is wrong; and the
operator neither crashes nor spins (its requests during the outage are counted).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from kubernetes import client
from tests.stores import emulators
from tests.stores.proxy import FaultProxy, fault_proxy

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
from operator_fixtures import AWS_ENV, BUCKET, Agents, OperatorProcess
from polling import wait_until

OUTAGE_SECONDS = 30.0


@pytest.fixture
def proxy(s3: emulators.Emulator) -> Iterator[FaultProxy]:
    with fault_proxy(s3.endpoint) as running:
        yield running


def bursts(proxy: FaultProxy, seconds: float, stop: threading.Event) -> int:
    """Every 2 s, the next 3 requests answer 503; return how many bursts were sent."""
    sent, ends = 0, time.monotonic() + seconds
    while time.monotonic() < ends and not stop.wait(2.0):
        proxy.fail_next(3, status=503)
        sent += 1
    return sent


def test_503_bursts_slow_answers_and_an_outage_stall_executions_that_then_recover(
    agents: Agents, operator: OperatorProcess, proxy: FaultProxy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    client.CoreV1Api(agents.api).create_namespaced_secret(agents.namespace, {  # type: ignore[arg-type]
        "metadata": {"name": "store-via-proxy"},
        "stringData": {"AWS_ENDPOINT_URL": proxy.endpoint, **AWS_ENV}})
    store = {"uri": f"s3://{BUCKET}/{agents.namespace}",
             "credentialsSecret": {"name": "store-via-proxy"}}
    answered: set[str] = set()
    said: set[str] = set()  # the StoreUnavailable reasons conditions gave meanwhile
    with JobLedger(agents.api, agents.namespace) as ledger:
        names = start_chaos(agents, "flaky", 12 if FULL else 6, store=store)
        stop = threading.Event()
        sent = bursts(proxy, 20, stop)  # as the executions start
        proxy.slow(0.5)
        time.sleep(15)  # slow answers while they run
        proxy.slow(0.0)
        before = proxy.requests
        proxy.down()
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        while time.monotonic() < outage_ends:
            answer_waiting(agents, answered)
            for obj in executions(agents).values():
                for condition in (obj.get("status") or {}).get("conditions", []):
                    if condition["type"] == "StoreUnavailable":
                        said.add(condition["reason"])
            time.sleep(1)
        during = proxy.requests - before
        proxy.up()

        def finished() -> bool:
            answer_waiting(agents, answered)
            return all_finished(agents)

        wait_until(finished, timeout=600 if FULL else 300, what="every execution to finish")
    final = {n: agents.get(n)["status"] for n in names}
    succeeded = [n for n in names if final[n]["phase"] == "Succeeded"
                 and final[n].get("output", {}).get("value") == EXPECTED]
    rate = during / OUTAGE_SECONDS / len(names)
    log = operator.log()
    report = Report(
        "the store failing: 503 bursts, slow answers, a 30 s outage", executions=len(names),
        faults=sent + 2, converged=len(succeeded), duplicate_jobs=ledger.duplicates(),
        # Reads every committed record and value back, verifying each digest.
        reruns_after_commit=reruns_after_commit(agents, succeeded), jobs=ledger.jobs(),
        bodies=body_runs(agents), seconds=time.monotonic() - started,
        notes={"503 bursts": sent, "requests during the outage": during,
               "per execution per second": round(rate, 2),
               "conditions said": sorted(said),
               "StoreUnavailable / StoreAvailable events": (
                   len(agents.events("StoreUnavailable")), len(agents.events("StoreAvailable"))),
               "tracebacks in the operator log": log.count("Traceback")})
    with capsys.disabled():
        report.show()
    assert operator.alive() and "Traceback" not in log, log[-3000:]
    assert len(succeeded) == len(names), final
    assert report.duplicate_jobs == {} and report.reruns_after_commit == {}
    assert "StoreUnreachable" in said  # said while it was wrong...
    assert agents.events("StoreUnavailable") and agents.events("StoreAvailable")  # ...and after
    assert not any(c["type"] == "StoreUnavailable" for s in final.values()
                   for c in s.get("conditions", []))
    # No spinning: the operator rechecks every 10 s and the pods back off.
    assert rate < 3, f"{during} store requests in the {OUTAGE_SECONDS:g} s outage"
