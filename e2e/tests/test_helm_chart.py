"""The Helm chart (helm/kitaru), rendered by the pinned helm and checked by the real API
server: schema, CRDs, least-privilege RBAC, and a pod that the "restricted" Pod Security
profile admits."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "kitaru"
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def helm(cluster_paths: dict[str, Path], tmp_path: Path) -> Callable[..., Any]:
    env = {**os.environ, **{k: str(tmp_path / k.lower()) for k in (
        "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME")}}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(cluster_paths["bin"] / "helm"), *args], env=env,
                              capture_output=True, text=True, check=check, timeout=120)
    return run


def render(helm: Callable[..., Any], namespace: str, *sets: str) -> list[dict[str, Any]]:
    args = ["template", "kitaru", str(CHART), "--namespace", namespace]
    for item in sets:
        args += ["--set", item]
    docs = yaml.safe_load_all(helm(*args).stdout)
    return [d for d in docs if d]


def test_the_chart_lints_and_a_mistyped_value_is_refused_by_name(helm: Any) -> None:
    assert "0 chart(s) failed" in helm("lint", str(CHART)).stdout

    typo = helm("template", "kitaru", str(CHART), "--set", "repicaCount=2", check=False)
    wrong = helm("template", "kitaru", str(CHART), "--set", "logLevel=LOUD", check=False)

    assert typo.returncode != 0 and "additional properties 'repicaCount'" in typo.stderr
    assert wrong.returncode != 0 and "/logLevel" in wrong.stderr


def test_a_service_monitor_is_rendered_only_where_prometheus_operator_serves_its_api(
    helm: Any,
) -> None:
    def monitors(*extra: str) -> list[dict[str, Any]]:
        out = helm("template", "kitaru", str(CHART), "--namespace", "kitaru-system",
                   "--set", "metrics.serviceMonitor.enabled=true", *extra).stdout
        return [d for d in yaml.safe_load_all(out) if d and d["kind"] == "ServiceMonitor"]

    assert monitors() == []  # no Prometheus Operator: nothing it would refuse
    (monitor,) = monitors("--api-versions", "monitoring.coreos.com/v1")
    service = next(d for d in render(helm, "kitaru-system") if d["kind"] == "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert any(p["name"] == "metrics" for p in service["spec"]["ports"])
    assert monitors("--api-versions", "monitoring.coreos.com/v1",
                    "--set", "metrics.enabled=false") == []


def test_more_than_one_replica_needs_leader_election(helm: Any) -> None:
    two = render(helm, "kitaru-system", "replicaCount=2")
    deployment = next(d for d in two if d["kind"] == "Deployment")
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-election" in args and "--leader-election-name=kitaru" in args
    refused = helm("template", "kitaru", str(CHART), "--set", "replicaCount=2",
                   "--set", "leaderElection.enabled=false", check=False)
    assert refused.returncode != 0 and "needs leaderElection.enabled" in refused.stderr


def test_the_charts_crds_are_the_projects_and_survive_an_uninstall(helm: Any) -> None:
    rendered = {(d["kind"], d["metadata"]["name"]): d for d in render(helm, "kitaru-system")
                if d["kind"] in ("CustomResourceDefinition", "ValidatingAdmissionPolicy",
                                 "ValidatingAdmissionPolicyBinding")}
    for path in sorted((ROOT / "crds").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            mine = json.loads(json.dumps(rendered[doc["kind"], doc["metadata"]["name"]]))
            assert mine["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
            assert mine == json.loads(json.dumps(doc))
    unkept = render(helm, "kitaru-system", "crds.keep=false")
    assert not any("annotations" in d["metadata"] for d in unkept
                   if d["kind"] == "CustomResourceDefinition")
    assert not any(d["kind"] == "CustomResourceDefinition"
                   for d in render(helm, "kitaru-system", "crds.install=false"))


def test_watched_namespaces_get_a_role_and_secrets_stay_out_of_reach_elsewhere(
    helm: Any, kubectl: Kubectl, namespace: str,
) -> None:
    other = f"{namespace[:50]}-other"
    kubectl("create", "namespace", other)
    try:
        docs = render(helm, namespace, f"watchNamespaces={{{namespace}}}")
        cluster = [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
        local = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(cluster + local))
        account = f"system:serviceaccount:{namespace}:kitaru"

        def can(verb: str, what: str, where: str) -> bool:
            kind, _, sub = what.partition("/")
            extra = ["--subresource", sub] if sub else []
            done = kubectl("auth", "can-i", verb, kind, *extra, "-n", where, "--as", account,
                           check=False)
            return done.stdout.strip() == "yes"

        assert can("get", "secrets", namespace) and not can("get", "secrets", other)
        assert can("create", "jobs.batch", namespace) and not can("create", "jobs.batch", other)
        assert can("patch", "executions.kitaru.ai/status", namespace)
        assert not can("patch", "executions.kitaru.ai", namespace)  # spec is the users'
        assert not can("delete", "pods", namespace) and not can("create", "secrets", namespace)
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", input=yaml.safe_dump_all(cluster),
                check=False)
        kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_the_operator_pod_is_admitted_by_the_restricted_pod_security_profile(
    helm: Any, kubectl: Kubectl, namespace: str,
) -> None:
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    docs = render(helm, namespace, "store.uri=s3://agents/kitaru")
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "kitaru-operator-check", "namespace": namespace,
                        "labels": template["metadata"]["labels"]},
           "spec": {**template["spec"], "serviceAccountName": "default"}}

    admitted = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod),
                       check=False)

    assert admitted.returncode == 0, admitted.stderr
    (container,) = template["spec"]["containers"]
    assert "--default-store=s3://agents/kitaru" in container["args"]
    assert "--all-namespaces" in container["args"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    loose = {**pod, "spec": {**pod["spec"], "securityContext": {}}}
    refused = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(loose),
                      check=False)
    assert refused.returncode != 0 and "restricted" in refused.stderr
