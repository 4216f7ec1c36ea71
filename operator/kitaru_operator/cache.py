"""What the watches last delivered: Executions, their Jobs and pods, FlowVersions.

kopf already watches these kinds; keeping the newest object of each event lets a
reconcile start from memory instead of three API reads, which is most of the time
between a wait being answered and the next run's Job existing. Pods are watched for
their end: a pod that has terminated says how its run ended up to a second before the
Job controller marks its Job finished, and a chain of checkpoint pods pays that second
at every link otherwise.

A cached object may be a little behind the API server. The handlers stay correct anyway:
the status write carries the ``resourceVersion`` it was decided from (a stale decision
fails with a conflict and is redone from a fresh read), Job names are deterministic (a
repeated create is a no-op), and a Running execution whose current Job is missing from
the cache is checked against the API before anything is concluded from its absence.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

Key = tuple[str, str]
#: Deleted Jobs remembered (their late events come within seconds; this is hours' worth).
DELETED_KEPT = 10_000


def _version(obj: dict[str, Any]) -> int | None:
    """The object's resourceVersion as a number, or None when it is not one."""
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


def _newer(new: dict[str, Any], old: dict[str, Any] | None) -> bool:
    """Whether ``new`` should replace ``old``.

    resourceVersions are opaque to clients in general; on etcd they are increasing
    numbers, and a version that is not a number simply always replaces.
    """
    if old is None:
        return True
    new_v, old_v = _version(new), _version(old)
    return new_v is None or old_v is None or new_v >= old_v


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


def _written_key(obj: dict[str, Any], execution: str | None) -> tuple[str, str, str, str]:
    return (execution or "", *_key(obj), obj.get("kind") or "")


class ObjectCache:
    """The newest known body of each watched object, safe to use from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executions: dict[Key, dict[str, Any]] = {}
        self._flow_versions: dict[Key, dict[str, Any]] = {}
        # (namespace, execution name) -> Job name -> Job
        self._jobs: dict[Key, dict[str, dict[str, Any]]] = {}
        # (namespace, Job name) -> its pod
        self._pods: dict[Key, dict[str, Any]] = {}
        # ("" or execution name, namespace, name, kind) -> resourceVersion of the
        # operator's write (the kind keeps an Execution and a FlowVersion of one name apart)
        self._written: dict[tuple[str, str, str, str], str] = {}
        # uids of the Jobs this operator deleted, oldest first (a bounded number)
        self._deleted: OrderedDict[str, None] = OrderedDict()

    # Executions and FlowVersions -------------------------------------------------------

    def wrote(self, obj: dict[str, Any], execution: str | None = None) -> None:
        """Remember the version of an object (an Execution, a FlowVersion, or, given
        ``execution``, one of its Jobs) that this operator's own write produced, so that
        its echo is known."""
        version = obj["metadata"].get("resourceVersion")
        if version is not None:
            with self._lock:
                self._written[_written_key(obj, execution)] = version

    def echo(self, obj: dict[str, Any], execution: str | None = None) -> bool:
        """Whether this is the version this operator's own last write produced: the event
        brings nothing the pass that wrote it did not already decide from."""
        version = obj["metadata"].get("resourceVersion")
        with self._lock:
            return version is not None and self._written.get(
                _written_key(obj, execution)) == version

    def put_execution(self, obj: dict[str, Any]) -> None:
        self._put(self._executions, obj)

    def drop_execution(self, namespace: str, name: str) -> None:
        with self._lock:
            self._executions.pop((namespace, name), None)

    def execution(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._executions.get((namespace, name))

    def executions(self) -> list[dict[str, Any]]:
        """Every Execution known, newest bodies (for the metrics)."""
        with self._lock:
            return list(self._executions.values())

    def put_flow_version(self, obj: dict[str, Any]) -> None:
        self._put(self._flow_versions, obj)

    def drop_flow_version(self, namespace: str, name: str) -> None:
        with self._lock:
            self._flow_versions.pop((namespace, name), None)

    def flow_version(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._flow_versions.get((namespace, name))

    def flow_version_of(self, namespace: str, flow: str, version: int) -> dict[str, Any] | None:
        """The FlowVersion known for version ``version`` of ``flow`` (None: none seen);
        of two that claim it, the first by name, as a listing would give it."""
        with self._lock:
            found = [obj for (space, name), obj in sorted(self._flow_versions.items())
                     if space == namespace and (obj.get("spec") or {}).get("flow") == flow
                     and (obj.get("spec") or {}).get("version") == version]
        return found[0] if found else None

    def _put(self, table: dict[Key, dict[str, Any]], obj: dict[str, Any]) -> None:
        key = _key(obj)
        with self._lock:
            if _newer(obj, table.get(key)):
                table[key] = obj

    # Run Jobs ---------------------------------------------------------------------------

    def put_job(self, execution: str, obj: dict[str, Any]) -> None:
        namespace, name = _key(obj)
        with self._lock:
            if obj["metadata"].get("uid") in self._deleted:
                return  # see deleting_job
            jobs = self._jobs.setdefault((namespace, execution), {})
            if _newer(obj, jobs.get(name)):
                jobs[name] = obj

    def drop_job(self, execution: str, obj: dict[str, Any]) -> None:
        namespace, name = _key(obj)
        with self._lock:
            jobs = self._jobs.get((namespace, execution))
            if jobs is not None:
                jobs.pop(name, None)
                if not jobs:
                    del self._jobs[(namespace, execution)]

    def deleting_job(self, namespace: str, execution: str, name: str) -> None:
        """This operator deleted a Job: drop it now, and ignore what its deletion still
        brings (a status update from the Job controller while its pod goes). Else a pass
        in between would see a Job with no pod and no end recorded: a run still going,
        in an execution that was just told to wait."""
        with self._lock:
            body = (self._jobs.get((namespace, execution)) or {}).pop(name, None)
            uid = body["metadata"].get("uid") if body else None
            if uid:
                self._deleted[uid] = None
                while len(self._deleted) > DELETED_KEPT:
                    self._deleted.popitem(last=False)

    def jobs(self, namespace: str, execution: str, owner_uid: str) -> list[dict[str, Any]]:
        """The run Jobs of one Execution (this incarnation of it: owned by ``owner_uid``)."""
        with self._lock:
            jobs = list(self._jobs.get((namespace, execution), {}).values())
        return [job for job in jobs
                if any(ref.get("uid") == owner_uid
                       for ref in job["metadata"].get("ownerReferences") or [])]

    # Run and checkpoint pods -------------------------------------------------------------

    def put_pod(self, job: str, obj: dict[str, Any]) -> None:
        namespace, _ = _key(obj)
        with self._lock:
            if _newer(obj, self._pods.get((namespace, job))):
                self._pods[(namespace, job)] = obj

    def drop_pod(self, job: str, obj: dict[str, Any]) -> None:
        namespace, _ = _key(obj)
        with self._lock:
            self._pods.pop((namespace, job), None)

    def pod(self, namespace: str, job: str) -> dict[str, Any] | None:
        """The newest known pod of a Job (a run Job has one: ``backoffLimit`` is 0)."""
        with self._lock:
            return self._pods.get((namespace, job))

    def forget(self, namespace: str, execution: str) -> None:
        """Drop an Execution and its Jobs (the Execution was deleted)."""
        with self._lock:
            self._executions.pop((namespace, execution), None)
            self._jobs.pop((namespace, execution), None)
            self._written = {k: v for k, v in self._written.items()
                             if k[1] != namespace or execution not in (k[0], k[2])}


CACHE = ObjectCache()
