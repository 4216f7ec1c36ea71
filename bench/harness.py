"""What the benchmarks on the local control plane share: the cluster, moto's S3 server
and the operator, started for one run and stopped after it.

Starts its own control plane (``e2e/cluster/up``, state in a temporary folder) unless
``E2E_KUBECONFIG`` is set.
"""

from __future__ import annotations

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
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from tests.stores import emulators

from kitaru.journal import ExecutionStore
from kitaru.records import ExecutionSpec, RunStart
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


def wait(check: Callable[[], bool], timeout: float, what: str) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)
    return time.perf_counter() - start


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Cluster:
    """The cluster, the store and the operator of one benchmark run."""

    def __init__(self, kubeconfig: str, s3: emulators.Emulator, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.s3 = s3
        self.workdir = workdir
        api = self.api = config.new_client_from_config(config_file=kubeconfig)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.watch_batch = client.BatchV1Api(config.new_client_from_config(config_file=kubeconfig))
        self.watch_custom = client.CustomObjectsApi(
            config.new_client_from_config(config_file=kubeconfig))
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
        wait(lambda: bool(self.core.list_namespaced_service_account(NAMESPACE).items), 30,
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

    def send(self, method: str, path: str, body: Any,
             content_type: str = "application/json") -> dict[str, Any]:
        """One request with a JSON body, its answer read as plain JSON: what the operator
        does (``kitaru_operator.kubeapi.send_json``), so that a baseline is not slowed by
        the client building its models of the answer."""
        request = self.api.param_serialize(
            method=method, resource_path=path, body=body, auth_settings=["BearerToken"],
            header_params={"Content-Type": content_type, "Accept": "application/json"})
        response = self.api.call_api(*request)
        data = response.read()
        if not 200 <= response.status <= 299:
            raise client.ApiException(status=response.status, reason=data.decode())
        return json.loads(data)  # type: ignore[no-any-return]

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.send("POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs", body)

    def create_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.send("POST", f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/executions",
                         body)

    def bare_job_seconds(self, count: int) -> float:
        """The median round trip of one bare Job create (suspended: it makes no pod), the
        write a resume cannot do without."""
        times = []
        for _ in range(count):
            start = time.perf_counter()
            self.create_job({
                "metadata": {"name": f"rtt-{uuid.uuid4().hex[:10]}", "labels": {"rtt": "1"}},
                "spec": {"suspend": True, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "none", "command": ["true"]}]}}}})
            times.append(time.perf_counter() - start)
        self.batch.delete_collection_namespaced_job(NAMESPACE, label_selector="rtt=1",
                                                    propagation_policy="Background")
        return statistics.median(times)

    def store(self) -> Any:
        return open_store(self.store_uri, options={
            "endpoint_url": self.s3.endpoint, "access_key_id": "testing",
            "secret_access_key": "testing", "region": "us-east-1"})

    def seed_many(self, store: Any, names: list[str], topic: Any) -> list[ExecutionStore]:
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

        return parallel(seed, names)

    @contextmanager
    def no_pods(self) -> Iterator[None]:
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


class Seen:
    """Follows a watch (from a thread of its own) until ``count`` objects matched:
    ``match`` returns an object's name when it counts, else None."""

    def __init__(self, match: Callable[[Any], str | None], count: int,
                 lister: Any, *args: Any) -> None:
        self.match, self.count = match, count
        self.names: set[str] = set()
        self.done = threading.Event()
        # From the listing's version: no event between now and the first one is missed.
        listing: Any = lister(*args, limit=1)
        version = (listing["metadata"]["resourceVersion"] if isinstance(listing, dict)
                   else listing.metadata.resource_version)
        threading.Thread(target=self._follow, args=(lister, args, version),
                         daemon=True).start()

    def _follow(self, lister: Any, args: tuple[Any, ...], resource_version: str) -> None:
        watcher = watch.Watch(return_type="object")  # plain dicts, as the operator sees them
        for event in watcher.stream(lister, *args, resource_version=resource_version,
                                    timeout_seconds=600):
            name = self.match(event["object"])
            if name is not None:
                self.names.add(name)
                if len(self.names) >= self.count:
                    self.done.set()
                    watcher.stop()


def parallel(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``work`` on every item, 16 at a time (seeding 1,000 one by one takes minutes)."""
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(work, items))


