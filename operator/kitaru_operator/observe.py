"""Reading what ``decide()`` needs: the pinned FlowVersion, run Jobs, the store.

Everything here reads; nothing writes. The store is the source of truth for run
outcomes; the Job only says whether a pod is still running or how it died.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kitaru.errors import KitaruError, StoreError
from kitaru.journal import ExecutionStore
from kitaru.report import RunReport
from kitaru.stores import ObjectStore, open_store
from kitaru.stores.retry import OPERATOR_POLICY
from kitaru.stores.uri import scheme_of
from kitaru_operator.cache import CACHE
from kitaru_operator.jobs import (
    ANNOTATION_REPORTED,
    ANNOTATION_RESOURCES,
    LABEL_ATTEMPT,
    LABEL_BRANCH,
    LABEL_CHECKPOINT,
    LABEL_CHECKPOINT_ATTEMPT,
    LABEL_CHECKPOINT_NAME,
    LABEL_EXECUTION,
    LABEL_RUN,
    label_value,
)
from kitaru_operator.kubeapi import plain
from kitaru_operator.models import GROUP, OBJECT_NAME, VERSION, FlowVersionSpec
from kitaru_operator.observed import JobState, JobView, RunView

logger = logging.getLogger("kitaru_operator")

#: Last checkpoints listed in status are read from records only for journals this small.
_READ_RECORDS_UP_TO = 200

# Credentials Secret keys (the run pod's environment) to store options, per scheme.
_SECRET_KEYS: dict[str, dict[str, str]] = {
    "s3": {"AWS_ACCESS_KEY_ID": "access_key_id", "AWS_SECRET_ACCESS_KEY": "secret_access_key",
           "AWS_SESSION_TOKEN": "session_token", "AWS_ENDPOINT_URL": "endpoint_url",
           "AWS_ENDPOINT_URL_S3": "endpoint_url", "AWS_REGION": "region",
           "AWS_DEFAULT_REGION": "region"},
    "az": {"AZURE_STORAGE_CONNECTION_STRING": "connection_string",
           "AZURE_STORAGE_ACCOUNT_URL": "account_url", "AZURE_STORAGE_KEY": "account_key",
           "AZURE_STORAGE_SAS_TOKEN": "sas_token"},
    "gs": {"GOOGLE_CLOUD_PROJECT": "project"},
}


_OBJECT_NAME = re.compile(OBJECT_NAME)


def custom_get(api: client.CustomObjectsApi, namespace: str, plural: str,
               name: str) -> dict[str, Any] | None:
    """Return a Kitaru object, or None when it does not exist (or ``name`` could not be
    an object's name: an empty name would read the whole collection, a slash a
    subresource)."""
    if not isinstance(name, str) or not _OBJECT_NAME.fullmatch(name) or len(name) > 253:
        return None
    try:
        obj: Any = api.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return cast(dict[str, Any], obj)


def custom_list(api: client.CustomObjectsApi, namespace: str | None,
                plural: str) -> list[dict[str, Any]]:
    """Return the Kitaru objects of one kind in a namespace (None: all namespaces)."""
    listing: Any = (api.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
                    if namespace else api.list_cluster_custom_object(GROUP, VERSION, plural))
    return cast(list[dict[str, Any]], listing.get("items", []))


def resolve_flow_version(
    api: client.CustomObjectsApi, namespace: str, spec: Mapping[str, Any],
    pinned: str | None,
) -> tuple[str | None, FlowVersionSpec | None, str | None]:
    """Return (name, spec, error) of the FlowVersion an Execution runs.

    A pinned name wins; else ``spec.flowVersion``; else ``spec.flow`` + ``spec.tag``
    through the Flow's tag map; else, for a replay, the source execution's pinned version.
    """
    name = pinned or spec.get("flowVersion")
    if name is None and spec.get("flow") and spec.get("tag"):
        flow, tag = spec["flow"], spec["tag"]
        flow_obj = custom_get(api, namespace, "flows", flow)
        if flow_obj is None:
            return None, None, f"spec.flow: no Flow {flow!r} in namespace {namespace}"
        tags = (flow_obj.get("spec") or {}).get("tags") or {}
        if tag not in tags:
            known = ", ".join(sorted(tags)) or "none"
            return None, None, f"spec.tag: Flow {flow!r} has no tag {tag!r} (tags: {known})"
        # The watched FlowVersions first; a listing only when none is known (one just
        # made, its event not seen yet): listing them all for every new Execution cost
        # O(versions) per Execution in a namespace CI deploys to every day.
        found = CACHE.flow_version_of(namespace, flow, tags[tag])
        for item in [found] if found is not None else custom_list(api, namespace,
                                                                  "flowversions"):
            fv = item.get("spec") or {}
            if fv.get("flow") == flow and fv.get("version") == tags[tag]:
                name = item["metadata"]["name"]
                break
        else:
            return None, None, (f"spec.tag: Flow {flow!r} tag {tag!r} points at version "
                                f"{tags[tag]}, which has no FlowVersion")
    if name is None and spec.get("replay"):
        source = custom_get(api, namespace, "executions", spec["replay"].get("execution", ""))
        if source is None:
            return None, None, (f"spec.replay.execution: no Execution "
                                f"{spec['replay'].get('execution')!r}")
        name = (source.get("status") or {}).get("flowVersion")
        if name is None:
            return None, None, "spec.replay.execution: the source has no pinned FlowVersion yet"
    if name is None:
        return None, None, "set spec.flowVersion, or spec.flow with spec.tag"
    obj = CACHE.flow_version(namespace, name)
    if obj is None:
        obj = custom_get(api, namespace, "flowversions", name)
        if obj is not None:
            CACHE.put_flow_version(obj)
    if obj is None:
        return name, None, f"spec.flowVersion: no FlowVersion {name!r} in namespace {namespace}"
    return name, FlowVersionSpec.model_validate(obj.get("spec") or {}), None


def _failure(core: client.CoreV1Api, namespace: str,
             job: dict[str, Any]) -> tuple[str, RunReport | None]:
    """Return why a run Job failed, and the run pod's termination message if it left one."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("reason") == "DeadlineExceeded":
            return "DeadlineExceeded: the run exceeded activeDeadlineSeconds", None
    pods = plain(core.list_namespaced_pod(
        namespace, label_selector=f"job-name={job['metadata']['name']}"))
    for pod in pods.get("items", []):
        found = _pod_failure(pod)
        if found is not None:
            return found
    return "the run pod was lost", None


