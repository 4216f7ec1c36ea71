"""kopf handlers: translate events into ``reconcile()`` calls, and nothing more.

Reconcile is level-triggered: any event on an Execution or on one of its run Jobs, and a
periodic resync, read the current state afresh and apply ``decide()``'s answer.
Reconciles of one Execution never overlap inside this process (triggers that arrive
meanwhile are coalesced into one more pass); across operator restarts, deterministic Job
names keep every action idempotent. Applying a decision lives in
:mod:`kitaru_operator.apply`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, cast

import kopf
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kitaru.errors import KitaruError, StoreError, StorePermissionError, StoreUnavailableError
from kitaru.runenv import ReplayRequest
from kitaru.stores.uri import scheme_of
from kitaru_operator import metrics
from kitaru_operator.apply import ConflictError, apply, report_invalid
from kitaru_operator.cache import CACHE
from kitaru_operator.catalog_handlers import (
    FLOW_REFRESHES,
    FLOW_VERSION_RECHECKS,
    flow_changed,
    refresh_flow_version,
)
from kitaru_operator.decisions import (
    current_run,
    decide,
    execution_id_for,
    known_from_status,
    store_for,
    wants_store,
)
from kitaru_operator.jobs import (
    ANNOTATION_EXECUTION,
    LABEL_EXECUTION,
    LABEL_RUN,
)
from kitaru_operator.kubeapi import api
from kitaru_operator.models import (
    GROUP,
    TERMINAL_PHASES,
    VERSION,
    ExecutionSpec,
    ExecutionStatus,
)
from kitaru_operator.observe import (
    CredentialsSecretError,
    credentials_advice,
    custom_get,
    custom_list,
    list_jobs,
    newest_run,
    open_run_store,
    resolve_flow_version,
    run_jobs,
    run_view,
    store_options,
)
from kitaru_operator.observed import Observed, StoreFault
from kitaru_operator.requeue import Requeues
from kitaru_operator.schedule_handlers import SCHEDULE_REQUEUES, reconcile_schedule
from kitaru_operator.settings import SETTINGS

logger = logging.getLogger("kitaru_operator")
# Executions being reconciled, each with the pass requested meanwhile: None (none yet),
# False (another pass), True (another pass that also refreshes progress from the store).
_running: dict[tuple[str, str], bool | None] = {}
_state_lock = threading.Lock()
_stopping = threading.Event()
# Executions to look at again at a moment a decision asked for (a timer, a backoff).
_requeues: Requeues[tuple[str, str]] = Requeues(lambda key: reconcile(*key),
                                                name="kitaru-requeue",
                                                workers=SETTINGS.workers)


class _NoDiffBase(kopf.DiffBaseStorage):
    """No change detection: kopf works out each event's "essence" (a deep copy of the
    whole object) for its create/update handlers, and this operator has only event
    handlers. Skipping it took a quarter of the operator's CPU when 200 Executions were
    applied at once."""

    def build(self, *, body: kopf.Body,
              extra_fields: Any = None) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch,
              essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Set kopf up and start the periodic resync.

    Only event handlers are used: they need no finalizers or annotations, so deleting an
    Execution never waits for the operator.
    """
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 300
    settings.execution.max_workers = SETTINGS.workers
    settings.persistence.diffbase_storage = _NoDiffBase()
    threading.Thread(target=_resync_forever, name="kitaru-resync", daemon=True).start()


@kopf.on.event(GROUP, VERSION, "executions")
def on_execution(type: str, event: kopf.RawEvent, **_: Any) -> None:
    """Any change of an Execution (including the operator's own start-up listing)."""
    obj = cast(dict[str, Any], event["object"])
    namespace, name = obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
    if type == "DELETED":
        CACHE.forget(namespace, name)
        metrics.forget(namespace, name)
        return
    # The echo of this operator's own status write brings nothing to decide from.
    if not (type == "MODIFIED" and CACHE.echo(obj)):
        CACHE.put_execution(obj)
        metrics.saw_generation(namespace, name, obj["metadata"].get("generation", 1))
        reconcile(namespace, name)
    schedule = (obj["metadata"].get("labels") or {}).get("kitaru.ai/schedule")
    if schedule and (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed",
                                                                "Cancelled"):
        reconcile_schedule(namespace, schedule)  # its status: active, last outcome


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_EXECUTION: kopf.PRESENT})
def on_job(type: str, event: kopf.RawEvent, **_: Any) -> None:
    """A run Job changed: reconcile the Execution that owns it."""
    obj = cast(dict[str, Any], event["object"])
    for owner in obj["metadata"].get("ownerReferences") or []:
        if owner.get("kind") == "Execution":
            if type == "DELETED":
                CACHE.drop_job(owner["name"], obj)
            elif CACHE.echo(obj, owner["name"]):
                continue  # the Job as this operator created or annotated it
            else:
                CACHE.put_job(owner["name"], obj)
            reconcile(obj["metadata"].get("namespace") or "", owner["name"])


