"""Applying Schedule decisions: Executions made per slot, cancelled, pruned; status.

See :mod:`kitaru_operator.schedules` for the decisions. A pass runs on every change of
the Schedule or of its Executions, and at its next slot (a timer per Schedule, so no
schedule is polled). Executions are labelled with their Schedule, annotated with their
slot and owned by the Schedule (deleting it deletes them).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kitaru_operator.apply import post_event, report_invalid
from kitaru_operator.kubeapi import api
from kitaru_operator.models import GROUP, VERSION, ScheduleSpec, ScheduleStatus
from kitaru_operator.observe import custom_get
from kitaru_operator.requeue import Requeues
from kitaru_operator.schedules import (
    ANNOTATION_SLOT,
    LABEL_SCHEDULE,
    ScheduledExecution,
    decide_schedule,
    template_spec,
)
from kitaru_operator.settings import SETTINGS

logger = logging.getLogger("kitaru_operator")
_lock = threading.Lock()  # one pass at a time: passes are short, and slots fire once
#: Schedules to look at again at their next slot (or after a failed pass).
SCHEDULE_REQUEUES: Requeues[tuple[str, str]] = Requeues(
    lambda key: reconcile_schedule(*key), name="kitaru-schedules", workers=1)


@kopf.on.event(GROUP, VERSION, "schedules")
def on_schedule(type: str, event: kopf.RawEvent, **_: Any) -> None:
    """A Schedule changed (or the operator started): catch up and set the next timer."""
    if type == "DELETED":
        return
    obj = cast(dict[str, Any], event["object"])
    reconcile_schedule(obj["metadata"].get("namespace") or "", obj["metadata"]["name"])


def reconcile_schedule(namespace: str, name: str) -> None:
    """One pass over a Schedule; never raises (it is retried at its next event or timer)."""
    try:
        with _lock:
            delay = _reconcile(namespace, name)
    except (ApiException, OSError) as exc:
        logger.warning("schedule %s/%s: pass failed, will retry: %s", namespace, name, exc)
        delay = 5.0
    if delay is not None:
        SCHEDULE_REQUEUES.after((namespace, name), max(delay, 0.1))


def _reconcile(namespace: str, name: str) -> float | None:
    custom = client.CustomObjectsApi(api())
    obj = custom_get(custom, namespace, "schedules", name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return None
    try:
        spec = ScheduleSpec.model_validate(obj.get("spec") or {})
        status = ScheduleStatus.model_validate(obj.get("status") or {})
    except ValidationError as exc:
        report_invalid(obj, "schedules", exc)
        return None
    listing: Any = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "executions", label_selector=f"{LABEL_SCHEDULE}={name}")
    executions = [_view(e) for e in listing.get("items", [])]
    created = _time(obj["metadata"].get("creationTimestamp")) or SETTINGS.clock()
    decision = decide_schedule(name, spec, status, now=SETTINGS.clock(), created=created,
                               executions=executions)
    for execution_name in decision.replace:  # Replace: the running one goes (Argo's way)
        _try(lambda n=execution_name: custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "executions", n))
    for execution_name, slot in decision.create:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
                "metadata": {"name": execution_name, "labels": {LABEL_SCHEDULE: name},
                             "annotations": {ANNOTATION_SLOT: slot.isoformat()},
                             "ownerReferences": [{
                                 "apiVersion": f"{GROUP}/{VERSION}", "kind": "Schedule",
                                 "name": name, "uid": obj["metadata"]["uid"]}]},
                "spec": template_spec(spec)}
        try:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "executions",
                                                   body)
            post_event(obj, "Normal", "SlotFired",
                       f"slot {slot.isoformat()}: Execution {execution_name} created")
        except ApiException as exc:
            if exc.status != 409:  # 409: this slot fired already (a restart, a replica)
                raise
    for execution_name in decision.delete:
        _try(lambda n=execution_name: custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, "executions", n))
    for kind, reason, message in decision.events:
        post_event(obj, kind, reason, message)
    body = decision.status.model_dump(by_alias=True, mode="json", exclude_none=True)
    old = {k: v for k, v in (obj.get("status") or {}).items() if k != "kopf"}
    if body != old:
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, "schedules",
                                                     name, {"status": body})
    return decision.requeue_after


def _try(call: Any) -> None:
    try:
        call()
    except ApiException as exc:
        if exc.status != 404:
            raise


def _view(obj: dict[str, Any]) -> ScheduledExecution:
    meta = obj["metadata"]
    return ScheduledExecution(
        name=meta["name"], phase=(obj.get("status") or {}).get("phase") or "Pending",
        slot=_time((meta.get("annotations") or {}).get(ANNOTATION_SLOT)),
        created=_time(meta.get("creationTimestamp")) or datetime.now(UTC))


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
