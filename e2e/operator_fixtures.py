"""Fixtures for the operator scenarios: S3 on moto, the CRDs, the operator process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]
import pytest
import yaml
from kubernetes import client

from polling import wait_until

if TYPE_CHECKING:
    from kitaru import KitaruClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.stores.emulators and tests.sdk.sample_flows

from tests.stores import emulators  # noqa: E402

BUCKET = "kitaru-e2e"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3() -> Iterator[emulators.Emulator]:
    """moto's S3 server on a free loopback port, with the e2e bucket."""
    emulator = emulators.start("s3")
    boto3.client("s3", endpoint_url=emulator.endpoint, **{
        "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
        "region_name": "us-east-1"}).create_bucket(Bucket=BUCKET)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def crds(kubectl: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    """The generated CRDs, applied and established."""
    kubectl("apply", "-f", str(ROOT / "crds"))
    for name in ("flowversions", "flows", "executions", "schedules"):
        kubectl("wait", "--for=condition=Established", f"crd/{name}.kitaru.ai", "--timeout=60s")


class OperatorProcess:
    """``python -m kitaru_operator`` watching one namespace, as a user would start it."""

    def __init__(self, kubeconfig: Path, namespace: str, store: str, endpoint: str,
                 log: Path, *extra: str) -> None:
        self.command = [sys.executable, "-m", "kitaru_operator", "--namespace", namespace,
                        "--default-store", store, "--resync-seconds", "2",
                        "--log-format", "text", *extra]
        self.env = {**os.environ, "KUBECONFIG": str(kubeconfig), "AWS_ENDPOINT_URL": endpoint,
                    **AWS_ENV}
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a node loss."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def operator(kubeconfig: Path, namespace: str, s3: emulators.Emulator, crds: None,
             tmp_path: Path) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kubeconfig, namespace, f"s3://{BUCKET}/{namespace}", s3.endpoint,
                              tmp_path / "operator.log")
    process.start()
    yield process
    process.stop()
    print(f"--- operator log ---\n{process.log()[-6000:]}")


@dataclass
class Agents:
    """Applies FlowVersions and Executions in the test's namespace and reads them back."""

    namespace: str
    api: client.ApiClient
    kubectl: Callable[..., subprocess.CompletedProcess[str]]
    counters: Path
    endpoint: str

    def apply(self, manifest: dict[str, Any], *, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-n", self.namespace, "-f", "-",
                            input=yaml.safe_dump(manifest), check=check)

    def flow_version(self, name: str, entrypoint: str, **spec: Any) -> dict[str, Any]:
        env = [{"name": "PYTHONPATH", "value": str(ROOT)},
               {"name": "KITARU_TEST_COUNTERS", "value": str(self.counters)}]
        return {"apiVersion": "kitaru.ai/v1alpha1", "kind": "FlowVersion",
                "metadata": {"name": name},
                # The scenarios that count runs were written for checkpoints in the run
                # pod; the checkpoint pod scenarios ask for "isolated" (the default).
                "spec": {"flow": name.rsplit("-v", 1)[0], "version": 1,
                         "checkpointRuntime": "inline",
                         "image": "kitaru-agent:dev", "entrypoint": entrypoint, "env": env,
                         "store": {"uri": f"s3://{BUCKET}/{self.namespace}",
                                   "credentialsSecret": {"name": "store-credentials"}},
                         **spec}}

    def execution(self, name: str, flow_version: str, **spec: Any) -> dict[str, Any]:
        return {"apiVersion": "kitaru.ai/v1alpha1", "kind": "Execution",
                "metadata": {"name": name}, "spec": {"flowVersion": flow_version, **spec}}

    def get(self, name: str) -> dict[str, Any]:
        return self.read("execution", name)

    def read(self, resource: str, name: str) -> dict[str, Any]:
        """One object of the test's namespace, as ``kubectl get -o json`` shows it."""
        out = self.kubectl("get", resource, name, "-n", self.namespace, "-o", "json")
        found: dict[str, Any] = json.loads(out.stdout)
        return found

    def phase(self, name: str) -> str | None:
        phase: str | None = (self.get(name).get("status") or {}).get("phase")
        return phase

    def wait_phase(self, name: str, phase: str, timeout: float = 120) -> dict[str, Any]:
        wait_until(lambda: self.phase(name) == phase, timeout=timeout,
                   what=f"execution {name} to be {phase} (now {self.phase(name)})")
        return self.get(name)

    def patch(self, name: str, spec: dict[str, Any], *, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        return self.kubectl("patch", "execution", name, "-n", self.namespace, "--type", "merge",
                            "-p", json.dumps({"spec": spec}), check=check)

    def pods(self) -> list[dict[str, Any]]:
        out = self.kubectl("get", "pods", "-n", self.namespace, "-o", "json")
        pods: list[dict[str, Any]] = json.loads(out.stdout)["items"]
        return pods

    def jobs(self) -> list[str]:
        out = self.kubectl("get", "jobs", "-n", self.namespace, "-o", "name")
        return sorted(out.stdout.split())

    def events(self, reason: str) -> list[dict[str, Any]]:
        out = self.kubectl("get", "events", "-n", self.namespace, "-o", "json")
        return [e for e in json.loads(out.stdout)["items"] if e.get("reason") == reason]

    def runs_of(self, name: str) -> int:
        path = self.counters / name
        return len(path.read_text()) if path.exists() else 0

    def gate(self, name: str) -> Path:
        return self.counters / f"gate-{name}"

    def store_client(self) -> KitaruClient:
        from kitaru import KitaruClient
        from kitaru.stores.s3 import S3Store

        store = S3Store.from_uri(f"s3://{BUCKET}/{self.namespace}", {
            "endpoint_url": self.endpoint, "access_key_id": "testing",
            "secret_access_key": "testing", "region": "us-east-1"})
        return KitaruClient(store)


@pytest.fixture
def agents(  # noqa: PLR0917 - pytest passes fixtures positionally
    namespace: str, k8s_api: client.ApiClient,
    kubectl: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path,
    s3: emulators.Emulator, operator: OperatorProcess,
) -> Agents:
    """Helpers for one test's namespace, with a running operator and a store Secret."""
    del operator  # requested so that every scenario has the operator running
    return make_agents(namespace, k8s_api, kubectl, tmp_path, s3)


def make_agents(namespace: str, k8s_api: client.ApiClient,
                kubectl: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path,
                s3: emulators.Emulator) -> Agents:
    """The helpers and store Secret of ``agents``, for a test that runs its own operators."""
    counters = tmp_path / "counters"
    counters.mkdir()
    client.CoreV1Api(k8s_api).create_namespaced_secret(namespace, {  # type: ignore[arg-type]
        # The client takes plain manifests; its stubs name model classes.
        "metadata": {"name": "store-credentials"},
        "stringData": {"AWS_ENDPOINT_URL": s3.endpoint, **AWS_ENV}})
    return Agents(namespace, k8s_api, kubectl, counters, s3.endpoint)


def lease_holder(api: client.ApiClient, namespace: str, name: str) -> str | None:
    """Who holds a Lease (None: nobody, or no such Lease)."""
    try:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(name, namespace)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return lease.spec.holder_identity if lease.spec else None
