"""Versioned, tag-routed deployments: FlowVersions, the Flow's tags, and invoking them.

- ``deploy`` makes FlowVersion ``<flow>-v<N>`` (the next number unless given) and,
  with a tag, points the Flow's tag at it. ``dry_run`` returns the manifests instead,
  for GitOps and ``kubectl apply``.
- ``invoke`` makes an Execution of a tag (resolved once by the operator, then pinned) or
  of a version.
- ``tag`` / ``untag`` move tags; rolling back is moving a tag back to an older version.
"""

from __future__ import annotations

from typing import Any

from kitaru.cluster.api import GROUP, VERSION, Cluster, k8s_name
from kitaru.errors import KitaruUsageError
from kitaru.model import Field, Model

API_VERSION = f"{GROUP}/{VERSION}"


class FlowSummary(Model):
    """A flow on the cluster: its versions, tags and executions per version."""

    flow: str
    versions: list[int] = Field(default_factory=list)
    tags: dict[str, int] = Field(default_factory=dict)
    executions: dict[int, int] = Field(default_factory=dict,
                                       description="Executions per version number.")
    images: dict[int, str] = Field(default_factory=dict)


def flow_version_manifest(flow: str, version: int, *, image: str, entrypoint: str,
                          store: str | None = None, store_secret: str | None = None,
                          env: dict[str, str] | None = None) -> dict[str, Any]:
    """The FlowVersion of version ``version`` of ``flow``."""
    spec: dict[str, Any] = {"flow": flow, "version": version, "image": image,
                            "entrypoint": entrypoint}
    if env:
        spec["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if store:
        spec["store"] = {"uri": store}
        if store_secret:
            spec["store"]["credentialsSecret"] = {"name": store_secret}
    return {"apiVersion": API_VERSION, "kind": "FlowVersion",
            "metadata": {"name": f"{flow}-v{version}", "labels": {f"{GROUP}/flow": flow}},
            "spec": spec}


def flow_manifest(flow: str, tags: dict[str, int]) -> dict[str, Any]:
    """The Flow that routes ``flow``'s tags to version numbers."""
    return {"apiVersion": API_VERSION, "kind": "Flow", "metadata": {"name": flow},
            "spec": {"tags": dict(tags)}}


def versions_of(cluster: Cluster, flow: str) -> dict[int, dict[str, Any]]:
    """The flow's FlowVersions, by version number."""
    return {int(fv["spec"]["version"]): fv for fv in cluster.list("flowversions")
            if (fv.get("spec") or {}).get("flow") == flow}


def deploy(cluster: Cluster | None, entrypoint: str, flow_name: str, *, image: str,
           version: int | None = None, tag: str | None = None, store: str | None = None,
           store_secret: str | None = None, env: dict[str, str] | None = None,
           dry_run: bool = False) -> list[dict[str, Any]]:
    """Make (or, with ``dry_run``, return) the FlowVersion and the Flow's moved tag."""
    if not image:
        raise KitaruUsageError("kitaru deploy: --image is required: the container image "
                               "with the flow's code and the kitaru SDK")
    flow = k8s_name(flow_name)
    known = versions_of(cluster, flow) if cluster is not None else {}
    number = version if version is not None else max(known, default=0) + 1
    if number in known and not dry_run:
        raise KitaruUsageError(f"flow {flow} already has version {number} "
                               f"(FlowVersion {known[number]['metadata']['name']}); "
                               "pass another --version or leave it out for the next")
    manifests = [flow_version_manifest(flow, number, image=image, entrypoint=entrypoint,
                                       store=store, store_secret=store_secret, env=env)]
    existing = cluster.get("flows", flow) if cluster is not None else None
    tags = dict(((existing or {}).get("spec") or {}).get("tags") or {})
    tags["latest"] = number  # "latest" always names the newest deploy
    if tag is not None:
        tags[tag] = number
    manifests.append(flow_manifest(flow, tags))
    if dry_run:
        return manifests
    assert cluster is not None
    cluster.create("flowversions", manifests[0])
    _put_flow(cluster, flow, existing, tags)
    return manifests


def tag(cluster: Cluster, flow: str, tag_name: str, version: int) -> dict[str, int]:
    """Point ``tag_name`` at ``version`` (which must exist); return the tags."""
    flow = k8s_name(flow)
    known = versions_of(cluster, flow)
    if version not in known:
        raise KitaruUsageError(f"flow {flow} has no version {version} (versions: "
                               f"{', '.join(map(str, sorted(known))) or 'none'})")
    existing = cluster.get("flows", flow)
    tags = dict(((existing or {}).get("spec") or {}).get("tags") or {})
    tags[tag_name] = version
    _put_flow(cluster, flow, existing, tags)
    return tags


def untag(cluster: Cluster, flow: str, tag_name: str) -> dict[str, int]:
    """Remove a tag; return the tags left."""
    flow = k8s_name(flow)
    existing = cluster.get("flows", flow)
    tags = dict(((existing or {}).get("spec") or {}).get("tags") or {})
    if tag_name not in tags:
        raise KitaruUsageError(f"flow {flow} has no tag {tag_name!r} (tags: "
                               f"{', '.join(sorted(tags)) or 'none'})")
    del tags[tag_name]
    _put_flow(cluster, flow, existing, tags)
    return tags


def _put_flow(cluster: Cluster, flow: str, existing: dict[str, Any] | None,
              tags: dict[str, int]) -> None:
    if existing is None:
        cluster.create("flows", flow_manifest(flow, tags))
    else:  # a merge patch cannot remove a key from a map by leaving it out
        body = {**existing, "spec": {**(existing.get("spec") or {}), "tags": tags}}
        cluster.replace("flows", flow, body)


def flows(cluster: Cluster) -> list[FlowSummary]:
    """Every flow in the namespace, with versions, tags and executions per version."""
    found: dict[str, FlowSummary] = {}
    for fv in cluster.list("flowversions"):
        spec = fv.get("spec") or {}
        summary = found.setdefault(spec["flow"], FlowSummary(flow=spec["flow"]))
        summary.versions.append(int(spec["version"]))
        summary.images[int(spec["version"])] = str(spec.get("image", ""))
    for obj in cluster.list("flows"):
        summary = found.setdefault(obj["metadata"]["name"], FlowSummary(
            flow=obj["metadata"]["name"]))
        summary.tags = dict((obj.get("spec") or {}).get("tags") or {})
    for ex in cluster.list("executions"):
        status = ex.get("status") or {}
        if status.get("flow") in found and status.get("version"):
            counts = found[status["flow"]].executions
            counts[int(status["version"])] = counts.get(int(status["version"]), 0) + 1
    for summary in found.values():
        summary.versions.sort()
    return sorted(found.values(), key=lambda s: s.flow)


def invoke(cluster: Cluster, flow: str, *, tag_name: str | None = None,
           version: int | None = None, inputs: dict[str, Any] | None = None) -> str:
    """Make an Execution of a tag or a version of ``flow``; return its name."""
    flow = k8s_name(flow)
    if tag_name is not None and version is not None:
        raise KitaruUsageError("kitaru invoke: give --tag or --version, not both")
    spec: dict[str, Any] = {"input": inputs or {}}
    if version is not None:
        known = versions_of(cluster, flow)
        if version not in known:
            raise KitaruUsageError(f"flow {flow} has no version {version} (versions: "
                                   f"{', '.join(map(str, sorted(known))) or 'none'})")
        spec["flowVersion"] = known[version]["metadata"]["name"]
    else:
        tag_name = tag_name or "latest"
        existing = cluster.get("flows", flow)
        if existing is None:
            raise KitaruUsageError(f"no flow {flow!r} in namespace {cluster.namespace}; "
                                   "deploy it first (kitaru deploy module:flow --image ...)")
        tags = (existing.get("spec") or {}).get("tags") or {}
        if tag_name not in tags:
            raise KitaruUsageError(f"flow {flow} has no tag {tag_name!r} (tags: "
                                   f"{', '.join(sorted(tags)) or 'none'})")
        spec.update(flow=flow, tag=tag_name)
    made = cluster.create("executions", {"apiVersion": API_VERSION, "kind": "Execution",
                                         "metadata": {"generateName": f"{flow}-"},
                                         "spec": spec})
    name: str = made["metadata"]["name"]
    return name
