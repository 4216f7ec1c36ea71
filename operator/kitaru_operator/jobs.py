"""The run Job of an Execution: one per run, named ``<execution>-r<n>``.

The name is deterministic, so a reconcile repeated after a crash finds the Job it made
instead of making a second. The operator owns retries (``backoffLimit: 0``) so it can
tell a failure in user code (an outcome in the store) from a lost pod (no outcome).
"""

from __future__ import annotations

import hashlib
from typing import Any

from kitaru.runenv import ReplayRequest, RunEnv
from kitaru_operator.models import API_VERSION, GROUP, FlowVersionSpec

#: Finished Jobs (and their pods) are removed after this long; outcomes live in the store.
TTL_SECONDS_AFTER_FINISHED = 3600
LABEL_EXECUTION = f"{GROUP}/execution"
LABEL_RUN = f"{GROUP}/run"
LABEL_FLOW = f"{GROUP}/flow"
LABEL_VERSION = f"{GROUP}/version"
_MAX_NAME = 63


def job_name(execution: str, run: int) -> str:
    """Return the run Job's name, shortened with a hash when the Execution's name is long."""
    suffix = f"-r{run}"
    if len(execution) + len(suffix) <= _MAX_NAME:
        return execution + suffix
    digest = hashlib.sha256(execution.encode()).hexdigest()[:8]
    return f"{execution[: _MAX_NAME - len(suffix) - 9]}-{digest}{suffix}"


def store_exec_id(namespace: str, execution: str, uid: str) -> str:
    """The execution's id in the store: unique across namespaces sharing one bucket, and
    across Executions created one after another under the same name (the uid part), so a
    new Execution never picks up the journal of a deleted one."""
    return f"{namespace}.{execution}.{uid[:8]}"


def label_value(text: str) -> str:
    """Return ``text`` cut to a valid label value."""
    return text[:63].rstrip("-_.")


def run_job(
    *,
    namespace: str,
    execution: str,
    execution_uid: str,
    exec_id: str,
    run: int,
    flow_version_name: str,
    flow_version: FlowVersionSpec,
    store_uri: str,
    inputs: dict[str, Any],
    answers: dict[str, Any],
    replay: ReplayRequest | None,
) -> dict[str, Any]:
    """Return the Job manifest for run ``run`` of an Execution."""
    labels = {
        LABEL_EXECUTION: label_value(execution),
        LABEL_RUN: str(run),
        LABEL_FLOW: label_value(flow_version.flow),
        LABEL_VERSION: str(flow_version.version),
        "app.kubernetes.io/managed-by": "kitaru",
    }
    env = RunEnv(
        store=store_uri, execution_id=exec_id, run=run, entrypoint=flow_version.entrypoint,
        flow=flow_version.flow, version=flow_version_name, input=inputs, answers=answers,
        replay=replay,
    ).to_env()
    env += [{"name": e.name, "value": e.value} for e in flow_version.env]
    container: dict[str, Any] = {
        "name": "run",
        "image": flow_version.image,
        "command": ["python", "-m", "kitaru.runtime"],
        "env": env,
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if flow_version.store and flow_version.store.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": flow_version.store.credentials_secret.name}}]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [container],
    }
    if flow_version.service_account_name:
        pod_spec["serviceAccountName"] = flow_version.service_account_name
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if flow_version.active_deadline_seconds:
        job_spec["activeDeadlineSeconds"] = flow_version.active_deadline_seconds
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(execution, run),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": "Execution", "name": execution,
                "uid": execution_uid, "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": job_spec,
    }
