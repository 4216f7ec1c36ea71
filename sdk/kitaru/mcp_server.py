"""``kitaru-mcp``: Kitaru's client as an MCP server, for agents that drive Kitaru.

Built on the official ``mcp`` SDK, major version 2 (``MCPServer``; 1.x called it
``FastMCP``). Each tool calls the same :class:`~kitaru.client.KitaruClient` the CLI uses:
inputs and outputs are typed (their JSON schemas come from the client's models), and a
refused request is the one line the CLI would print. Reading tools are marked
``read_only_hint``; ``--read-only`` serves only those, so an agent given this server can
look but not answer, retry, cancel or replay.

Transports: stdio (the default, for a local agent) and streamable HTTP (``--http``, for
running next to a cluster's store)::

    kitaru-mcp --store s3://bucket/kitaru
    kitaru-mcp --http --host 127.0.0.1 --port 8765 --read-only
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field

from kitaru.client import KitaruClient
from kitaru.diff import ExecutionDiff
from kitaru.errors import KitaruError
from kitaru.status import ExecutionInfo

if TYPE_CHECKING:
    from mcp.server import MCPServer

T = TypeVar("T")


class ExecutionRow(BaseModel):
    """One execution in a listing."""

    exec_id: str
    flow: str
    status: str
    waiting_on: str | None = None
    runs: int
    created_at: str


class ArtifactRow(BaseModel):
    """One stored value of an execution."""

    name: str
    kind: str = Field(description="checkpoint (a checkpoint's result) or artifact (saved).")
    type: str
    value_type: str
    size: int


class FlowRow(BaseModel):
    """A flow this store has executions of."""

    flow: str
    executions: int
    waiting: int
    latest: str


def build_server(store: str | None = None, *, read_only: bool = False) -> MCPServer:
    """Return the MCP server over a client of ``store`` (default: as the CLI chooses)."""
    from mcp.server import MCPServer
    from mcp.types import ToolAnnotations

    client = KitaruClient(store)
    server = MCPServer("kitaru", instructions=(
        "Inspect and drive durable Kitaru executions: list them, read one (its status, "
        "pending wait and checkpoints), answer a wait, retry, cancel, replay, diff two, "
        "and read stored values. Answers are JSON validated against the wait's schema."))
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
        or cancelled."""
        return [ExecutionRow(
            exec_id=i.exec_id, flow=i.flow, status=i.status, runs=i.runs,
            waiting_on=i.pending_wait.name if i.status == "waiting" and i.pending_wait else None,
            created_at=i.created_at.isoformat(timespec="seconds"))
            for i in client.executions.list(flow=flow, status=status, limit=limit)]

    @tool(reading)
    def kitaru_executions_get(exec_id: str) -> ExecutionInfo:
        """One execution: status, pending wait (question and JSON schema), checkpoints,
        output or error, and model usage."""
        return client.executions.get(exec_id)

    @tool(reading)
    def kitaru_executions_logs(exec_id: str) -> str:
        """What each run of the execution printed, with Kitaru's own events."""
        return client.executions.logs(exec_id)

    @tool(reading)
    def kitaru_executions_diff(exec_a: str, exec_b: str) -> ExecutionDiff:
        """Compare two executions checkpoint by checkpoint."""
        return client.executions.diff(exec_a, exec_b)

    @tool(reading)
    def kitaru_artifacts_list(exec_id: str) -> list[ArtifactRow]:
        """The execution's stored values: checkpoint results and saved artifacts."""
        return [ArtifactRow(name=a.name, kind=a.kind, type=a.type, value_type=a.value.type,
                            size=a.value.size) for a in client.artifacts.list(exec_id)]

    @tool(reading)
    def kitaru_artifacts_get(exec_id: str, name: str) -> Any:
        """One stored value as JSON: a checkpoint id, or a saved artifact's name."""
        found = {a.name: a for a in client.artifacts.list(exec_id)}
        if name not in found:
            raise KitaruError(f"execution {exec_id} has no checkpoint or artifact {name!r}; "
                              f"it has: {', '.join(sorted(found)) or 'none yet'}")
        return found[name].plain()

    @tool(reading)
    def kitaru_flows_list() -> list[FlowRow]:
        """The flows this store has executions of, with how many wait."""
        rows: dict[str, FlowRow] = {}
        for info in client.executions.list():
            row = rows.setdefault(info.flow, FlowRow(
                flow=info.flow, executions=0, waiting=0,
                latest=info.created_at.isoformat(timespec="seconds")))
            row.executions += 1
            row.waiting += info.status == "waiting"
        return list(rows.values())

    @tool(writing)
    def kitaru_executions_input(exec_id: str, value: Any, wait: str | None = None
                                ) -> ExecutionInfo:
        """Answer the execution's wait (by default the one it waits on) and resume it."""
        name = wait or _waiting_on(client, exec_id)
        client.executions.input(exec_id, wait=name, value=value)
        return client.executions.get(exec_id)

    @tool(writing)
    def kitaru_executions_retry(exec_id: str) -> ExecutionInfo:
        """Retry a failed execution; finished checkpoints are reused."""
        client.executions.retry(exec_id)
        return client.executions.get(exec_id)

    @tool(writing)
    def kitaru_executions_replay(exec_id: str, at: str | None = None,
                                 overrides: dict[str, Any] | None = None) -> ExecutionInfo:
        """Replay an execution as a new one from checkpoint ``at``, with overrides
        (``input.<name>``, ``checkpoint.<id>``); everything upstream is reused."""
        handle = client.executions.replay(exec_id, at=at, overrides=overrides)
        return client.executions.get(handle.exec_id)

    @tool(ending)
    def kitaru_executions_cancel(exec_id: str) -> ExecutionInfo:
        """Cancel an execution (a running one stops at its next checkpoint)."""
        client.executions.cancel(exec_id)
        return client.executions.get(exec_id)

    return server


def _waiting_on(client: KitaruClient, exec_id: str) -> str:
    pending = client.executions.pending_waits(exec_id)
    if not pending:
        raise KitaruError(f"execution {exec_id} is not waiting for input")
    return pending[0].name


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
    parser.add_argument("--read-only", action="store_true",
                        help="serve only the tools that read (no input, retry, cancel, replay)")
    parser.add_argument("--http", action="store_true", help="streamable HTTP, not stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    try:
        server = build_server(args.store, read_only=args.read_only)
    except ImportError:
        print("kitaru-mcp: error: needs the mcp package: pip install 'kitaru[mcp]'",
              file=sys.stderr)
        return 1
    if args.http:
        server.run(transport="streamable-http", host=args.host, port=args.port)
    else:
        server.run(transport="stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
