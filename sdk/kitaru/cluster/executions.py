"""Executions on the cluster, with the same verbs as local ones.

Requests are patches of the Execution, as ``kubectl patch`` would make, so the operator
validates and acts on them: an answer goes in ``spec.answers`` (checked here first
against the wait's schema, for the same one-line refusal as locally), a retry raises
``spec.retry``, a cancel sets ``spec.cancel``, a replay is a new Execution with
``spec.replay``. A cluster execution is never resumed by a local process. Checkpoints,
logs and artifacts are read from the store the Execution's FlowVersion names, with the
user's own store credentials.
"""

from __future__ import annotations

from typing import Any

from kitaru.cluster.api import Cluster
from kitaru.errors import KitaruStateError, KitaruUsageError
from kitaru.model import Model
from kitaru.waits import check_answer


class ClusterExecution(Model):
    """An Execution as ``kitaru executions list --cluster`` shows it."""

    name: str
    flow: str | None = None
    version: int | None = None
    phase: str = "Pending"
    waiting_on: str | None = None
    wait_kind: str | None = None  # input (answered in spec.answers) or timer (kitaru.sleep)
    execution_id: str | None = None
    message: str = ""
    created_at: str = ""


def summary(obj: dict[str, Any]) -> ClusterExecution:
    status = obj.get("status") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions") or []
                                  if c.get("type") == "Succeeded"), {})
    return ClusterExecution(
        name=obj["metadata"]["name"], flow=status.get("flow"), version=status.get("version"),
        phase=status.get("phase") or "Pending", waiting_on=status.get("waitingOn"),
        wait_kind=((status.get("pendingWait") or {}).get("kind") or "input"
                   if status.get("waitingOn") else None),
        execution_id=status.get("executionId"), message=ready.get("message", ""),
        created_at=obj["metadata"].get("creationTimestamp", ""))


class ClusterExecutions:
    """The executions of one namespace."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _get(self, name: str) -> dict[str, Any]:
        obj = self.cluster.get("executions", name)
        if obj is None:
            raise KitaruUsageError(f"no Execution {name!r} in namespace "
                                   f"{self.cluster.namespace}")
        return obj

    def list(self, *, flow: str | None = None, phase: str | None = None
             ) -> list[ClusterExecution]:
        phase = {"completed": "succeeded"}.get(phase or "", phase)  # the CLI's word for it
        found = [summary(o) for o in self.cluster.list("executions")]
        found = [e for e in found if (flow is None or e.flow == flow)
                 and (phase is None or e.phase.lower() == phase.lower())]
        return sorted(found, key=lambda e: e.created_at, reverse=True)

    def get(self, name: str) -> ClusterExecution:
        return summary(self._get(name))

    def input(self, name: str, *, value: Any, wait: str | None = None) -> str:
        """Answer the Execution's wait; return the wait's name."""
        obj = self._get(name)
        status = obj.get("status") or {}
        pending = status.get("pendingWait")
        if status.get("phase") != "Waiting" or not pending:
            raise KitaruStateError(f"Execution {name} is {status.get('phase', 'Pending')}, "
                                   "not waiting for input")
        wait = wait or pending["name"]
        if wait != pending["name"]:
            raise KitaruUsageError(f"Execution {name} is waiting on {pending['name']!r}, "
                                   f"not {wait!r}")
        check_answer(name, wait, pending.get("schema"), value)
        self.cluster.patch("executions", name, {"spec": {"answers": {wait: value}}})
        return wait

    def retry(self, name: str) -> int:
        obj = self._get(name)
        if (obj.get("status") or {}).get("phase") != "Failed":
            raise KitaruStateError(f"Execution {name} is "
                                   f"{(obj.get('status') or {}).get('phase', 'Pending')}; "
                                   "only a Failed execution can be retried")
        number = int((obj.get("spec") or {}).get("retry", 0)) + 1
        self.cluster.patch("executions", name, {"spec": {"retry": number}})
        return number

    def cancel(self, name: str) -> None:
        self._get(name)
        self.cluster.patch("executions", name, {"spec": {"cancel": True}})

    def replay(self, name: str, *, at: str | None = None,
               overrides: dict[str, Any] | None = None) -> str:
        self._get(name)
        replay: dict[str, Any] = {"execution": name, "overrides": overrides or {}}
        if at:
            replay["from"] = at
        made = self.cluster.create("executions", {
            "apiVersion": "kitaru.ai/v1alpha1", "kind": "Execution",
            "metadata": {"generateName": f"{name[:40]}-replay-"},
            "spec": {"replay": replay}})
        replayed: str = made["metadata"]["name"]
        return replayed

    def store_of(self, name: str, store: str | None = None) -> tuple[str, str]:
        """(store URI, execution id in it) of an Execution, to read its records."""
        obj = self._get(name)
        status = obj.get("status") or {}
        exec_id = status.get("executionId")
        if not exec_id:
            raise KitaruStateError(f"Execution {name} has not started a run yet")
        if store is None:
            fv = self.cluster.get("flowversions", status.get("flowVersion") or "")
            store = (((fv or {}).get("spec") or {}).get("store") or {}).get("uri")
        if not store:
            raise KitaruUsageError(f"Execution {name}: its FlowVersion names no store (the "
                                   "operator's default store is used); pass --store URI")
        return store, exec_id
