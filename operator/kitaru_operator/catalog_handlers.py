"""Writing FlowVersion and Flow status (see :mod:`kitaru_operator.catalog`)."""

from __future__ import annotations

import logging
from typing import Any, cast

import kopf
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kitaru.errors import StoreError, StorePermissionError, StoreUnavailableError
from kitaru_operator.cache import CACHE
from kitaru_operator.catalog import flow_status, flow_version_status
from kitaru_operator.kubeapi import api
from kitaru_operator.models import GROUP, VERSION, FlowStatus, FlowVersionStatus
from kitaru_operator.observe import (
    CredentialsSecretError,
    credentials_advice,
    custom_get,
    custom_list,
    open_run_store,
    store_options,
)
from kitaru_operator.requeue import Requeues
from kitaru_operator.settings import SETTINGS

logger = logging.getLogger("kitaru_operator")


def refresh_flow_version(obj: dict[str, Any], *, flow_too: bool = True) -> None:
    """Write a FlowVersion's Ready condition, and have its Flow's status refreshed
    (``flow_too``; a look again at an unchanged FlowVersion changes no Flow)."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or ""
    spec = obj.get("spec") or {}

    def check(uri: str, secret: str | None) -> tuple[bool, str, str]:
        core = client.CoreV1Api(api())
        try:
            options = store_options(core, namespace, uri, secret)
        except CredentialsSecretError as exc:
            return False, exc.reason, str(exc)
        except ApiException as exc:
            return False, "SecretUnreadable", f"Secret {secret!r}: {exc.reason}"
        try:
            open_run_store(uri, options).exists("executions/.kitaru-probe")
        except StoreUnavailableError as exc:
            return False, "StoreUnavailable", f"store {uri}: {exc}"
        except StorePermissionError as exc:
            return (False, "StoreCredentialsRejected",
                    f"store {uri}: {credentials_advice(exc, secret)}")
        except StoreError as exc:
            return False, "StoreRefused", f"store {uri}: {exc}"
        return True, "StoreAnswers", f"store {uri} answers; entrypoint {spec.get('entrypoint')}"

    old = _status(obj, FlowVersionStatus)
    new = flow_version_status(spec, generation=meta.get("generation", 1),
                              now=SETTINGS.clock(), default_store=SETTINGS.default_store,
                              check_store=check, old=old)
    updated = _write(namespace, "flowversions", meta["name"], obj, new)
    if updated is not None:
        CACHE.wrote(updated)
    (ready,) = new.conditions
    if ready.status != "True" and ready.reason not in _FIXED_BY_A_SPEC_CHANGE:
        # Its store or Secret may be fixed without the FlowVersion changing: look again
        # every resync period until it answers.
        FLOW_VERSION_RECHECKS.after((namespace, meta["name"]), SETTINGS.resync_seconds)
    if flow_too and spec.get("flow"):
        flow_changed(namespace, str(spec["flow"]))


#: Not ready for a reason only a change of the FlowVersion (or the operator's flags) fixes.
_FIXED_BY_A_SPEC_CHANGE = ("BadEntrypoint", "NoStore")


def _recheck(key: tuple[str, str]) -> None:
    obj = CACHE.flow_version(*key)
    if obj is not None:  # deleted meanwhile: nothing to say
        try:
            refresh_flow_version(obj, flow_too=False)
        except ApiException as exc:
            logger.warning("flowversion %s: cannot write its status: %s", key[1], exc.reason)


FLOW_VERSION_RECHECKS: Requeues[tuple[str, str]] = Requeues(
    _recheck, name="kitaru-flowversion-recheck", workers=1)


def _refresh_later(key: tuple[str, str]) -> None:
    try:
        refresh_flow(*key)
    except ApiException as exc:
        logger.warning("flow %s: cannot write its status: %s", key[1], exc.reason)


#: Flows whose versions changed, each refreshed once per burst: every FlowVersion event
#: used to list all of the namespace's FlowVersions, so an operator starting on 300
#: versions of one flow (a CI that deploys each commit) listed them about 310 times.
FLOW_REFRESHES: Requeues[tuple[str, str]] = Requeues(_refresh_later,
                                                     name="kitaru-flow-status", workers=1)


def flow_changed(namespace: str, name: str) -> None:
    """A FlowVersion of flow ``name`` came, changed or went: rewrite the Flow's status
    within half a second, once for every change that came meanwhile."""
    FLOW_REFRESHES.after((namespace, name), 0.5)


def refresh_flow(namespace: str, name: str) -> None:
    """Write a Flow's versions and the FlowVersion each of its tags resolves to."""
    custom = client.CustomObjectsApi(api())
    obj = custom_get(custom, namespace, "flows", name)
    if obj is None:
        return
    versions = {int(fv["spec"]["version"]): fv["metadata"]["name"]
                for fv in custom_list(custom, namespace, "flowversions")
                if (fv.get("spec") or {}).get("flow") == name}
    tags = {str(k): int(v) for k, v in ((obj.get("spec") or {}).get("tags") or {}).items()}
    new = flow_status(name, tags, versions, generation=obj["metadata"].get("generation", 1),
                      now=SETTINGS.clock(), old=_status(obj, FlowStatus))
    _write(namespace, "flows", name, obj, new)


@kopf.on.event(GROUP, VERSION, "flows")
def on_flow(type: str, event: kopf.RawEvent, **_: Any) -> None:
    """A Flow changed (its tags moved): say where its tags point now."""
    if type == "DELETED":
        return
    obj = cast(dict[str, Any], event["object"])
    try:
        refresh_flow(obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
    except ApiException as exc:
        logger.warning("flow %s: cannot write its status: %s", obj["metadata"]["name"],
                       exc.reason)


def _status(obj: dict[str, Any], model: Any) -> Any:
    try:
        return model.model_validate(obj.get("status") or {})
    except ValidationError:
        return None


def _write(namespace: str, plural: str, name: str, obj: dict[str, Any],
           new: Any) -> dict[str, Any] | None:
    """Write ``new`` as the object's status unless it says what the status says; return
    the object as written (None: no write, or the object is gone)."""
    body = new.model_dump(by_alias=True, mode="json", exclude_none=True)
    old = {k: v for k, v in (obj.get("status") or {}).items() if k != "kopf"}
    if body == old:
        return None  # nothing changed: no write, no event for every watcher
    try:
        written = client.CustomObjectsApi(api()).patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": body})
        return cast(dict[str, Any], written)
    except ApiException as exc:
        if exc.status != 404:
            raise
        return None
