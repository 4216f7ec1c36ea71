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
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client
from tests.stores import emulators

from operator_fixtures import AWS_ENV, BUCKET, Agents, lease_holder
from polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "kitaru"
SAMPLE = "tests.sdk.sample_flows"


def test_the_helm_installed_operator_runs_waits_and_retries_in_cluster(  # noqa: PLR0915, PLR0917
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

    metrics_port = emulators.free_port()
    helm("install", "kitaru", str(CHART), "--namespace", namespace,
         "--set", f"watchNamespaces={{{namespace}}}", "--set", "crds.install=false",
         "--set", "image.repository=kitaru-operator", "--set", "image.tag=dev",
         "--set", f"store.uri=s3://{BUCKET}/{namespace}",
         "--set", "store.credentialsSecret=store-credentials", "--set", "logFormat=text",
         "--set", "resyncSeconds=2",
         "--set", f"metrics.port={metrics_port}",
         "--set", f"healthPort={emulators.free_port()}",
         # The process kubelet binds volumes over host paths: /tmp may hold this checkout.
         "--set", f"tmpMountPath={scratch}")

    def operator_pod() -> dict[str, Any] | None:
        pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l",
                                  "app.kubernetes.io/name=kitaru", "-o", "json").stdout)
        running = [p for p in pods["items"] if p["status"].get("phase") == "Running"]
        return running[0] if running else None

    pod: dict[str, Any] = {}
    agents = Agents(namespace, k8s_api, kubectl, counters, s3.endpoint)
    # Another team's namespace, not watched: its Execution must be left alone.
    other = f"{namespace[:50]}-team-b"
    kubectl("create", "namespace", other)
    elsewhere = Agents(other, k8s_api, kubectl, counters, s3.endpoint)
    elsewhere.apply(elsewhere.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
    elsewhere.apply(elsewhere.execution("ask-b", "approval-v1", input={"topic": "moss"}))
    try:
        pod = wait_until(operator_pod, timeout=120, what="the operator pod to run")
        assert pod["spec"]["serviceAccountName"] == "kitaru"
        # It acts once it holds the release's Lease, taken under the chart's own RBAC.
        lease = wait_until(lambda: lease_holder(k8s_api, namespace, "kitaru"), timeout=60,
                           what="the operator to take its Lease")
        assert lease.startswith(pod["metadata"]["name"] + "_")
        before = wait_until(lambda: (m := _metrics(metrics_port)).get("kitaru_leader") == 1.0
                            and m, timeout=30, what="the operator to act")
        agents.apply(agents.flow_version("approval-v1", f"{SAMPLE}:approval_flow"))
        agents.apply(agents.execution("ask-1", "approval-v1", input={"topic": "kelp"}))
        agents.wait_phase("ask-1", "Waiting", timeout=120)
        agents.patch("ask-1", {"answers": {"approve": True}})
        agents.wait_phase("ask-1", "Succeeded", timeout=120)
        assert (agents.runs_of("research"), agents.runs_of("publish")) == (1, 1)
        # Counters moved with the scenario (scraped from the operator pod's port).
        _assert_counters_moved(before, _metrics(metrics_port))

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
        failed = _metrics(metrics_port)
        assert failed['kitaru_executions_finished_total{outcome="failed"}'] >= 1

        pod = _upgrade_keeps_a_waiting_execution_going(helm, agents, operator_pod, pod)
    except BaseException:
        if pod:
            log = pod_log(namespace, pod["metadata"]["name"], "operator")
            print(f"--- operator pod log ---\n{log[-6000:]}")
        # Its ClusterRole outlives the namespace: leave none behind for the next run.
        subprocess.run([str(cluster_paths["bin"] / "helm"), "uninstall", "kitaru",
                        "--namespace", namespace], env=helm_env, check=False, timeout=120)
        raise

    kubectl("delete", "namespace", other, "--wait=false")
    helm("uninstall", "kitaru", "--namespace", namespace)
    wait_until(lambda: operator_pod() is None, timeout=60, what="the operator pod to go")
    assert agents.phase("ask-1") == "Succeeded"  # an uninstall leaves Executions


def _metrics(port: int) -> dict[str, float]:
    """The operator's /metrics page: sample name with labels -> value ({}: no answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
            text = page.read().decode()
    except OSError:
        return {}
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def _assert_counters_moved(before: dict[str, float], after: dict[str, float]) -> None:
    assert after['kitaru_pods_created_total{kind="run"}'] >= 2
    assert after['kitaru_executions_finished_total{outcome="succeeded"}'] >= 1
    assert after["kitaru_executions_started_total"] >= 1
    assert after["kitaru_answer_to_pod_seconds_count"] >= 1
    posts = 'kitaru_api_request_duration_seconds_count{verb="POST"}'
    assert after[posts] > before.get(posts, 0)
    reconciles = "kitaru_reconcile_duration_seconds_count"
    assert after[reconciles] > before.get(reconciles, 0)
    assert after['kitaru_store_operation_duration_seconds_count{backend="s3"}'] >= 1
    assert after['kitaru_executions{phase="Succeeded"}'] >= 1
    assert after["kitaru_waits_pending"] == 0


def _upgrade_keeps_a_waiting_execution_going(
    helm: Callable[..., str], agents: Agents,
    operator_pod: Callable[[], dict[str, Any] | None], pod: dict[str, Any],
) -> dict[str, Any]:
    """``helm upgrade`` with a changed value while an execution waits; return the new pod."""
    agents.apply(agents.execution("ask-2", "approval-v1", input={"topic": "reef"}))
    agents.wait_phase("ask-2", "Waiting", timeout=120)
    # (Recreate here: the process kubelet shares the host's network, so an old and a new
    # operator pod cannot both bind their ports, as a rolling update needs.)
    helm("upgrade", "kitaru", str(CHART), "--namespace", agents.namespace, "--reuse-values",
         "--set", "logLevel=DEBUG", "--set", "leaderElection.enabled=false")

    def upgraded() -> dict[str, Any] | None:
        new = operator_pod()
        if new is None or new["metadata"]["name"] == pod["metadata"]["name"]:
            return None
        return new if "--log-level=DEBUG" in new["spec"]["containers"][0]["args"] else None

    new_pod = wait_until(upgraded, timeout=120, what="the upgraded operator pod to run")
    agents.patch("ask-2", {"answers": {"approve": True}})
    agents.wait_phase("ask-2", "Succeeded", timeout=120)
    assert (agents.runs_of("research"), agents.runs_of("publish")) == (2, 2)
    return new_pod