@kopf.on.event("", "v1", "pods", labels={LABEL_EXECUTION: kopf.PRESENT})
def on_pod(type: str, event: kopf.RawEvent, **_: Any) -> None:
    """A run or checkpoint pod changed: when it has ended, reconcile its Execution."""
    obj = cast(dict[str, Any], event["object"])
    meta = obj["metadata"]
    job = (meta.get("labels") or {}).get("job-name")
    execution = (meta.get("annotations") or {}).get(ANNOTATION_EXECUTION)
    if not job or not execution:
        return
    if type == "DELETED":
        CACHE.drop_pod(job, obj)
        return
    CACHE.put_pod(job, obj)
    if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        reconcile(meta.get("namespace") or "", execution)


@kopf.on.event(GROUP, VERSION, "flowversions")
def on_flow_version(type: str, event: kopf.RawEvent, **_: Any) -> None:
    """Keep FlowVersions at hand (every reconcile of an Execution reads its own), and say
    in their status whether they look usable."""
    obj = cast(dict[str, Any], event["object"])
    namespace = obj["metadata"].get("namespace") or ""
    try:
        if type == "DELETED":
            CACHE.drop_flow_version(namespace, obj["metadata"]["name"])
            if (obj.get("spec") or {}).get("flow"):
                flow_changed(namespace, str(obj["spec"]["flow"]))
        else:
            CACHE.put_flow_version(obj)
            if not (type == "MODIFIED" and CACHE.echo(obj)):
                refresh_flow_version(obj)  # not for the echo of its own status write
    except ApiException as exc:
        logger.warning("flowversion %s: cannot write its status: %s", obj["metadata"]["name"],
                       exc.reason)


def _resync_forever() -> None:
    """Reconcile every unfinished Execution periodically: backoff timers, missed events,
    and the checkpoint progress of running executions (read from the store only here)."""
    while not _stopping.wait(SETTINGS.resync_seconds):
        try:
            for namespace, name in _unfinished():
                reconcile(namespace, name, refresh=True)
        except ApiException as exc:
            logger.warning("resync: cannot list executions: %s", exc)


def _unfinished() -> list[tuple[str, str]]:
    custom = client.CustomObjectsApi(api())
    items: list[dict[str, Any]] = []
    scopes: list[str | None] = list(SETTINGS.namespaces) or [None]
    for namespace in scopes:
        items += custom_list(custom, namespace, "executions")
    for item in items:  # a fresh listing also heals the cache after a missed event
        CACHE.put_execution(item)
    return [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items
            if (i.get("status") or {}).get("phase") not in TERMINAL_PHASES]


@kopf.on.cleanup()
def stop(**_: Any) -> None:
    """Stop the resync thread and drop queued reconciles, so the operator exits promptly."""
    _stopping.set()
    _requeues.stop()
    SCHEDULE_REQUEUES.stop()
    FLOW_REFRESHES.stop()
    FLOW_VERSION_RECHECKS.stop()


def reconcile(namespace: str, name: str, *, refresh: bool = False) -> None:
    """Read the Execution's world, decide, and apply the decision.

    Triggers that arrive while a reconcile of the same Execution runs are coalesced into
    one more pass after it, instead of queueing one pass each: every pass reads the
    current state anyway. ``refresh`` also reads a running execution's progress from the
    store (the periodic resync asks for it; Job and Execution events do not need it).
    """
    key = (namespace, name)
    with _state_lock:
        if key in _running:
            # Run once more when the current pass ends (refreshing if anyone asked).
            _running[key] = bool(_running[key]) or refresh
            return
        _running[key] = None
    try:
        while not _stopping.is_set():  # shutting down: the next start redoes the work
            start = time.perf_counter()
            try:
                with metrics.RECONCILE_SECONDS.time():
                    _reconcile(namespace, name, refresh)
                logger.debug("execution %s/%s reconciled in %.0f ms", namespace, name,
                             (time.perf_counter() - start) * 1000)
            except ConflictError:
                metrics.CONFLICTS.inc()
                _reread(namespace, name)
                continue
            except (ApiException, KitaruError) as exc:
                metrics.RECONCILE_ERRORS.inc()
                logger.warning("execution %s/%s: reconcile failed, will retry: %s",
                               namespace, name, exc)
            except Exception:
                # A bug, or input nothing above foresaw: say so with the traceback, and
                # keep this thread (the resync's, a requeue worker's, kopf's) working.
                metrics.RECONCILE_ERRORS.inc()
                logger.exception("execution %s/%s: reconcile failed unexpectedly, will "
                                 "retry at the next resync", namespace, name)
            with _state_lock:
                again = _running[key]
                if again is None:
                    break
                refresh, _running[key] = again, None
    finally:
        with _state_lock:
            _running.pop(key, None)


def queue_depth() -> float:
    """Executions being reconciled or with a pass queued behind one."""
    with _state_lock:
        return float(len(_running))


def _reread(namespace: str, name: str) -> dict[str, Any] | None:
    """Read an Execution from the API and remember it (None: it does not exist)."""
    obj = custom_get(client.CustomObjectsApi(api()), namespace, "executions", name)
    if obj is None:
        CACHE.forget(namespace, name)
    else:
        CACHE.put_execution(obj)
    return obj


