"""The operator installed with Helm, running as a pod under the chart's ServiceAccount.

No operator process of the test's own runs here: the chart's Deployment makes the only
one, through the process kubelet, which gives it the ServiceAccount's projected token
and the API server's address, so every API call it makes is checked by the chart's
RBAC, limited to the test's namespace.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.stores import emulators

from operator_fixtures import AWS_ENV, BUCKET, Agents
from polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "kitaru"
SAMPLE = "tests.sdk.sample_flows"


def test_the_helm_installed_operator_runs_waits_and_retries_in_cluster(  # noqa: PLR0917
    kubectl: Callable[..., subprocess.CompletedProcess[str]], namespace: str,
    k8s_api: client.ApiClient, s3: emulators.Emulator, crds: None,
    cluster_paths: dict[str, Path], kubeconfig: Path, tmp_path: Path,
    pod_log: Callable[..., str],
) -> None:
    del crds  # applied by the suite: the release leaves them alone (crds.install=false)
    counters = tmp_path / "counters"
    counters.mkdir()
    scratch = tmp_path / "operator-tmp"
    scratch.mkdir()
    client.CoreV1Api(k8s_api).create_namespaced_secret(namespace, {  # type: ignore[arg-type]
        "metadata": {"name": "store-credentials"},
        "stringData": {"AWS_ENDPOINT_URL": s3.endpoint, **AWS_ENV}})
    helm_env = {**os.environ, **{k: str(tmp_path / k.lower()) for k in (
        "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")},
        "KUBECONFIG": str(kubeconfig)}

    def helm(*args: str) -> str:
        done = subprocess.run([str(cluster_paths["bin"] / "helm"), *args], env=helm_env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    helm("install", "kitaru", str(CHART), "--namespace", namespace,
         "--set", f"watchNamespaces={{{namespace}}}", "--set", "crds.install=false",
         "--set", "image.repository=kitaru-operator", "--set", "image.tag=dev",
         "--set", f"store.uri=s3://{BUCKET}/{namespace}",
         "--set", "store.credentialsSecret=store-credentials", "--set", "logFormat=text",
         "--set", "resyncSeconds=2",
         "--set", f"metrics.port={emulators.free_port()}",
         "--set", f"healthPort={emulators.free_port()}",
         # The process kubelet binds volumes over host paths: /tmp may hold this checkout.
         "--set", f"tmpMountPath={scratch}")

    def operator_pod() -> dict[str, Any] | None:
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l",
                                  "app.kubernetes.io/name=kitaru", "-o", "json").stdout)
        running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
        return running[0] if running else None

    pod = wait_until(operator_pod, timeout=120, what="the operator pod to run")
    assert pod["spec"]["serviceAccountName"] == "kitaru"
    agents = Agents(namespace, k8s_api, kubectl, counters, s3.endpoint)
    # Another team's namespace, not watched: its Execution must be left alone.
    other = f"{namespace[:50]}-team-b"
    kubectl("create", "namespace", other)
    elsewhere = Agents(other, k8s_api, kubectl, counters, s3.endpoint)
    elsewhere.apply(elsewhere.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    elsewhere.apply(elsewhere.execution("ask-b", "approval-v1", input={"topic": "moss"}))
    try:
        agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
        agents.apply(agents.execution("ask-1", "approval-v1", input={"topic": "kelp"}))
        agents.wait_phase("ask-1", "Waiting", timeout=120)
        agents.patch("ask-1", {"answers": {"approve": True}})
        agents.wait_phase("ask-1", "Succeeded", timeout=120)
        assert (agents.runs_of("research"), agents.runs_of("publish")) == (1, 1)

        agents.apply(agents.flow_version("fragile-v1", f"{SAMPLE}:fails_until_fixed"))
        agents.apply(agents.execution("fix-1", "fragile-v1", input={"x": 1}))
        status = agents.wait_phase("fix-1", "Failed", timeout=120)["status"]
        assert status["error"]["origin"] == "user_code"
        agents.gate("fixed").write_text("yes")
        agents.patch("fix-1", {"retry": 1})
        agents.wait_phase("fix-1", "Succeeded", timeout=120)
        run_pods = [p for p in agents.pods()
                    if (p["metadata"].get("labels") or {}).get("kitaru.ai/execution")]
        assert all(p["spec"].get("automountServiceAccountToken") is False for p in run_pods)
        assert elsewhere.get("ask-b").get("status") is None  # never reconciled
        assert elsewhere.pods() == []
    except BaseException:
        log = pod_log(namespace, pod["metadata"]["name"], "operator")
        print(f"--- operator pod log ---\n{log[-6000:]}")
        raise

    kubectl("delete", "namespace", other, "--wait=false")
    helm("uninstall", "kitaru", "--namespace", namespace)
    wait_until(lambda: operator_pod() is None, timeout=60, what="the operator pod to go")
    assert agents.phase("ask-1") == "Succeeded"  # an uninstall leaves Executions
