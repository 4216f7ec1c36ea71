"""``KitaruClient.cluster()``: the client's verbs on the cluster's resources."""

from __future__ import annotations

import builtins
from typing import Any

from kitaru.cluster.api import Cluster, connect
from kitaru.cluster.executions import ClusterExecutions
from kitaru.cluster.flows import FlowSummary, deploy, flows, invoke, tag, untag


class ClusterFlows:
    """Deployed flows of one namespace: versions, tags, and starting executions."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def list(self) -> list[FlowSummary]:
        """Every flow with its versions, tags and executions per version."""
        return flows(self.cluster)

    def tag(self, flow: str, tag_name: str, version: int) -> dict[str, int]:
        """Point a tag at a version; return the tags."""
        return tag(self.cluster, flow, tag_name, version)

    def untag(self, flow: str, tag_name: str) -> dict[str, int]:
        """Remove a tag; return the tags left."""
        return untag(self.cluster, flow, tag_name)

    def deploy(self, entrypoint: str, flow_name: str,
               **options: Any) -> builtins.list[dict[str, Any]]:
        """Make a FlowVersion (see :func:`kitaru.cluster.flows.deploy`)."""
        return deploy(self.cluster, entrypoint, flow_name, **options)

    def invoke(self, flow: str, *, tag_name: str | None = None, version: int | None = None,
               inputs: dict[str, Any] | None = None) -> str:
        """Start an execution of a tag (default ``latest``) or a version; return its name."""
        return invoke(self.cluster, flow, tag_name=tag_name, version=version, inputs=inputs)


class ClusterClient:
    """The client's verbs on one namespace of a cluster, with the user's credentials."""

    def __init__(self, *, context: str | None = None, namespace: str | None = None) -> None:
        self.connection = connect(context=context, namespace=namespace)
        self.executions = ClusterExecutions(self.connection)
        self.flows = ClusterFlows(self.connection)