def _pod_failure(pod: dict[str, Any]) -> tuple[str, RunReport | None] | None:
    """Why a pod ended, and its termination message, if it says."""
    status = pod.get("status", {})
    if status.get("reason"):  # Evicted, NodeLost, ...
        return f"{status['reason']}: {status.get('message') or 'pod stopped'}", None
    for container in status.get("containerStatuses") or []:
        term = (container.get("state") or {}).get("terminated")
        if term is not None:
            why = f"{term.get('reason') or 'Error'} (exit code {term.get('exitCode')})"
            return why, RunReport.parse(term.get("message"))
    return None


def _code_resources(job: dict[str, Any]) -> dict[str, Any] | None:
    text = (job["metadata"].get("annotations") or {}).get(ANNOTATION_RESOURCES)
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _ended_pod(namespace: str, job: dict[str, Any]) -> JobState | None:
    """The state of a Job whose pod has ended, before the Job controller says so."""
    pod = CACHE.pod(namespace, job["metadata"]["name"])
    phase = ((pod or {}).get("status") or {}).get("phase")
    return {"Succeeded": "succeeded", "Failed": "failed"}.get(phase or "")  # type: ignore[return-value]


def list_jobs(batch: client.BatchV1Api, namespace: str, execution: str,
              owner_uid: str) -> list[dict[str, Any]]:
    """Read the run Jobs of an Execution from the API (the cache may not have them yet)."""
    jobs = plain(batch.list_namespaced_job(
        namespace, label_selector=f"{LABEL_EXECUTION}={label_value(execution)}"))
    return [job for job in jobs.get("items", [])
            if any(ref.get("uid") == owner_uid
                   for ref in job["metadata"].get("ownerReferences") or [])]


