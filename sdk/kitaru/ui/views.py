"""The dashboard's JSON documents, built from what a control plane returns."""

from __future__ import annotations

from typing import Any

from kitaru.planes import ControlPlane, ExecutionRow, StoredValue
from kitaru.serialization import decode_plain
from kitaru.status import STATUSES, ExecutionInfo

#: Values larger than this are offered as a download only, not shown in the page.
SHOW_AT_MOST = 2 * 1024 * 1024
_JSON_SERIALIZERS = ("json", "pydantic", "typed-json")
#: Statuses an execution never leaves.
FINAL = ("completed", "cancelled")


def listing(plane: ControlPlane, *, flow: str | None, status: str | None, waiting: bool,
            limit: int, offset: int) -> dict[str, Any]:
    """One page of executions, newest first, with the counts by status over all of them."""
    every = plane.list(None, None, 1 << 62)
    counts = dict.fromkeys(STATUSES, 0)
    for row in every:
        counts[row.status] = counts.get(row.status, 0) + 1
    picked = [r for r in every if _matches(r, flow, status, waiting)]
    return {"executions": [r.model_dump(mode="json") for r in picked[offset:offset + limit]],
            "total": len(picked), "counts": counts,
            "flows": sorted({r.flow for r in every})}


def _matches(row: ExecutionRow, flow: str | None, status: str | None, waiting: bool) -> bool:
    if flow and row.flow != flow:
        return False
    if status and row.status != status:
        return False
    return not waiting or (row.waiting_on is not None and row.wait_kind != "timer")


def execution(plane: ControlPlane, exec_id: str) -> dict[str, Any]:
    """One execution: its summary and checkpoints, its runs, and its lineage graph."""
    info = plane.get(exec_id)
    document = info.model_dump(mode="json")
    for summary, shown in zip(info.checkpoints, document["checkpoints"], strict=True):
        shown["duration_s"] = (
            (summary.finished_at - summary.started_at).total_seconds()
            if summary.started_at else None)
    return {"info": document,
            "timeline": [r.model_dump(mode="json") for r in plane.timeline(exec_id)],
            "lineage": lineage(info)}


def lineage(info: ExecutionInfo) -> dict[str, Any]:
    """The graph of which values fed which checkpoint calls: checkpoints, the flow's
    inputs and wait answers as nodes; an edge from each parent to its consumer."""
    nodes: dict[str, dict[str, Any]] = {}
    roots, rerun = set(info.replay_roots), set(info.replay_rerun)
    for c in info.checkpoints:
        role = ("root" if c.id in roots else "rerun" if c.id in rerun else None)
        nodes[c.id] = {"id": c.id, "kind": "checkpoint", "label": c.id, "source": c.source,
                       "replay": role if c.source == "run" else None}
    edges = []
    for c in info.checkpoints:
        for parent in c.parents:
            if parent not in nodes:
                kind, _, name = parent.partition(":")
                known = kind in ("input", "wait") and name
                nodes[parent] = {"id": parent, "kind": kind if known else "checkpoint",
                                 "label": name if known else parent, "source": None,
                                 "replay": None}
            edges.append({"from": parent, "to": c.id})
    return {"nodes": list(nodes.values()), "edges": edges}


def value(stored: StoredValue, download: str) -> dict[str, Any]:
    """How the page shows a stored value: JSON, text, or only a download."""
    shown: dict[str, Any] = {"serializer": stored.serializer, "type": stored.type,
                             "size": len(stored.data), "download": download}
    if stored.serializer not in _JSON_SERIALIZERS or len(stored.data) > SHOW_AT_MOST:
        return {**shown, "kind": "bytes", "value": None}
    plain = decode_plain(stored.serializer, stored.data)
    return {**shown, "kind": "text" if isinstance(plain, str) else "json", "value": plain}


def download_name(stored: StoredValue) -> tuple[str, str]:
    """The file name and media type a downloaded value gets."""
    if stored.serializer in _JSON_SERIALIZERS:
        return f"{stored.name}.json", "application/json"
    return f"{stored.name}.bin", "application/octet-stream"