def _reconcile(namespace: str, name: str, refresh: bool) -> None:
    custom = client.CustomObjectsApi(api())
    core = client.CoreV1Api(api())
    obj = CACHE.execution(namespace, name) or _reread(namespace, name)
    if obj is None or obj["metadata"].get("deletionTimestamp"):
        return
    metrics.RECONCILES.inc()
    raw_spec = obj.get("spec") or {}
    try:
        spec = ExecutionSpec.model_validate(raw_spec)
        status = ExecutionStatus.model_validate(obj.get("status") or {})
    except ValidationError as exc:
        report_invalid(obj, "executions", exc)
        return
    fv_name, fv, resolve_error = resolve_flow_version(custom, namespace, raw_spec,
                                                      status.flow_version)
    jobs = run_jobs(core, namespace, _job_bodies(obj, status))
    run = current_run(status, jobs)
    store_uri, secret = store_for(fv, SETTINGS.default_store or "")
    exec_id = execution_id_for(status, namespace, name, obj["metadata"]["uid"])
    latest = known_from_status(status, run, jobs)
    store_run, store_read, store_fault = 0, False, None
    if store_uri and fv is not None and wants_store(latest, run, jobs, refresh=refresh):
        backend = scheme_of(store_uri) or "file"
        try:
            with metrics.STORE_SECONDS.labels(backend).time():
                store = open_run_store(store_uri, store_options(core, namespace, store_uri,
                                                                secret))
                if not run:
                    store_run = run = newest_run(store, exec_id)
                latest = run_view(store, exec_id, run) if run else None
            store_read = True
        except StoreError as exc:
            store_fault = _store_fault(store_uri, secret, exc)
            metrics.STORE_ERRORS.labels(backend, store_fault.kind).inc()
            logger.warning("execution %s/%s: cannot read the store: %s", namespace, name, exc)
    replay, replay_error = None, None
    if raw_spec.get("replay") and run <= 1:  # run 1 replays
        replay, replay_error = _replay_source(namespace, raw_spec["replay"])
    decision = decide(Observed(
        name=name, generation=obj["metadata"].get("generation", 1), spec=spec, status=status,
        flow_version_name=fv_name if fv else None, flow_version=fv,
        resolve_error=resolve_error, jobs=jobs, latest=latest, now=SETTINGS.clock(),
        store_run=store_run, store_read=store_read, store_fault=store_fault,
        store_uri=store_uri, execution_id=exec_id, replay=replay, replay_error=replay_error,
    ))
    apply(obj, decision, store_uri, raw_spec, fv)
    if decision.requeue_after is not None:
        _requeues.after((namespace, name), max(decision.requeue_after, 0.1))


def _store_fault(store_uri: str, secret: str | None, exc: StoreError) -> StoreFault:
    if isinstance(exc, StoreUnavailableError):
        # The reason, not the whole message: it stays the same from one pass to the next,
        # so the condition does not flap and its transition time means something.
        return StoreFault("unavailable", store_uri,
                          f"unreachable or failing ({exc.reason or 'no answer'})")
    if isinstance(exc, CredentialsSecretError):
        return StoreFault("credentials", store_uri, str(exc))
    if isinstance(exc, StorePermissionError):
        return StoreFault("credentials", store_uri, credentials_advice(exc, secret))
    return StoreFault("refused", store_uri, str(exc))


def _job_bodies(obj: dict[str, Any], status: ExecutionStatus) -> list[dict[str, Any]]:
    """The Execution's run Jobs: from the cache, or from the API when the cache lacks the
    Job of a run that should be going (just started, or a Job event not seen yet), since
    a missing Job there would read as a lost run."""
    meta = obj["metadata"]
    bodies = CACHE.jobs(meta["namespace"], meta["name"], meta["uid"])
    runs = {(b["metadata"].get("labels") or {}).get(LABEL_RUN) for b in bodies}
    if status.run and status.phase in ("Pending", "Running") and str(status.run) not in runs:
        bodies = list_jobs(client.BatchV1Api(api()), meta["namespace"], meta["name"],
                           meta["uid"])
        for body in bodies:
            CACHE.put_job(meta["name"], body)
        bodies = CACHE.jobs(meta["namespace"], meta["name"], meta["uid"])  # none deleted
    return bodies


def _replay_source(namespace: str,
                   replay: dict[str, Any]) -> tuple[ReplayRequest | None, str | None]:
    """Return (the replay request for run 1, None) or (None, why it cannot be made yet)."""
    source = replay.get("execution", "")
    obj = CACHE.execution(namespace, source) or _reread(namespace, source)
    if obj is None:
        return None, f"spec.replay.execution: no Execution {source!r} in namespace {namespace}"
    status = obj.get("status") or {}
    if status.get("executionId"):
        source_id = str(status["executionId"])
    elif status.get("run"):  # made before ids carried the uid
        source_id = f"{namespace}.{source}"
    else:
        return None, f"spec.replay.execution: Execution {source!r} has not run yet"
    return ReplayRequest(source=source_id, at=replay.get("from"),
                         overrides=replay.get("overrides") or {},
                         skip=replay.get("skip") or []), None