def run_jobs(core: client.CoreV1Api, namespace: str,
             jobs: list[dict[str, Any]]) -> tuple[JobView, ...]:
    """Return what ``decide()`` needs of an Execution's run Jobs, oldest run first.

    A failed Job's pod is read for how it died and the run's termination message.
    """
    views = []
    for job in jobs:
        status = job.get("status") or {}
        if job["metadata"].get("deletionTimestamp") and not status.get("active"):
            continue
        labels = job["metadata"].get("labels") or {}
        run = int(labels.get(LABEL_RUN, "0"))
        who = {"checkpoint": labels.get(LABEL_CHECKPOINT),
               "checkpoint_name": labels.get(LABEL_CHECKPOINT_NAME),
               "branch": labels.get(LABEL_BRANCH) == "true",
               "attempt": int(labels.get(LABEL_ATTEMPT, "1")), "name": job["metadata"]["name"],
               "resources": _code_resources(job),
               "checkpoint_attempt": int(labels.get(LABEL_CHECKPOINT_ATTEMPT, "1")),
               "reported": ANNOTATION_REPORTED in (
                   job["metadata"].get("annotations") or {})}
        failed = any(c.get("type") == "Failed" and c.get("status") == "True"
                     for c in status.get("conditions") or [])
        ended = None if status.get("succeeded") or status.get("failed") or failed else (
            _ended_pod(namespace, job))
        if status.get("succeeded") or ended == "succeeded":
            # A checkpoint pod's report says how its checkpoint went, for its Event.
            report = None
            if who["checkpoint"] is not None and not who["reported"]:
                found = _pod_failure(CACHE.pod(namespace, job["metadata"]["name"]) or {})
                report = found[1] if found is not None else None
            views.append(JobView(run, "succeeded", "", report, **who))
        elif ended == "failed":
            pod = CACHE.pod(namespace, job["metadata"]["name"]) or {}
            why, report = _pod_failure(pod) or ("the run pod failed", None)
            views.append(JobView(run, "failed", why, report, **who))
        elif status.get("failed") or failed:
            why, report = _failure(core, namespace, job)
            views.append(JobView(run, "failed", why, report, **who))
        else:
            views.append(JobView(run, "active", started=_may_have_started(namespace, job),
                                 **who))
    return tuple(sorted(views, key=lambda v: v.run))


def _may_have_started(namespace: str, job: dict[str, Any]) -> bool:
    """Whether a pod of an unfinished Job may have run its code: False only when its pod
    is known to be Pending, or when the Job controller has not touched the Job yet (no
    start time, no pods counted), so no pod of it exists."""
    pod = CACHE.pod(namespace, job["metadata"]["name"])
    if pod is not None:
        return ((pod.get("status") or {}).get("phase") or "Pending") != "Pending"
    status = job.get("status") or {}
    return any(status.get(key) for key in ("startTime", "active", "ready", "terminating"))


class CredentialsSecretError(StoreError):
    """The store's credentials Secret is missing (``SecretNotFound``), or holds none of
    the keys its store reads (``SecretKeysMissing``): the message names the Secret and
    the keys."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def store_options(core: client.CoreV1Api, namespace: str, uri: str,
                  secret_name: str | None) -> dict[str, str]:
    """Return store options from a credentials Secret (keys named like env variables)."""
    if not secret_name:
        return {}
    try:
        data = _secret_data(core, namespace, secret_name)
    except ApiException as exc:
        if exc.status != 404:
            raise
        raise CredentialsSecretError(
            f"credentials Secret {secret_name!r} (spec.store.credentialsSecret of the "
            f"FlowVersion) does not exist in namespace {namespace}", "SecretNotFound") from None
    mapping = _SECRET_KEYS.get(scheme_of(uri), {})
    options: dict[str, str] = {}
    for key, value in data.items():
        if key in mapping:
            options[mapping[key]] = base64.b64decode(value).decode()
    pair = ("access_key_id", "secret_access_key")
    if scheme_of(uri) == "s3" and sum(k in options for k in pair) == 1:
        has, lacks = (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if pair[0] in options
                      else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"))
        raise CredentialsSecretError(
            f"credentials Secret {secret_name!r} holds {has} but not {lacks} (it holds "
            f"{', '.join(sorted(data))})", "SecretKeysMissing")
    if mapping and not options and scheme_of(uri) != "gs":
        held = ", ".join(sorted(data)) or "no keys"
        raise CredentialsSecretError(
            f"credentials Secret {secret_name!r} holds none of the keys a "
            f"{scheme_of(uri)} store reads ({', '.join(mapping)}); it holds {held}",
            "SecretKeysMissing")
    return options


#: How long a credentials Secret read is reused: every pass needs the store's options,
#: and a fan-out of executions sharing one Secret would otherwise read it once each. A
#: rotated Secret is picked up within this time.
SECRET_SECONDS = 5.0
_secrets: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
_secrets_lock = threading.Lock()


def _secret_data(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    """The Secret's data (base64 values), read at most once per SECRET_SECONDS."""
    key = (namespace, name)
    with _secrets_lock:
        known = _secrets.get(key)
    if known is not None and time.monotonic() - known[0] < SECRET_SECONDS:
        return known[1]
    try:
        data = {k: str(v) for k, v in (core.read_namespaced_secret(name, namespace).data
                                        or {}).items()}
    except ApiException:
        with _secrets_lock:
            _secrets.pop(key, None)
        raise
    with _secrets_lock:
        _secrets[key] = (time.monotonic(), data)
    return data


