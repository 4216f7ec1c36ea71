"""Applying a decision to the cluster: Jobs deleted, status written, Jobs created, Events.

The status write and the Job creates go out at once (a resumed run's pod starts one
API round trip sooner). Either may land without the other (the operator killed, a
status write refused because the Execution changed meanwhile), and every pass copes:

- status written, no Job: the next pass sees a run number in status with no Job and no
  claim in the store, and makes the Job;
- Job made, status not: the next pass sees a Job newer than status and goes on from it
  (:func:`~kitaru_operator.decisions.current_run`); a resume's Job also counts as the
  wait's answer accepted (:func:`~kitaru_operator.decisions.resume_in_flight`).

It can never make two Jobs for one run: Job names are deterministic, so a repeated
create is refused with 409 and ignored. Events are queued, not waited for.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kitaru_operator import metrics
from kitaru_operator.cache import CACHE
from kitaru_operator.events import EventRecorder
from kitaru_operator.jobs import ANNOTATION_REPORTED, job_name, run_job
from kitaru_operator.kubeapi import MERGE_PATCH, api, send_json
from kitaru_operator.models import GROUP, VERSION, FlowVersionSpec
from kitaru_operator.observed import Decision
from kitaru_operator.settings import SETTINGS

logger = logging.getLogger("kitaru_operator")


class ConflictError(Exception):
    """The Execution changed after it was read: the decision is redone on a fresh read."""


def apply(obj: dict[str, Any], decision: Decision, store_uri: str,
           raw_spec: dict[str, Any], fv: FlowVersionSpec | None) -> None:
    """Apply a decision: delete Jobs, write the status, create Jobs, post Events."""
    namespace = obj["metadata"]["namespace"]
    name = obj["metadata"]["name"]
    batch = client.BatchV1Api(api())
    for job in decision.deletes:
        try:
            batch.delete_namespaced_job(job.name or job_name(name, job.run), namespace,
                                        propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
        CACHE.deleting_job(namespace, name, job.name or job_name(name, job.run))
    if decision.creates and fv is not None:  # decide() makes runs only with one at hand
        written = _WRITERS.submit(_write_status, obj, decision)
        try:
            _create_jobs(obj, decision, store_uri, raw_spec, fv)
        finally:
            written.result()  # a refused write (ConflictError) redoes the pass
    else:
        _write_status(obj, decision)
    _count_phase(obj, decision)
    for event in decision.events:
        post_event(obj, event.type, event.reason, event.message)
    for job in decision.marks:  # after the Events are queued
        if job.state == "failed":
            report = job.report
            origin = ("user_code" if report and report.retry else
                      report.error.origin if report and report.error else None)
            metrics.PODS_FAILED.labels("checkpoint" if job.checkpoint else "run",
                                       metrics.pod_failure_reason(origin, job.reason)).inc()
        try:
            marked = send_json(
                "PATCH", f"/apis/batch/v1/namespaces/{namespace}/jobs/{job.name}",
                {"metadata": {"annotations": {ANNOTATION_REPORTED: "true"}}},
                content_type=MERGE_PATCH)
            CACHE.put_job(name, marked)  # the next pass must not tell it again
            CACHE.wrote(marked, name)
        except ApiException as exc:
            if exc.status != 404:  # gone already (TTL, scale to zero): nothing to mark
                raise


def _create_jobs(obj: dict[str, Any], decision: Decision, store_uri: str,
                 raw_spec: dict[str, Any], fv: FlowVersionSpec) -> None:
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    answered = any(e.reason == "InputAccepted" for e in decision.events)
    for create in decision.creates:
        manifest = run_job(
            namespace=namespace, execution=name, execution_uid=obj["metadata"]["uid"],
            exec_id=decision.status.execution_id or "", run=create.run,
            flow_version_name=decision.status.flow_version or "", flow_version=fv,
            store_uri=store_uri, inputs=raw_spec.get("input") or {}, answers=create.answers,
            replay=create.replay, checkpoint=create.checkpoint,
            checkpoint_name=create.checkpoint_name, branch=create.branch,
            attempt=create.attempt, code_resources=create.resources,
            checkpoint_attempt=create.checkpoint_attempt,
        )
        try:
            created = send_json("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs",
                                manifest)
            CACHE.wrote(created, name)
            metrics.PODS_CREATED.labels("checkpoint" if create.checkpoint else "run").inc()
            since = metrics.seconds_since_seen(namespace, name) if answered else None
            if since is not None and not create.branch:
                metrics.ANSWER_TO_POD_SECONDS.observe(since)
            CACHE.put_job(name, created)
        except ApiException as exc:
            if exc.status != 409:  # already made by an earlier reconcile: idempotent
                raise


def _write_status(obj: dict[str, Any], decision: Decision) -> None:
    namespace = obj["metadata"]["namespace"]
    name = obj["metadata"]["name"]
    new_status = decision.status.model_dump(by_alias=True, mode="json")
    old_status = {k: v for k, v in (obj.get("status") or {}).items() if k != "kopf"}
    # A null in a merge patch deletes the field, so the stored status never holds nulls:
    # compare without them, or every pass would write (and wake every watcher) again.
    if _without_nulls(new_status) == _without_nulls(old_status):
        return
    # The write names the version it was decided from: if the Execution changed since
    # (a cached copy behind the API), it is refused and the decision is redone.
    try:
        updated = send_json(
            "PATCH", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/executions/{name}/status",
            {"metadata": {"resourceVersion": obj["metadata"]["resourceVersion"]},
             "status": new_status}, content_type=MERGE_PATCH)
    except ApiException as exc:
        if exc.status == 409:
            raise ConflictError from None
        raise
    CACHE.put_execution(updated)
    CACHE.wrote(updated)


_FINAL = ("Succeeded", "Failed", "Cancelled")


def _count_phase(obj: dict[str, Any], decision: Decision) -> None:
    old = obj.get("status") or {}
    new = decision.status
    if not old.get("run") and new.run:
        metrics.EXECUTIONS_STARTED.inc()
    if new.phase in _FINAL and old.get("phase") != new.phase:
        metrics.EXECUTIONS_FINISHED.labels(new.phase.lower()).inc()


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def report_invalid(obj: dict[str, Any], plural: str, exc: ValidationError) -> None:
    """A spec the API server accepted but the operator cannot use: a ``SpecValid=False``
    condition naming the field, and one Event, each once per message (not every pass)."""
    meta = obj["metadata"]
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = f"{obj.get('kind', 'object')} {meta['name']}: spec.{where}: {error['msg']}"
    conditions = [c for c in ((obj.get("status") or {}).get("conditions") or [])
                  if isinstance(c, dict)]
    if any(c.get("type") == "SpecValid" and c.get("message") == message for c in conditions):
        return
    conditions = [c for c in conditions if c.get("type") != "SpecValid"] + [{
        "type": "SpecValid", "status": "False", "reason": "InvalidSpec", "message": message,
        "observedGeneration": meta.get("generation", 1),
        "lastTransitionTime": SETTINGS.clock().isoformat()}]
    client.CustomObjectsApi(api()).patch_namespaced_custom_object_status(
        GROUP, VERSION, meta["namespace"], plural, meta["name"],
        {"status": {"conditions": conditions}})
    post_event(obj, "Warning", "InvalidSpec", message)


def _create_event(namespace: str, body: dict[str, Any]) -> None:
    send_json("POST", f"/api/v1/namespaces/{namespace}/events", body)


#: Status writes made beside a pass's Job creates (one per pass at a time).
_WRITERS = ThreadPoolExecutor(SETTINGS.workers * 2, thread_name_prefix="kitaru-status")

#: Events go out on a thread of their own: a pass never waits for one.
EVENTS = EventRecorder(_create_event)


def post_event(obj: dict[str, Any], kind: str, reason: str, message: str) -> None:
    """Log an Event now and queue it for the API server (see :mod:`kitaru_operator.events`).
    Posted through the operator's own client (not kopf.event): reconciles also run from
    the resync and requeue threads, outside kopf's context."""
    meta = obj["metadata"]
    now = SETTINGS.clock()
    EVENTS.record(meta["namespace"], {
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {"apiVersion": obj.get("apiVersion", f"{GROUP}/{VERSION}"),
                           "kind": obj.get("kind", "Execution"), "name": meta["name"],
                           "namespace": meta["namespace"], "uid": meta["uid"],
                           "resourceVersion": meta.get("resourceVersion")},
        "type": kind, "reason": reason, "message": message[:1024],
        "source": {"component": "kitaru-operator"},
        "firstTimestamp": now.isoformat(), "lastTimestamp": now.isoformat(), "count": 1,
    })
    log = logger.warning if kind == "Warning" else logger.info
    log("execution %s/%s: %s: %s", meta["namespace"], meta["name"], reason, message)
