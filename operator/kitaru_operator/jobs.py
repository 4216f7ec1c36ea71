"""The run Job of an Execution: one per run, named ``<execution>-r<n>``.

The name is deterministic, so a reconcile repeated after a crash finds the Job it made
instead of making a second. The operator owns retries (``backoffLimit: 0``) so it can
tell a failure in user code (an outcome in the store) from a lost pod (no outcome).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kitaru.runenv import ReplayRequest, RunEnv
from kitaru_operator.models import API_VERSION, GROUP, FlowVersionSpec

#: Finished Jobs (and their pods) are removed after this long; outcomes live in the store.
TTL_SECONDS_AFTER_FINISHED = 3600
LABEL_EXECUTION = f"{GROUP}/execution"
LABEL_RUN = f"{GROUP}/run"
LABEL_FLOW = f"{GROUP}/flow"
LABEL_VERSION = f"{GROUP}/version"
LABEL_CHECKPOINT = f"{GROUP}/checkpoint"
LABEL_CHECKPOINT_NAME = f"{GROUP}/checkpoint-name"
LABEL_BRANCH = f"{GROUP}/branch"
LABEL_ATTEMPT = f"{GROUP}/attempt"
#: The attempt a checkpoint pod makes at its body (from 2 on: earlier pods failed).
LABEL_CHECKPOINT_ATTEMPT = f"{GROUP}/checkpoint-attempt"
#: On a finished Job: its end was told in an Event.
ANNOTATION_REPORTED = f"{GROUP}/reported"
#: Resources the checkpoint's code asked for, on its Job (a retry's pod gets them too).
ANNOTATION_RESOURCES = f"{GROUP}/code-resources"
#: The Execution's full name, on the pod (a label value holds 63 characters at most).
ANNOTATION_EXECUTION = f"{GROUP}/execution-name"
_MAX_NAME = 63


def job_name(execution: str, run: int, *, branch: str | None = None,
             attempt: int = 1) -> str:
    """Return a Job's name: ``<execution>-r<n>`` for a run, ``<execution>-r<n>-<hash>``
    for a branch of run ``n`` (the hash of its checkpoint id, and ``-a<k>`` from its
    second attempt on), shortened with a hash when the Execution's name is long."""
    suffix = f"-r{run}"
    if branch is not None:
        suffix += "-" + hashlib.sha256(branch.encode()).hexdigest()[:8]
        suffix += f"-a{attempt}" if attempt > 1 else ""
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
    checkpoint: str | None = None,
    checkpoint_name: str | None = None,
    branch: bool = False,
    attempt: int = 1,
    code_resources: dict[str, Any] | None = None,
    checkpoint_attempt: int = 1,
) -> dict[str, Any]:
    """Return the Job manifest for run ``run`` of an Execution, or for the pod of one of
    its checkpoints (``checkpoint``; ``branch`` for a branch of a fan-out)."""
    labels = {
        LABEL_EXECUTION: label_value(execution),
        LABEL_RUN: str(run),
        LABEL_FLOW: label_value(flow_version.flow),
        LABEL_VERSION: str(flow_version.version),
        "app.kubernetes.io/managed-by": "kitaru",
    }
    if checkpoint is not None:
        labels[LABEL_CHECKPOINT] = label_value(checkpoint)
        labels[LABEL_CHECKPOINT_NAME] = label_value(checkpoint_name or checkpoint)
        if checkpoint_attempt > 1:
            labels[LABEL_CHECKPOINT_ATTEMPT] = str(checkpoint_attempt)
    if branch:
        labels[LABEL_BRANCH] = "true"
        labels[LABEL_ATTEMPT] = str(attempt)
    placement = flow_version.placement_of(checkpoint_name if checkpoint else None)
    # The code may ask for resources; the FlowVersion (the platform team) has the last word.
    resources = placement.resources or code_resources
    env = RunEnv(
        store=store_uri, execution_id=exec_id, run=run, entrypoint=flow_version.entrypoint,
        flow=flow_version.flow, version=flow_version_name, input=inputs, answers=answers,
        replay=replay, checkpoint_runtime=flow_version.checkpoint_runtime,
        checkpoints=[checkpoint] if checkpoint else [], branch=branch,
        checkpoint_attempt=checkpoint_attempt if checkpoint else 1,
    ).to_env()
    env += [{"name": e.name, "value": e.value} for e in [*flow_version.env, *placement.env]]
    container: dict[str, Any] = {
        "name": "run",
        "image": placement.image or flow_version.image,
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
    if resources:
        container["resources"] = resources
    account = placement.service_account_name or flow_version.service_account_name
    if account:
        pod_spec["serviceAccountName"] = account
    if flow_version.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": r.name} for r in flow_version.image_pull_secrets]
    if flow_version.security_context:
        pod_spec["securityContext"] = flow_version.security_context
    for field, value in (("nodeSelector", placement.node_selector),
                         ("tolerations", placement.tolerations),
                         ("affinity", placement.affinity)):
        if value:
            pod_spec[field] = value
    job_spec: dict[str, Any] = {
        "backoffLimit": 0,
        "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
        "template": {"metadata": {"labels": {**flow_version.pod_labels, **labels},
                                  "annotations": {**flow_version.pod_annotations,
                                                  ANNOTATION_EXECUTION: execution}},
                     "spec": pod_spec},
    }
    deadline = placement.active_deadline_seconds or flow_version.active_deadline_seconds
    if deadline:
        job_spec["activeDeadlineSeconds"] = deadline
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(execution, run, branch=checkpoint if branch else None,
                             attempt=attempt),
            "namespace": namespace,
            "labels": labels,
            "annotations": ({ANNOTATION_RESOURCES: json.dumps(code_resources)}
                            if code_resources else {}),
            "ownerReferences": [{
                "apiVersion": API_VERSION, "kind": "Execution", "name": execution,
                "uid": execution_uid, "controller": True, "blockOwnerDeletion": True,
            }],
        },
        "spec": job_spec,
    }
