"""``kitaru-mcp``: Kitaru's client as an MCP server, for agents that drive Kitaru.

Built on the official ``mcp`` SDK, major version 2 (``MCPServer``; 1.x called it
``FastMCP``). Each tool calls the same :class:`~kitaru.client.KitaruClient` the CLI uses:
inputs and outputs are typed (their JSON schemas come from the client's models), and a
refused request is the one line the CLI would print. Reading tools are marked
``read_only_hint``; ``--read-only`` serves only those, so an agent given this server can
look but not answer, retry, cancel or replay.

Over a local store by default, or a cluster's Execution resources with ``--cluster``
(the user's kube credentials; see :mod:`kitaru.planes`). Transports: stdio (the
default, for a local agent) and streamable HTTP (``--http``, to run next to a cluster)::

    kitaru-mcp --store s3://bucket/kitaru
    kitaru-mcp --cluster --namespace agents --http --host 127.0.0.1 --port 8765 --read-only
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kitaru.diff import ExecutionDiff
from kitaru.errors import KitaruError
from kitaru.planes import (
    ArtifactRow,
    ClusterPlane,
    ControlPlane,
    ExecutionRow,
    FlowRow,
    LocalPlane,
)
from kitaru.status import ExecutionInfo

if TYPE_CHECKING:
    from mcp.server import MCPServer

T = TypeVar("T")


def build_server(store: str | None = None, *, read_only: bool = False,
                 plane: ControlPlane | None = None) -> MCPServer:
    """Return the MCP server over ``plane`` (default: the local store ``store``)."""
    from mcp.server import MCPServer
    from mcp.types import ToolAnnotations

    ops: ControlPlane = plane if plane is not None else LocalPlane(store)
    server = MCPServer("kitaru", instructions=(
        "Inspect and drive durable Kitaru executions: list them, read one (its status, "
        "pending wait and checkpoints), answer a wait, retry, cancel, replay, diff two, "
        "read stored values, list flows and invoke one. Answers are JSON validated "
        "against the wait's schema."))
    reading = ToolAnnotations(read_only_hint=True, idempotent_hint=True)
    writing = ToolAnnotations(read_only_hint=False, destructive_hint=False)
    ending = ToolAnnotations(read_only_hint=False, destructive_hint=True)

    def tool(annotations: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def register(fn: Callable[..., T]) -> Callable[..., T]:
            if read_only and not annotations.read_only_hint:
                return fn  # not served in read-only mode
            server.tool(annotations=annotations)(_one_line_errors(fn))
            return fn
        return register

    @tool(reading)
    def kitaru_executions_list(flow: str | None = None, status: str | None = None,
                               limit: int = 50) -> list[ExecutionRow]:
        """List executions, newest first; status is running, waiting, completed, failed
        or cancelled (on a cluster: pending, running, waiting, succeeded, failed,
        cancelled)."""
        return ops.list(flow, status, limit)

    @tool(reading)
    def kitaru_executions_get(exec_id: str) -> ExecutionInfo:
        """One execution: status, pending wait (question and JSON schema), checkpoints,
        output or error, and model usage."""
        return ops.get(exec_id)

    @tool(reading)
    def kitaru_executions_logs(exec_id: str) -> str:
        """What each run of the execution printed, with Kitaru's own events."""
        return ops.logs(exec_id)

    @tool(reading)
    def kitaru_executions_diff(exec_a: str, exec_b: str) -> ExecutionDiff:
        """Compare two executions checkpoint by checkpoint."""
        return ops.diff(exec_a, exec_b)

    @tool(reading)
    def kitaru_artifacts_list(exec_id: str) -> list[ArtifactRow]:
        """The execution's stored values: checkpoint results and saved artifacts."""
        return ops.artifacts(exec_id)

    @tool(reading)
    def kitaru_artifacts_get(exec_id: str, name: str) -> Any:
        """One stored value as JSON: a checkpoint id, or a saved artifact's name."""
        return ops.artifact(exec_id, name)

    @tool(reading)
    def kitaru_flows_list() -> list[FlowRow]:
        """The flows: their executions, and on a cluster their versions and tags."""
        return ops.flows()

    @tool(writing)
    def kitaru_executions_input(exec_id: str, value: Any, wait: str | None = None) -> str:
        """Answer the execution's wait (by default the one it waits on); it resumes."""
        return ops.answer(exec_id, value, wait)

    @tool(writing)
    def kitaru_executions_retry(exec_id: str) -> str:
        """Retry a failed execution; finished checkpoints are reused."""
        return ops.retry(exec_id)

    @tool(writing)
    def kitaru_executions_replay(exec_id: str, at: str | None = None,
                                 overrides: dict[str, Any] | None = None) -> str:
        """Replay an execution as a new one from checkpoint ``at``, with overrides
        (``input.<name>``, ``checkpoint.<id>``); return the new execution."""
        return ops.replay(exec_id, at, overrides)

    @tool(writing)
    def kitaru_invoke(flow: str, input: dict[str, Any] | None = None,
                      tag: str | None = None, version: int | None = None) -> str:
        """Start an execution of a deployed flow (a tag, default latest, or a version)
        on the cluster; return its name."""
        return ops.invoke(flow, input or {}, tag, version)

    @tool(ending)
    def kitaru_executions_cancel(exec_id: str) -> str:
        """Cancel an execution (a running one stops at its next checkpoint)."""
        return ops.cancel(exec_id)

    return server


def _one_line_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Report a refused request as the CLI's one line (a tool error), never a traceback."""
    import functools

    from mcp.server.mcpserver.exceptions import ToolError

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except KitaruError as exc:
            raise ToolError(str(exc)) from None

    return call


def main(argv: list[str] | None = None) -> int:
    """``kitaru-mcp``: serve the tools over stdio, or streamable HTTP with ``--http``."""
    parser = argparse.ArgumentParser(prog="kitaru-mcp", description=__doc__.split("\n")[0])
    parser.add_argument("--store", help="store URI (default $KITARU_STORE or ./.kitaru)")
    parser.add_argument("--cluster", action="store_true",
                        help="drive the cluster's Execution resources (kube credentials)")
    parser.add_argument("--context", help="kube context (with --cluster)")
    parser.add_argument("--namespace", "-n", help="namespace (with --cluster)")
    parser.add_argument("--read-only", action="store_true",
                        help="serve only the tools that read (no input, retry, cancel, replay)")
    parser.add_argument("--http", action="store_true", help="streamable HTTP, not stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    try:
        plane = (ClusterPlane(context=args.context, namespace=args.namespace, store=args.store)
                 if args.cluster else None)
        server = build_server(args.store, read_only=args.read_only, plane=plane)
    except KitaruError as exc:
        print(f"kitaru-mcp: error: {exc}", file=sys.stderr)
        return 1
    except ImportError:
        print("kitaru-mcp: error: needs the mcp package: pip install 'kitaru[mcp]'",
              file=sys.stderr)
        return 1
    try:
        if args.http:
            server.run(transport="streamable-http", host=args.host, port=args.port)
        else:
            server.run(transport="stdio")
    except KeyboardInterrupt:  # Ctrl-C: the server has shut down; no traceback
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
