"""Status of FlowVersions and Flows: whether a version looks usable, where tags point.

A FlowVersion's ``Ready`` condition says whether its entrypoint is well formed, its
credentials Secret exists, and its store answers (one cheap read with the Secret's
credentials), so a typo shows on ``kubectl get flowversions`` instead of as a failed run.
A Flow's status lists its version numbers and the FlowVersion each tag resolves to,
with ``Ready`` false while a tag points at a version that has no FlowVersion.

Decisions here are pure (:func:`flow_version_status`, :func:`flow_status`); the handlers
read the world and write the status only when it changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kitaru_operator.models import Condition, FlowStatus, FlowVersionStatus

_ENTRYPOINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

#: (ok, reason, message) of checking a store with its credentials.
StoreCheck = Callable[[str, str | None], tuple[bool, str, str]]


def flow_version_status(spec: Mapping[str, Any], *, generation: int, now: datetime,
                        default_store: str | None, check_store: StoreCheck,
                        old: FlowVersionStatus | None = None) -> FlowVersionStatus:
    """Whether a FlowVersion looks usable."""
    entrypoint = str(spec.get("entrypoint", ""))
    store = (spec.get("store") or {}).get("uri") or default_store
    secret = ((spec.get("store") or {}).get("credentialsSecret") or {}).get("name")
    if not _ENTRYPOINT.match(entrypoint):
        ok, reason, message = False, "BadEntrypoint", (
            f"spec.entrypoint {entrypoint!r} must look like package.module:flow")
    elif not store:
        ok, reason, message = False, "NoStore", ("no store: set spec.store.uri or start the "
                                                "operator with --default-store")
    else:
        ok, reason, message = check_store(store, secret)
    condition = Condition(type="Ready", status="True" if ok else "False", reason=reason,
                          message=message, observed_generation=generation)
    return FlowVersionStatus(conditions=[_keep_time(condition, old, now)])


def flow_status(name: str, tags: Mapping[str, int], versions: Mapping[int, str], *,
                generation: int, now: datetime,
                old: FlowStatus | None = None) -> FlowStatus:
    """A Flow's versions and where its tags point (``versions``: number -> FlowVersion)."""
    resolved = {tag: versions[number] for tag, number in tags.items() if number in versions}
    dangling = sorted(f"{tag} -> {number}" for tag, number in tags.items()
                      if number not in versions)
    if dangling:
        condition = Condition(type="Ready", status="False", reason="TagWithoutVersion",
                              message=f"flow {name}: tags point at versions with no "
                              f"FlowVersion: {', '.join(dangling)}",
                              observed_generation=generation)
    else:
        condition = Condition(type="Ready", status="True", reason="TagsResolved",
                              message=f"{len(resolved)} tag(s) resolved",
                              observed_generation=generation)
    return FlowStatus(versions=sorted(versions), tags=resolved,
                      conditions=[_keep_time(condition, old, now)])


def _keep_time(condition: Condition, old: Any, now: datetime) -> Condition:
    before = next((c for c in getattr(old, "conditions", []) or []
                   if c.type == condition.type), None)
    same = before is not None and (before.status, before.reason, before.message) == (
        condition.status, condition.reason, condition.message)
    condition.last_transition_time = before.last_transition_time if same and before else now
    return condition
