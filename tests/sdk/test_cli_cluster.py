"""The cluster commands' parts that need no cluster: manifests, and one-line refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def kitaru(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kitaru.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, **(env or {})})


def test_a_dry_run_deploy_prints_the_flow_version_and_the_flows_tags() -> None:
    done = kitaru("deploy", "tests.sdk.sample_flows:approval_flow", "--image", "agents:1.4",
                  "--version", "3", "--tag", "production", "--store", "s3://bucket/kitaru",
                  "--store-secret", "store-creds", "--env", "MODE=fast", "--dry-run", "-o",
                  "yaml")
    assert done.returncode == 0, done.stderr
    fv, flow = yaml.safe_load_all(done.stdout)
    assert fv["kind"] == "FlowVersion" and fv["metadata"]["name"] == "approval-flow-v3"
    assert fv["spec"] == {
        "flow": "approval-flow", "version": 3, "image": "agents:1.4",
        "entrypoint": "tests.sdk.sample_flows:approval_flow",
        "env": [{"name": "MODE", "value": "fast"}],
        "store": {"uri": "s3://bucket/kitaru", "credentialsSecret": {"name": "store-creds"}}}
    assert flow == {"apiVersion": "kitaru.ai/v1alpha1", "kind": "Flow",
                    "metadata": {"name": "approval-flow"},
                    "spec": {"tags": {"latest": 3, "production": 3}}}


def test_bad_cluster_requests_are_one_line_naming_what_to_fix(tmp_path: Path) -> None:
    nowhere = {"KUBECONFIG": str(tmp_path / "missing"), "KITARU_KUBE_CONTEXT": ""}
    cases = [
        (("deploy", "tests.sdk.sample_flows:approval_flow", "--version", "1", "--dry-run"),
         "--image is required"),
        (("deploy", "tests.sdk.sample_flows:approval_flow", "--image", "x", "--version", "1",
          "--env", "NOEQUALS", "--dry-run"), "--env 'NOEQUALS': write it as NAME=value"),
        (("invoke", "approval-flow"), "no kube context"),
        (("executions", "list", "--cluster"), "no kube context"),
        (("deploy", "nosuch.module:flow", "--image", "x"), "cannot be imported"),
        (("executions", "list", "-o", "yaml"), "-o yaml is for kitaru deploy --dry-run"),
    ]
    for args, expected in cases:
        done = kitaru(*args, env=nowhere)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert expected in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr


def test_flow_deploy_from_python_makes_the_same_manifests() -> None:
    from tests.sdk.sample_flows import approval_flow

    fv, flow = approval_flow.deploy(image="agents:1.4", version=2, tag="canary", dry_run=True)
    assert fv["spec"]["entrypoint"] == "tests.sdk.sample_flows:approval_flow"
    assert flow["spec"]["tags"] == {"latest": 2, "canary": 2}


def test_config_defaults_flags_env_and_file_in_that_order(tmp_path: Path) -> None:
    env = {"KITARU_CONFIG": str(tmp_path / "config.toml"), "KITARU_NAMESPACE": ""}
    assert kitaru("config", "set", "namespace", "agents", env=env).returncode == 0
    assert kitaru("config", "set", "cluster", "true", env=env).returncode == 0
    assert (tmp_path / "config.toml").read_text() == 'cluster = true\nnamespace = "agents"\n'
    listed = kitaru("config", "list", "-o", "json", env=env).stdout
    assert '"namespace": "agents"' in listed and '"cluster": "true"' in listed
    from_env = kitaru("config", "list", env={**env, "KITARU_NAMESPACE": "team-b"}).stdout
    assert "team-b" in from_env and "$KITARU_NAMESPACE" in from_env
    # cluster = true makes --cluster the default: without a kubeconfig, one line says so.
    done = kitaru("executions", "list", env={**env, "KUBECONFIG": str(tmp_path / "none")})
    assert done.returncode == 1 and "no kube context" in done.stderr
    bad = kitaru("config", "set", "cluster", "maybe", env=env)
    assert bad.returncode == 1 and "cluster must be true or false" in bad.stderr
    assert kitaru("config", "unset", "cluster", env=env).returncode == 0
    assert "cluster" not in (tmp_path / "config.toml").read_text()
