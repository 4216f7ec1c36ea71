"""Fixtures for the e2e tier: a real control plane, one namespace per test.

The control plane is e2e/cluster/up: built from the pinned Go modules on first use
(the build prints its progress), started once per session and stopped at the end.
With E2E_KUBECONFIG set, the suite runs against that cluster instead and starts
nothing.

Each session gets its own cluster state (under the cache, named after the pytest
process), so two sessions on one machine do not share or stop each other's
cluster. KITARU_E2E_KEEP=1 uses the shared default state instead (or
KITARU_E2E_STATE) and leaves the control plane running after the session, so the
next run starts in seconds (e2e/cluster/down stops it). When a test fails, the
component and container logs are copied to KITARU_E2E_ARTIFACTS (default: a
directory under /tmp, printed) before the teardown removes the state.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from polling import wait_until

E2E_DIR = Path(__file__).parent
CLUSTER_DIR = E2E_DIR / "cluster"

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
PodLog = Callable[..., str]


def _say(message: str) -> None:
    print(f"[e2e] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _uncaptured(config: pytest.Config) -> Iterator[None]:
    """Let output (ours and the scripts') reach the terminal, so CI logs show it.

    pytest captures file descriptor 2 itself, so sys.__stderr__ alone is not enough.
    """
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        yield
        return
    with capture.global_and_fixture_disabled():
        yield


def _cluster_paths() -> dict[str, Path]:
    script = f'. "{CLUSTER_DIR}/paths.sh"; echo "$E2E_BIN"; echo "$E2E_STATE"'
    out = subprocess.run(["bash", "-c", script], check=True, capture_output=True, text=True)
    bin_dir, state = out.stdout.split()
    return {"bin": Path(bin_dir), "state": Path(state)}


def _external() -> Path | None:
    value = os.environ.get("E2E_KUBECONFIG")
    return Path(value) if value else None


def _keep() -> bool:
    return os.environ.get("KITARU_E2E_KEEP") == "1"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build the binaries before any test, outside the per-test timeout."""
    if not _keep() and "KITARU_E2E_STATE" not in os.environ:
        cache = Path(os.environ.get("KITARU_E2E_CACHE", Path.home() / ".cache/kitaru-e2e"))
        # Inherited by up, down and the kubelet restart test.
        os.environ["KITARU_E2E_STATE"] = str(cache / f"state-pytest-{os.getpid()}")
    with _uncaptured(session.config):
        start = time.monotonic()
        subprocess.run([CLUSTER_DIR / "build"], check=True)
        _say(f"binaries ready in {time.monotonic() - start:.1f} s")


@pytest.fixture(scope="session")
def cluster_paths() -> dict[str, Path]:
    return _cluster_paths()


@pytest.fixture(scope="session")
def kubeconfig(
    pytestconfig: pytest.Config, request: pytest.FixtureRequest, cluster_paths: dict[str, Path]
) -> Iterator[Path]:
    external = _external()
    if external is not None:
        _say(f"using the cluster in E2E_KUBECONFIG={external}")
        yield external
        return
    with _uncaptured(pytestconfig):
        start = time.monotonic()
        up = subprocess.run([CLUSTER_DIR / "up"], check=False, stdout=subprocess.PIPE, text=True)
        if up.returncode != 0:
            _save_logs(cluster_paths["state"])
            if not _keep():
                subprocess.run([CLUSTER_DIR / "down"], check=False)
            pytest.fail(f"e2e/cluster/up failed with exit code {up.returncode}", pytrace=False)
        path = Path(up.stdout.strip().splitlines()[-1].removeprefix("export KUBECONFIG="))
        _say(f"control plane started in {time.monotonic() - start:.1f} s; KUBECONFIG={path}")
    try:
        yield path
    finally:
        with _uncaptured(pytestconfig):
            if request.session.testsfailed:
                _save_logs(path.parent)
            if _keep():
                _say(f"leaving the control plane running (export KUBECONFIG={path})")
            else:
                subprocess.run([CLUSTER_DIR / "down"], check=False)


def _save_logs(state: Path) -> None:
    default = Path("/tmp") / f"kitaru-e2e-artifacts-{os.getpid()}"
    target = Path(os.environ.get("KITARU_E2E_ARTIFACTS", default))
    if (state / "logs").is_dir():
        shutil.copytree(state / "logs", target / "logs", dirs_exist_ok=True)
    for log in (state / "kubelet" / "pods").glob("*/*/log"):
        copy = target / "pods" / log.parent.parent.name / f"{log.parent.name}.log"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, copy)
    _say(f"control plane and container logs saved in {target}")


@pytest.fixture(scope="session")
def k8s_api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    # The client leaves new_client_from_config and close unannotated.
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig))
    yield api
    api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def kubectl(kubeconfig: Path, cluster_paths: dict[str, Path]) -> Kubectl:
    """Run the built kubectl against the cluster; returns the CompletedProcess."""

    def run(
        *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(cluster_paths["bin"] / "kubectl"), f"--kubeconfig={kubeconfig}", *args]
        result = subprocess.run(
            command, check=False, input=input, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def pod_log(kubectl: Kubectl, cluster_paths: dict[str, Path]) -> PodLog:
    """A container's output: `pod_log(namespace, pod, container="main")`.

    The process kubelet serves no logs API, so locally this reads the file it writes.
    """

    def read(namespace: str, pod: str, container: str = "main") -> str:
        if _external() is not None:
            return kubectl("logs", "--namespace", namespace, pod, "-c", container).stdout
        pods = cluster_paths["state"] / "kubelet" / "pods"
        (log,) = pods.glob(f"{namespace}_{pod}_*/{container}/log")
        return log.read_text()

    return read


@pytest.fixture
def namespace(k8s_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, with its default ServiceAccount, deleted after the test."""
    core = client.CoreV1Api(k8s_api)
    slug = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40]
    name = f"e2e-{slug.strip('-')}-{uuid.uuid4().hex[:5]}"
    core.create_namespace(
        {  # type: ignore[arg-type]  # the client takes plain manifests; stubs name models
            "metadata": {"name": name, "labels": {"kitaru.dev/e2e": "true"}}})

    def default_account() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True

    wait_until(default_account, timeout=30, what=f"the default ServiceAccount in {name}")
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


# The operator scenarios' fixtures (S3 on moto, CRDs, the operator process, agents).
from operator_fixtures import agents, crds, operator, s3  # noqa: E402, F401
