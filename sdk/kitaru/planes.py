"""The control-plane seam: the same verbs on a local store or on a cluster.

:class:`LocalPlane` drives executions in a store directly (answering a wait resumes the
execution in a new local process). :class:`ClusterPlane` drives Execution resources
(an answer is patched into ``spec.answers`` and the operator resumes it) and reads
records from the store the FlowVersion names. Front ends (the MCP server) are written
once over :class:`ControlPlane`. Executions are named by their local id, or on the
cluster by the Execution's name.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Protocol

from kitaru.client import Artifact, KitaruClient, LogChunk
from kitaru.diff import ExecutionDiff
from kitaru.errors import KitaruError, KitaruUsageError
from kitaru.model import Field, Model
from kitaru.status import ExecutionInfo
from kitaru.stores import ObjectStore
from kitaru.timeline import RunSummary


class ExecutionRow(Model):
    """One execution in a listing."""

    exec_id: str = Field(description="The local id, or the Execution's name on a cluster.")
    flow: str
    status: str
    waiting_on: str | None = None
    wait_kind: str | None = Field(default=None, description="input or timer, where known.")
    version: int | None = Field(default=None, description="The FlowVersion, on a cluster.")
    created_at: str


class ArtifactRow(Model):
    """One stored value of an execution."""

    name: str
    kind: str = Field(description="checkpoint (a checkpoint's result) or artifact (saved).")
    type: str
    value_type: str
    size: int


@dataclass(frozen=True)
class StoredValue:
    """A checkpoint's or artifact's value as stored, with how to read it."""

    name: str
    serializer: str
    type: str
    data: bytes


class FlowRow(Model):
    """A flow: its executions, and on a cluster its versions and tags."""

    flow: str
    executions: int
    versions: list[int] = Field(default_factory=list)
    tags: dict[str, int] = Field(default_factory=dict)


class ControlPlane(Protocol):
    """The verbs every front end offers."""

    def list(self, flow: str | None, status: str | None,
             limit: int) -> builtins.list[ExecutionRow]: ...
    def get(self, exec_id: str) -> ExecutionInfo: ...
    def logs(self, exec_id: str) -> str: ...
    def logs_since(self, exec_id: str, cursor: str) -> LogChunk: ...
    def timeline(self, exec_id: str) -> builtins.list[RunSummary]: ...
    def diff(self, a: str, b: str) -> ExecutionDiff: ...
    def artifacts(self, exec_id: str) -> builtins.list[ArtifactRow]: ...
    def artifact(self, exec_id: str, name: str) -> Any: ...
    def stored(self, exec_id: str, name: str) -> StoredValue: ...
    def flows(self) -> builtins.list[FlowRow]: ...
    def answer(self, exec_id: str, value: Any, wait: str | None) -> str: ...
    def retry(self, exec_id: str) -> str: ...
    def cancel(self, exec_id: str) -> str: ...
    def replay(self, exec_id: str, at: str | None, overrides: dict[str, Any] | None) -> str: ...
    def invoke(self, flow: str, inputs: dict[str, Any], tag: str | None,
               version: int | None) -> str: ...


def _artifacts(client: KitaruClient, exec_id: str) -> builtins.list[ArtifactRow]:
    return [ArtifactRow(name=a.name, kind=a.kind, type=a.type, value_type=a.value.type,
                        size=a.value.size) for a in client.artifacts.list(exec_id)]


def _find(client: KitaruClient, exec_id: str, name: str) -> Artifact:
    found = {a.name: a for a in client.artifacts.list(exec_id)}
    if name not in found:
        raise KitaruError(
            f"execution {exec_id} has no checkpoint or artifact {name!r}; "
            f"it has: {', '.join(sorted(found)) or 'none yet'}")
    return found[name]


def _artifact(client: KitaruClient, exec_id: str, name: str) -> Any:
    return _find(client, exec_id, name).plain()


def _stored(client: KitaruClient, exec_id: str, name: str) -> StoredValue:
    found = _find(client, exec_id, name)
    return StoredValue(name=name, serializer=found.value.serializer, type=found.value.type,
                       data=found.data())


class LocalPlane:
    """Executions in a store, driven directly."""

    def __init__(self, store: str | ObjectStore | None = None) -> None:
        self.client = KitaruClient(store)

    def list(self, flow: str | None, status: str | None, limit: int) -> builtins.list[ExecutionRow]:
        return [ExecutionRow(
            exec_id=i.exec_id, flow=i.flow, status=i.status,
            waiting_on=i.pending_wait.name if i.status == "waiting" and i.pending_wait else None,
            wait_kind=i.pending_wait.kind if i.status == "waiting" and i.pending_wait else None,
            created_at=i.created_at.isoformat(timespec="seconds"))
            for i in self.client.executions.list(flow=flow, status=status, limit=limit)]

    def get(self, exec_id: str) -> ExecutionInfo:
        return self.client.executions.get(exec_id)

    def logs(self, exec_id: str) -> str:
        return self.client.executions.logs(exec_id)

    def logs_since(self, exec_id: str, cursor: str) -> LogChunk:
        return self.client.executions.logs_since(exec_id, cursor)

    def timeline(self, exec_id: str) -> builtins.list[RunSummary]:
        return self.client.executions.timeline(exec_id)

    def diff(self, a: str, b: str) -> ExecutionDiff:
        return self.client.executions.diff(a, b)

    def artifacts(self, exec_id: str) -> builtins.list[ArtifactRow]:
        return _artifacts(self.client, exec_id)

    def artifact(self, exec_id: str, name: str) -> Any:
        return _artifact(self.client, exec_id, name)

    def stored(self, exec_id: str, name: str) -> StoredValue:
        return _stored(self.client, exec_id, name)

    def flows(self) -> builtins.list[FlowRow]:
        rows: dict[str, FlowRow] = {}
        for info in self.client.executions.list():
            rows.setdefault(info.flow, FlowRow(flow=info.flow, executions=0)).executions += 1
        return list(rows.values())

    def answer(self, exec_id: str, value: Any, wait: str | None) -> str:
        if wait is None:
            pending = self.client.executions.pending_waits(exec_id)
            if not pending:
                raise KitaruError(f"execution {exec_id} is not waiting for input")
            wait = pending[0].name
        self.client.executions.input(exec_id, wait=wait, value=value)
        return exec_id

    def retry(self, exec_id: str) -> str:
        self.client.executions.retry(exec_id)
        return exec_id

    def cancel(self, exec_id: str) -> str:
        self.client.executions.cancel(exec_id)
        return exec_id

    def replay(self, exec_id: str, at: str | None, overrides: dict[str, Any] | None) -> str:
        return self.client.executions.replay(exec_id, at=at, overrides=overrides).exec_id

    def invoke(self, flow: str, inputs: dict[str, Any], tag: str | None,
               version: int | None) -> str:
        raise KitaruUsageError("invoke needs a cluster with deployed flows (kitaru-mcp "
                               "--cluster); locally, run a flow with: kitaru run module:flow")


#: An Execution's phase in the words of a local status (Pending: no pod yet, but started).
_PHASE_STATUS = {"Pending": "running", "Succeeded": "completed"}


class ClusterPlane:
    """Execution, Flow and FlowVersion resources of one namespace."""

    def __init__(self, *, context: str | None = None, namespace: str | None = None,
                 store: str | None = None) -> None:
        self.cluster = KitaruClient.cluster(context=context, namespace=namespace)
        self.store = store
        # One client per store, kept: opening a cloud store's client costs tens of
        # milliseconds, and a kept client keeps the documents that never change.
        self._clients: dict[str, KitaruClient] = {}

    def _records(self, exec_id: str) -> tuple[KitaruClient, str]:
        store, record_id = self.cluster.executions.store_of(exec_id, self.store)
        client = self._clients.get(store)
        if client is None:
            client = self._clients[store] = KitaruClient(store)
        return client, record_id

    def list(self, flow: str | None, status: str | None, limit: int) -> builtins.list[ExecutionRow]:
        return [ExecutionRow(exec_id=e.name, flow=e.flow or "",
                             status=_PHASE_STATUS.get(e.phase, e.phase.lower()),
                             waiting_on=e.waiting_on, wait_kind=e.wait_kind,
                             version=e.version,
                             created_at=e.created_at)
                for e in self.cluster.executions.list(flow=flow, phase=status)][:limit]

    def get(self, exec_id: str) -> ExecutionInfo:
        client, record_id = self._records(exec_id)
        return client.executions.get(record_id)

    def logs(self, exec_id: str) -> str:
        client, record_id = self._records(exec_id)
        return client.executions.logs(record_id)

    def logs_since(self, exec_id: str, cursor: str) -> LogChunk:
        client, record_id = self._records(exec_id)
        return client.executions.logs_since(record_id, cursor)

    def timeline(self, exec_id: str) -> builtins.list[RunSummary]:
        client, record_id = self._records(exec_id)
        return client.executions.timeline(record_id)

    def diff(self, a: str, b: str) -> ExecutionDiff:
        client, id_a = self._records(a)
        _, id_b = self._records(b)
        return client.executions.diff(id_a, id_b)

    def artifacts(self, exec_id: str) -> builtins.list[ArtifactRow]:
        client, record_id = self._records(exec_id)
        return _artifacts(client, record_id)

    def artifact(self, exec_id: str, name: str) -> Any:
        client, record_id = self._records(exec_id)
        return _artifact(client, record_id, name)

    def stored(self, exec_id: str, name: str) -> StoredValue:
        client, record_id = self._records(exec_id)
        return _stored(client, record_id, name)

    def flows(self) -> builtins.list[FlowRow]:
        return [FlowRow(flow=f.flow, executions=sum(f.executions.values()),
                        versions=f.versions, tags=f.tags) for f in self.cluster.flows.list()]

    def answer(self, exec_id: str, value: Any, wait: str | None) -> str:
        self.cluster.executions.input(exec_id, value=value, wait=wait)
        return exec_id

    def retry(self, exec_id: str) -> str:
        self.cluster.executions.retry(exec_id)
        return exec_id

    def cancel(self, exec_id: str) -> str:
        self.cluster.executions.cancel(exec_id)
        return exec_id

    def replay(self, exec_id: str, at: str | None, overrides: dict[str, Any] | None) -> str:
        return self.cluster.executions.replay(exec_id, at=at, overrides=overrides)

    def invoke(self, flow: str, inputs: dict[str, Any], tag: str | None,
               version: int | None) -> str:
        return self.cluster.flows.invoke(flow, tag_name=tag, version=version, inputs=inputs)
