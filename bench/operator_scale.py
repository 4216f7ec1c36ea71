"""The operator on the local control plane: resume latency, fan-in, memory while waiting.

Figures, each against a baseline measured in the same run:

- resume latency: from the patch of ``spec.answers`` being accepted (the Execution at rest
  in Waiting, its first run's Job gone) to the next run's Job existing (seen by a watch),
  as a ratio against one bare API create round trip: a ConfigMap, and a (suspended) Job,
  the one write a resume cannot do without. Target <= 2x.
- N Executions applied at once until all are Running (or further), as a ratio against N
  bare Job creates.
- M Executions left Waiting with zero pods, and the operator's peak RSS (target < 250 MB).
- M executions sleeping on ``kitaru.sleep`` timers: how late each wakes (its next run's
  Job created) after its deadline, as a ratio of the operator's resync period (target
  well under 1x: timers are per execution, not a poll of all of them).
  Their first runs are recorded straight into the store (what a run pod would write)
  while the operator is stopped, and it then starts on all of them; the woken runs'
  Jobs make no pods, so the figure measures the operator, not M pod start-ups here.

Starts its own control plane (``e2e/cluster/up``, state in a temporary folder) unless
``E2E_KUBECONFIG`` is set, plus moto's S3 server, and stops both at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from kubernetes import client, config, watch
from tests.stores import emulators

from kitaru.journal import ExecutionStore, store_value
from kitaru.records import ExecutionSpec, RunOutcome, RunStart, WaitInfo
from kitaru.serialization import encode
from kitaru.stores import open_store
from kitaru_operator.jobs import store_exec_id

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "e2e" / "cluster"
BUCKET = "kitaru-bench"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_DEFAULT_REGION": "us-east-1"}
# A fresh namespace per run, so runs can share one control plane (E2E_KUBECONFIG).
NAMESPACE = f"kitaru-bench-{uuid.uuid4().hex[:6]}"
GROUP, VERSION = "kitaru.ai", "v1alpha1"
RESYNC_SECONDS = 5.0


@contextmanager
def control_plane() -> Iterator[str]:
    """Yield a kubeconfig path: E2E_KUBECONFIG, or a private cluster stopped afterwards."""
    external = os.environ.get("E2E_KUBECONFIG")
    if external:
        yield external
        return
    state = tempfile.mkdtemp(prefix="kitaru-bench-cluster-")
    env = {**os.environ, "KITARU_E2E_STATE": state}
    subprocess.run([CLUSTER / "build"], check=True, env=env, stdout=sys.stderr)
    up = subprocess.run([CLUSTER / "up"], check=True, env=env, stdout=subprocess.PIPE,
                        stderr=sys.stderr, text=True)
    try:
        yield up.stdout.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
    finally:
        subprocess.run([CLUSTER / "down"], check=False, env=env, stdout=subprocess.DEVNULL)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)
    return time.perf_counter() - start


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Bench:
    """The cluster, the store and the operator of one benchmark run."""

    def __init__(self, kubeconfig: str, s3: emulators.Emulator, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.s3 = s3
        self.workdir = workdir
        api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.watch_batch = client.BatchV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.operator: subprocess.Popen[bytes] | None = None
        self.store_uri = f"s3://{BUCKET}/{NAMESPACE}"
        self.resync_seconds = RESYNC_SECONDS
        self.metrics_port = 0  # the operator's Prometheus endpoint (0: none)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        binary = subprocess.run(["bash", "-c", f'. "{CLUSTER}/paths.sh"; echo "$E2E_BIN"'],
                                check=True, capture_output=True, text=True).stdout.strip()
        done = subprocess.run([f"{binary}/kubectl", f"--kubeconfig={self.kubeconfig}", *args],
                              input=stdin, check=True, capture_output=True, text=True)
        return done.stdout

    def setup(self) -> None:
        self.kubectl("apply", "-f", str(ROOT / "crds"))
        for name in ("flowversions", "flows", "executions"):
            self.kubectl("wait", "--for=condition=Established",
                         f"crd/{name}.kitaru.ai", "--timeout=60s")
        self.core.create_namespace({"metadata": {"name": NAMESPACE}})
        _wait(lambda: bool(self.core.list_namespaced_service_account(NAMESPACE).items), 30,
              "the default service account")
        self.core.create_namespaced_secret(NAMESPACE, {
            "metadata": {"name": "store-credentials"},
            "stringData": {"AWS_ENDPOINT_URL": self.s3.endpoint, **AWS}})
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "flowversions", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "FlowVersion",
            "metadata": {"name": "approval-v1"},
            "spec": {"flow": "approval", "version": 1, "image": "kitaru-agent:dev",
                     "entrypoint": "tests.sdk.sample_flows:approval_flow",
                     # The operator's own latency: the checkpoints stay in the run pod.
                     "checkpointRuntime": "inline",
                     "env": [{"name": "PYTHONPATH", "value": str(ROOT)},
                             {"name": "KITARU_TEST_COUNTERS", "value": str(self.workdir)}],
                     "store": {"uri": self.store_uri,
                               "credentialsSecret": {"name": "store-credentials"}}}})
        # Kept after the run (the work folder is not) for a look at what the operator did.
        self.log_path = Path(tempfile.gettempdir()) / "kitaru-bench-operator.log"
        self.log_path.write_bytes(b"")
        self.start_operator()

    def start_operator(self) -> None:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "AWS_ENDPOINT_URL": self.s3.endpoint,
               **AWS}
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives with the process
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "kitaru_operator", "--namespace", NAMESPACE,
             "--default-store", self.store_uri, "--resync-seconds", str(self.resync_seconds),
             "--metrics-port", str(self.metrics_port),
             "--log-level", os.environ.get("BENCH_OPERATOR_LOG_LEVEL", "INFO")],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self) -> None:
        if self.operator is not None and self.operator.poll() is None:
            os.killpg(self.operator.pid, signal.SIGTERM)
            start = time.perf_counter()
            try:
                self.operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.operator.pid, signal.SIGKILL)
                self.operator.wait()
                print("operator did not stop within 30 s of SIGTERM", file=sys.stderr)
            print(f"operator stopped {time.perf_counter() - start:.1f} s after SIGTERM",
                  file=sys.stderr)

    def execution(self, name: str) -> dict[str, Any]:
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
                "metadata": {"name": name},
                "spec": {"flowVersion": "approval-v1", "input": {"topic": name}}}

    def phase(self, name: str) -> str | None:
        obj: Any = self.custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                            "executions", name)
        return (obj.get("status") or {}).get("phase")  # type: ignore[no-any-return]

    def phases(self, prefix: str) -> list[str | None]:
        """Phases of the Executions whose names start with ``prefix``."""
        listing: Any = self.custom.list_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                                 "executions")
        return [(i.get("status") or {}).get("phase") for i in listing["items"]
                if i["metadata"]["name"].startswith(prefix)]

    def bare_create_seconds(self, count: int) -> float:
        times = []
        for _ in range(count):
            start = time.perf_counter()
            self.core.create_namespaced_config_map(NAMESPACE, {
                "metadata": {"name": f"rtt-{uuid.uuid4().hex[:10]}"}, "data": {"a": "b"}})
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def bare_job_seconds(self, count: int) -> float:
        """The median round trip of one bare Job create (suspended: it makes no pod), the
        write a resume cannot do without."""
        times = []
        for _ in range(count):
            start = time.perf_counter()
            self.batch.create_namespaced_job(NAMESPACE, {  # type: ignore[arg-type]
                "metadata": {"name": f"rtt-{uuid.uuid4().hex[:10]}", "labels": {"rtt": "1"}},
                "spec": {"suspend": True, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "none", "command": ["true"]}]}}}})
            times.append(time.perf_counter() - start)
        self.batch.delete_collection_namespaced_job(NAMESPACE, label_selector="rtt=1",
                                                    propagation_policy="Background")
        return statistics.median(times)

    def resume_latency(self, index: int) -> float:
        """Seconds from the answer's patch being accepted to the next run's Job existing.

        The Job's creation is seen through a watch opened before the patch (from the
        listing's resourceVersion, so no event is missed), not by polling, which would add
        up to one poll interval and one GET to every figure.
        """
        name = f"resume-{index}"
        job = f"{name}-r2"
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "executions",
                                                    self.execution(name))
        # At rest, as when a person answers: Waiting, and its first run's Job cleaned up.
        _wait(lambda: self.phase(name) == "Waiting" and not self.batch.list_namespaced_job(
            NAMESPACE, label_selector=f"kitaru.ai/execution={name}").items, 180,
            f"{name} to wait with no Job left")
        listing = self.batch.list_namespaced_job(NAMESPACE, field_selector=f"metadata.name={job}")
        seen: list[float] = []
        watcher = watch.Watch()

        def see_job() -> None:
            for event in watcher.stream(self.watch_batch.list_namespaced_job, NAMESPACE,
                                        field_selector=f"metadata.name={job}",
                                        resource_version=listing.metadata.resource_version,
                                        timeout_seconds=60):
                if event["type"] == "ADDED":
                    seen.append(time.perf_counter())
                    watcher.stop()

        thread = threading.Thread(target=see_job, daemon=True)
        thread.start()
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "executions",
                                                   name, {"spec": {"answers": {"approve": True}}})
        accepted = time.perf_counter()
        thread.join(60)
        if not seen:
            raise TimeoutError(f"timed out after 60 s waiting for {job}")
        return seen[0] - accepted

    def fan_in(self, count: int) -> tuple[float, float]:
        """Seconds for ``count`` Executions created one after another to all be Running
        (their first run's Job made), and for ``count`` bare Job creates. Neither makes
        pods (:meth:`_no_pods`): on this one machine, hundreds of pods starting would
        take the CPU from the API server and the operator alike, and measure neither."""
        with self._no_pods():
            return self._fan_in(count)

    def _fan_in(self, count: int) -> tuple[float, float]:
        start = time.perf_counter()
        for i in range(count):
            self.batch.create_namespaced_job(NAMESPACE, {  # type: ignore[arg-type]
                "metadata": {"name": f"bare-{i}"},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{
                    "name": "c", "image": "none", "command": ["true"]}]}}}})
        bare = time.perf_counter() - start
        self.batch.delete_collection_namespaced_job(NAMESPACE, propagation_policy="Background")
        start = time.perf_counter()
        for i in range(count):
            self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                        "executions", self.execution(f"fan-{i}"))

        def all_running() -> bool:
            fan = [p for p in self.phases("fan-") if p is not None]
            return len(fan) >= count and all(p != "Pending" for p in fan)

        _wait(all_running, 600, f"{count} executions to reach Running")
        return time.perf_counter() - start, bare

    def seed_waiting(self, count: int) -> None:
        """Make ``count`` Executions whose first run waits, recorded in the store as a run
        pod would, while the operator is stopped; then start it on all of them.

        Each journal lives under its Execution's id (which carries the uid), so the
        operator is stopped until the journals exist: it then finds run 1 of each in the
        store and starts no pod.
        """
        self.stop()
        store = self._store()
        topic = store_value(store, encode("idle", allow_pickle=False, where="seed"))
        wait = WaitInfo(name="approve", schema={"type": "boolean"})
        journals = self._seed_many(store, [f"idle-{i}" for i in range(count)], topic)
        _parallel(lambda journal: journal.finish_run(
            RunOutcome(run=1, outcome="waiting", wait=wait)), journals)
        self.start_operator()

    def _store(self) -> Any:
        return open_store(self.store_uri, options={
            "endpoint_url": self.s3.endpoint, "access_key_id": "testing",
            "secret_access_key": "testing", "region": "us-east-1"})

    def _seed_many(self, store: Any, names: list[str], topic: Any) -> list[ExecutionStore]:
        """Executions whose run 1 has started, as a run pod records it (each journal lives
        under the id that carries its Execution's uid); the caller records how it ended."""
        def seed(name: str) -> ExecutionStore:
            created: Any = self.custom.create_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, "executions", self.execution(name))
            journal = ExecutionStore(store, store_exec_id(NAMESPACE, name,
                                                          created["metadata"]["uid"]))
            journal.create(ExecutionSpec(exec_id=journal.exec_id, flow="approval",
                                         entrypoint="tests.sdk.sample_flows:approval_flow",
                                         inputs={"topic": topic}))
            journal.claim_run(RunStart(run=1, pid=1, host="seeded"))
            return journal

        return _parallel(seed, names)

    def timer_lateness(self, count: int, spread: float) -> tuple[list[float], bool]:
        """How late ``count`` sleeping executions wake after their timers are due.

        Their first runs are recorded in the store as sleeping on a timer (what a run pod
        of a flow calling ``kitaru.sleep`` writes), with deadlines spread evenly over
        ``spread`` seconds once the operator has had time to settle. The woken runs' Jobs make no
        pods (:meth:`_no_pods`): the figure is the operator's.
        Returns each lateness in seconds, and whether every execution was Waiting before
        the first deadline (else the figure includes start-up).
        """
        self.stop()
        # Only the sleepers: the Executions of earlier phases would share the start-up pass.
        self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                               "executions")
        _wait(lambda: not self.phases(""), 120, "earlier Executions to be deleted")
        with self._no_pods():
            return self._sleepers(count, spread)

    @contextmanager
    def _no_pods(self) -> Iterator[None]:
        """Jobs without pods: on the bench's own control plane the controller manager is
        paused (SIGSTOP), so woken runs' Jobs make no pods and no retries of refused pod
        creates load the API server; on another cluster, a ResourceQuota of zero pods."""
        pid_file = Path(self.kubeconfig).parent / "pids" / "kube-controller-manager.pid"
        if os.environ.get("E2E_KUBECONFIG") or not pid_file.exists():
            try:
                self.core.create_namespaced_resource_quota(NAMESPACE, {
                    "metadata": {"name": "no-pods"}, "spec": {"hard": {"pods": "0"}}})
            except client.ApiException as exc:
                if exc.status != 409:  # made by an earlier phase
                    raise
            yield
            return
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    def _sleepers(self, count: int, spread: float) -> tuple[list[float], bool]:
        store = self._store()
        topic = store_value(store, encode("nap", allow_pickle=False, where="seed"))
        names = [f"nap-{i}" for i in range(count)]
        journals = self._seed_many(store, names, topic)
        # The deadlines are written last, so seeding time does not eat into the lead: the
        # operator's start-up listing and first pass over every Execution.
        lead = 20 + count * 0.1
        first = datetime.now(UTC) + timedelta(seconds=lead)
        due = {f"{name}-r2": first + timedelta(seconds=spread * i / count)
               for i, name in enumerate(names)}
        _parallel(lambda pair: pair[0].finish_run(RunOutcome(
            run=1, outcome="waiting", wait=WaitInfo(name="sleep", kind="timer",
                                                    since=datetime.now(UTC),
                                                    deadline=due[f"{pair[1]}-r2"]))),
                  list(zip(journals, names, strict=True)))
        seen: dict[str, datetime] = {}

        def watch_jobs() -> None:
            stream = watch.Watch().stream(self.watch_batch.list_namespaced_job, NAMESPACE,
                                          timeout_seconds=int(lead + spread + 120))
            for event in stream:
                name = event["object"].metadata.name
                if event["type"] == "ADDED" and name in due and name not in seen:
                    seen[name] = datetime.now(UTC)
                if len(seen) == len(due):
                    return

        watcher = threading.Thread(target=watch_jobs, daemon=True)
        watcher.start()
        self.start_operator()
        settled = False  # every sleeper shown Waiting before the first deadline
        while not settled and datetime.now(UTC) < first:
            settled = sum(p == "Waiting" for p in self.phases("nap-")) >= count
            time.sleep(0.5)
        watcher.join(timeout=lead + spread + 120)
        missing = [n for n in due if n not in seen]
        if missing:
            raise TimeoutError(f"{len(missing)} timers never fired (e.g. {missing[0]})")
        return [(seen[n] - due[n]).total_seconds() for n in due], settled


