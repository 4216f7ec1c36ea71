"""A long journal on the local control plane: a 10,000-checkpoint execution.

Figures, each against a baseline measured in the same run:

- A real execution of ``long_flow``, 10,000 checkpoints in its run pod, then a wait: the
  Execution object's size (its JSON, as read from the API server) at its largest while
  the run goes and once it waits. Target: under 64 KB, whatever the journal's length.
- The operator's store work per periodic pass over a run still going: store requests
  (counted by a proxy in front of moto) and seconds per pass, for a journal of 10,000
  records as a ratio against one of 10. Target: about 1x (the work does not grow with
  the journal). The same journal written by an SDK that records no progress (which the
  operator can only list) is shown too, as what the progress record saves.
  Those journals are written straight into the store (what a run pod would write) for
  Executions whose run Job makes no pod.

Starts its own control plane unless ``E2E_KUBECONFIG`` is set, plus moto's S3 server.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from tests.stores import emulators
from tests.stores.proxy import FaultProxy

from bench.harness import (
    AWS,
    BUCKET,
    GROUP,
    NAMESPACE,
    VERSION,
    Cluster,
    control_plane,
    parallel,
    wait,
)
from kitaru.journal import ExecutionStore, store_value
from kitaru.records import CheckpointRecord, ExecutionSpec, RunProgress, RunStart
from kitaru.serialization import encode
from kitaru.stores import open_store
from kitaru_operator.jobs import store_exec_id

KB = 1024
#: How often the operator looks at a run still going (short, for more passes measured).
RESYNC_SECONDS = 1.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LongJournal:
    """One benchmark run: the cluster, the store behind a counting proxy, the operator."""

    def __init__(self, bench: Cluster, proxy: FaultProxy, s3_endpoint: str) -> None:
        self.bench = bench
        self.proxy = proxy
        # Seeding goes straight to moto: only the operator's reads are counted.
        self.store = open_store(bench.store_uri, options={
            "endpoint_url": s3_endpoint, "access_key_id": "testing",
            "secret_access_key": "testing", "region": "us-east-1"})

    def setup(self) -> None:
        self.bench.setup()
        # The real run's pod talks to moto straight; the seeded ones (no pod) are read by
        # the operator through the counting proxy.
        self.bench.core.create_namespaced_secret(NAMESPACE, {
            "metadata": {"name": "store-counted"},
            "stringData": {**AWS, "AWS_ENDPOINT_URL": self.proxy.endpoint}})
        root = str(Path(__file__).resolve().parents[1])
        for name, secret in (("long-v1", "store-credentials"), ("counted-v1", "store-counted")):
            self.bench.custom.create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "flowversions", {
                    "apiVersion": f"{GROUP}/{VERSION}", "kind": "FlowVersion",
                    "metadata": {"name": name},
                    "spec": {"flow": "long", "version": 1, "image": "kitaru-agent:dev",
                             "entrypoint": "tests.sdk.sample_flows:long_flow",
                             "env": [{"name": "PYTHONPATH", "value": root}],
                             "store": {"uri": self.bench.store_uri,
                                       "credentialsSecret": {"name": secret}}}})

    def _create(self, name: str, steps: int, flow_version: str = "long-v1") -> dict[str, Any]:
        created: dict[str, Any] = self.bench.custom.create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "executions", {
                "apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
                "metadata": {"name": name},
                "spec": {"flowVersion": flow_version, "input": {"steps": steps}}})
        return created

    def _get(self, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = self.bench.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, "executions", name)
        return obj

    def real_run(self, steps: int) -> tuple[int, int, int, float]:
        """Run ``long_flow(steps)`` in a pod; return the Execution's largest size while
        it ran, its size once Waiting, the checkpoints its status counts, and seconds."""
        name = "long-real"
        start = time.perf_counter()
        self._create(name, steps)
        largest, obj = 0, self._get(name)
        deadline = start + 120 + steps * 0.2
        while (obj.get("status") or {}).get("phase") not in ("Waiting", "Failed"):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{name} still {obj.get('status')} after "
                                   f"{time.perf_counter() - start:.0f} s")
            largest = max(largest, len(json.dumps(obj).encode()))
            time.sleep(0.5)
            obj = self._get(name)
        seconds = time.perf_counter() - start
        status = obj["status"]
        if status["phase"] != "Waiting":
            raise RuntimeError(f"{name} failed: {status.get('error')}")
        final = len(json.dumps(obj).encode())
        return max(largest, final), final, int(status["checkpoints"]["count"]), seconds

    def pass_cost(self, name: str, records: int, *, progress: bool,
                  window: float) -> tuple[float, float]:
        """Store requests and seconds per periodic pass over a run still going, whose
        journal holds ``records`` records (and a progress record if ``progress``)."""
        created = self._create(name, records, "counted-v1")
        wait(lambda: (self._get(name).get("status") or {}).get("phase") == "Running", 120,
              f"{name} to be Running")
        # Its Job as the (paused) Job controller would have left it with a pod running:
        # the operator reads no progress of a run whose pod cannot have started.
        self.bench.batch.patch_namespaced_job_status(f"{name}-r1", NAMESPACE, {"status": {
            "startTime": datetime.now(UTC).isoformat(), "active": 1}})
        self._seed(store_exec_id(NAMESPACE, name, created["metadata"]["uid"]), records,
                   progress=progress)
        wait(lambda: ((self._get(name).get("status") or {}).get("checkpoints") or {})
              .get("count") == records, 120, f"{name} to count {records} checkpoints")
        requests, (count, total) = self.proxy.requests, self._store_metric()
        time.sleep(window)
        (count_after, total_after), requests_after = self._store_metric(), self.proxy.requests
        passes = count_after - count
        if passes < 1:
            raise RuntimeError(f"the operator made no pass over {name} in {window:g} s")
        cost = ((requests_after - requests) / passes, (total_after - total) / passes)
        self.bench.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                          "executions", name)
        return cost

    def _seed(self, exec_id: str, records: int, *, progress: bool) -> None:
        """What a run pod that has committed ``records`` checkpoints has written."""
        journal = ExecutionStore(self.store, exec_id)
        value = store_value(self.store, encode(7, allow_pickle=False, where="seed"))
        journal.create(ExecutionSpec(exec_id=exec_id, flow="long",
                                     entrypoint="tests.sdk.sample_flows:long_flow",
                                     inputs={"steps": value}))
        journal.claim_run(RunStart(run=1, pid=1, host="seeded"))
        ids = [f"tiny_step_{i}" for i in range(records)]
        now = datetime.now(UTC)
        parallel(lambda seq: journal.commit(CheckpointRecord(
            id=ids[seq], seq=seq, name="tiny_step", function="tests.sdk.sample_flows.tiny_step",
            value=value, run=1, started_at=now, finished_at=now)), list(range(records)))
        if progress:
            journal.write_progress(RunProgress(run=1, checkpoints=records,
                                               last_checkpoints=ids[-5:]))

    def _store_metric(self) -> tuple[float, float]:
        """The operator's store passes so far: (count, seconds in all)."""
        url = f"http://127.0.0.1:{self.bench.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
        found = {"count": 0.0, "sum": 0.0}
        for line in text.splitlines():
            for part in found:
                if line.startswith(f"kitaru_store_operation_duration_seconds_{part}{{"):
                    found[part] += float(line.rsplit(" ", 1)[1])
        return found["count"], found["sum"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.long_journal")
    parser.add_argument("--small", action="store_true",
                        help="300 checkpoints run, journals of 10 and 1,000 records")
    args = parser.parse_args(argv)
    steps, records = (300, 1000) if args.small else (10_000, 10_000)
    window = 10 * RESYNC_SECONDS

    with tempfile.TemporaryDirectory(prefix="kitaru-bench-") as tmp, \
            control_plane() as kubeconfig, emulators.running("s3") as started:
        s3 = started["s3"]
        boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1",
                     aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"]).create_bucket(
                         Bucket=BUCKET)
        proxy = FaultProxy(s3.endpoint)
        bench = Cluster(kubeconfig, s3, Path(tmp))
        bench.resync_seconds, bench.metrics_port = RESYNC_SECONDS, _free_port()
        run = LongJournal(bench, proxy, s3.endpoint)
        try:
            run.setup()
            largest, final, counted, seconds = run.real_run(steps)
            with bench.no_pods():
                short = run.pass_cost("short", 10, progress=True, window=window)
                long = run.pass_cost("long", records, progress=True, window=window)
                legacy = run.pass_cost("legacy", records, progress=False, window=window)
        finally:
            bench.stop()
            proxy.close()

    print(f"{steps} checkpoints run in one pod:    {seconds:8.1f} s, status counts {counted}")
    print(f"Execution object, largest / waiting: {largest / KB:6.1f} / {final / KB:.1f} KB"
          f"   {largest / (64 * KB):5.2f}x the 64 KB target (target < 1x)")
    print("store work per pass over a run going (requests, ms):")
    print(f"  journal of 10:                     {short[0]:6.1f}  {short[1] * 1000:7.1f}")
    print(f"  journal of {records:,}:{' ' * (23 - len(f'{records:,}'))}"
          f"{long[0]:6.1f}  {long[1] * 1000:7.1f}"
          f"   {long[1] / short[1]:5.2f}x the journal of 10 (target about 1x)")
    print(f"  the same, no progress record:      {legacy[0]:6.1f}  {legacy[1] * 1000:7.1f}"
          f"   {legacy[1] / short[1]:5.2f}x (an older SDK: the journal is listed)")
    print(f"operator log: {bench.log_path}")
    print(json.dumps({"execution_kb": largest / KB, "pass_ratio": long[1] / short[1],
                      "pass_requests": long[0]}))
    return 0 if counted == steps and largest < 64 * KB else 1


if __name__ == "__main__":
    raise SystemExit(main())