def credentials_advice(exc: StoreError, secret_name: str | None) -> str:
    """The store refused its credentials: say where they came from, and what to fix."""
    where = (f"the credentials in Secret {secret_name!r} (its access key, e.g. "
             "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or AZURE_STORAGE_KEY)"
             if secret_name else "the operator's own credentials (no credentialsSecret)")
    return f"{where} were refused: {exc}"


def open_run_store(uri: str, options: Mapping[str, str]) -> ObjectStore:
    """Open the store a FlowVersion's runs write to (one client per store, reused)."""
    # Locked: reconciles that start together (the start-up listing) would otherwise each
    # build their own client, and a cloud client costs tens of megabytes.
    with _store_lock:
        return _cached_store(uri, tuple(sorted(options.items())))


_store_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _cached_store(uri: str, options: tuple[tuple[str, str], ...]) -> ObjectStore:
    # Cloud clients are expensive to build (and to garbage-collect); reconciles share them.
    # A few quick attempts only: an outage is noted in status and checked again later,
    # rather than holding a reconcile worker.
    return open_store(uri, options=dict(options), retry=OPERATOR_POLICY)


def newest_run(store: ObjectStore, exec_id: str) -> int:
    """Return the newest run number the store has for an execution (0 when none)."""
    journal = ExecutionStore(store, exec_id)
    numbers = journal.run_numbers() if journal.exists() else []
    return numbers[-1] if numbers else 0


def run_view(store: ObjectStore, exec_id: str, run: int) -> RunView:
    """Return what the store says about run ``run`` of an execution.

    A finished run's outcome names its last checkpoints and counts them, so one read is
    enough; a run still going, or one that died, said how far it got in its progress
    (rewritten about once a second), a second read. The journal itself is listed only
    for a run with neither (one that could not start, or from an older SDK), so a pass
    costs the same for a journal of ten thousand records as for one of ten.
    """
    journal = ExecutionStore(store, exec_id)
    try:
        outcome = journal.run_outcome(run)
        if outcome is not None and outcome.last_checkpoints:
            return RunView(claimed=True, outcome=outcome,
                           checkpoints=outcome.checkpoints_run + outcome.checkpoints_reused,
                           last_checkpoints=tuple(outcome.last_checkpoints))
        progress = journal.run_progress(run)
        if progress is not None:
            return RunView(claimed=True, outcome=outcome, checkpoints=progress.checkpoints,
                           last_checkpoints=tuple(progress.last_checkpoints))
        claimed = outcome is not None or journal.run_start(run) is not None
        keys = store.list(f"{journal.prefix}journal/")
        last: tuple[str, ...] = ()
        if len(keys) <= _READ_RECORDS_UP_TO:
            records = sorted(journal.records().values(), key=lambda r: r.seq)
            last = tuple(r.id for r in records[-5:])
    except KitaruError as exc:
        logger.warning("execution %s: cannot read run %d from the store: %s", exec_id, run, exc)
        raise
    return RunView(claimed=claimed, outcome=outcome, checkpoints=len(keys),
                   last_checkpoints=last)