def _parallel(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``work`` on every item, 16 at a time (seeding 1,000 one by one takes minutes)."""
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(work, items))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.operator_scale")
    parser.add_argument("--small", action="store_true", help="5 resumes, 10 and 100 objects")
    parser.add_argument("--timers-only", action="store_true",
                        help="only the sleeping-executions figure")
    parser.add_argument("--spread", type=float, default=None,
                        help="seconds the timers' deadlines are spread over (default: 10 "
                             "timers due a second)")
    args = parser.parse_args(argv)
    resumes, fan, idle = (5, 10, 100) if args.small else (10, 200, 1000)
    # Timers due at 10 a second: a thousand sleeping, a steady stream waking. (All due
    # at once is a burst of writes, bound by the API server rather than the timers.)
    spread = args.spread if args.spread is not None else idle / 10

    with tempfile.TemporaryDirectory(prefix="kitaru-bench-") as tmp, \
            control_plane() as kubeconfig, emulators.running("s3") as started:
        s3 = started["s3"]
        boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
        bench = Bench(kubeconfig, s3, Path(tmp))
        figures: dict[str, float] = {}
        try:
            bench.setup()
            if not args.timers_only:
                figures.update(_throughput(bench, resumes, fan, idle))
            late, settled = bench.timer_lateness(idle, spread)
        finally:
            bench.stop()

    ordered = sorted(late)
    p95, worst = ordered[int(0.95 * (len(ordered) - 1))], ordered[-1]
    print(f"{idle} timers due over {spread:g} s, late by (median / p95 / max): "
          f"{statistics.median(late):.2f} / {p95:.2f} / {worst:.2f} s"
          f"   max {worst / RESYNC_SECONDS:4.2f}x the {RESYNC_SECONDS:g} s resync period "
          "(target well under 1x)" + ("" if settled else
                                      "  [operator still starting at the first deadline]"))
    print(f"operator log: {bench.log_path}")
    print(json.dumps({**figures, "timer_late_max_ratio": worst / RESYNC_SECONDS}))
    return 0


def _throughput(bench: Bench, resumes: int, fan: int, idle: int) -> dict[str, float]:
    """Resume latency, fan-in and memory while waiting; printed, and returned as ratios."""
    rtt = bench.bare_create_seconds(20)
    job_rtt = bench.bare_job_seconds(20)
    latency = statistics.median(bench.resume_latency(i) for i in range(resumes))
    fan_time, bare_time = bench.fan_in(fan)
    bench.seed_waiting(idle)
    _wait(lambda: sum(p == "Waiting" for p in bench.phases("idle-")) >= idle, 900,
          f"{idle} executions to be Waiting")
    pods = [p for p in bench.core.list_namespaced_pod(NAMESPACE).items
            if (p.metadata.name or "").startswith("idle-")]
    assert bench.operator is not None
    rss = _peak_rss_mb(bench.operator.pid)
    print(f"bare API create round trip:          {rtt * 1000:8.1f} ms  (a ConfigMap)")
    print(f"bare Job create round trip:          {job_rtt * 1000:8.1f} ms")
    print(f"resume latency (median of {resumes}):      {latency * 1000:8.1f} ms"
          f"   {latency / rtt:6.1f}x the ConfigMap, {latency / job_rtt:4.1f}x the Job "
          "(target <= 2x)")
    print(f"{fan} Executions to Running:          {fan_time:8.1f} s "
          f"   {fan_time / bare_time:6.1f}x  {fan} bare Job creates ({bare_time:.2f} s)")
    print(f"{idle} Executions Waiting, pods:       {len(pods):8d}")
    print(f"operator peak RSS:                   {rss:8.1f} MB   (target < 250 MB)")
    return {"resume_ratio": latency / rtt, "resume_job_ratio": latency / job_rtt,
            "fan_ratio": fan_time / bare_time,
            "peak_rss_mb": rss}


if __name__ == "__main__":
    raise SystemExit(main())
