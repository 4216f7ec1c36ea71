"""``kitaru-mcp`` driven in-process by the ``mcp`` package's own client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from mcp import Client

from kitaru.mcp_server import build_server
from tests.sdk.sample_flows import approval_flow, diff_flow


def call(server: Any, tool: str, **arguments: Any) -> Any:
    async def go() -> Any:
        async with Client(server) as client:
            return await client.call_tool(tool, arguments)
    return asyncio.run(go())


def tools(server: Any) -> dict[str, Any]:
    async def go() -> Any:
        async with Client(server) as client:
            return {t.name: t for t in (await client.list_tools()).tools}
    return asyncio.run(go())


def test_list_answer_a_wait_and_read_an_artifact(store_uri: str, counters: Path) -> None:
    handle = approval_flow.run(topic="kelp")
    server = build_server()

    listed = call(server, "kitaru_executions_list", status="waiting")
    assert not listed.is_error
    (row,) = listed.structured_content["result"]
    assert (row["exec_id"], row["waiting_on"]) == (handle.exec_id, "approve")

    answered = call(server, "kitaru_executions_input", exec_id=handle.exec_id, value=True)
    assert not answered.is_error
    assert handle.wait(timeout=60) == "published Draft: notes on kelp"

    value = call(server, "kitaru_artifacts_get", exec_id=handle.exec_id, name="research")
    assert not value.is_error
    assert "notes on kelp" in json.dumps(value.structured_content or value.content[0].text)
    info = call(server, "kitaru_executions_get", exec_id=handle.exec_id)
    assert info.structured_content["status"] == "completed"


def test_a_bad_answer_is_the_clis_one_line_and_leaves_the_execution_waiting(
    store_uri: str, counters: Path,
) -> None:
    handle = approval_flow.run(topic="kelp")
    refused = call(build_server(), "kitaru_executions_input", exec_id=handle.exec_id,
                   value="yes")
    assert refused.is_error
    assert "input for wait 'approve' must be a boolean" in refused.content[0].text
    assert "Traceback" not in refused.content[0].text
    info = call(build_server(), "kitaru_executions_get", exec_id=handle.exec_id)
    assert info.structured_content["status"] == "waiting"


def test_read_only_mode_serves_no_tool_that_writes(store_uri: str, counters: Path) -> None:
    handle = approval_flow.run(topic="kelp")
    server = build_server(read_only=True)

    served = tools(server)
    assert "kitaru_executions_input" not in served and "kitaru_executions_cancel" not in served
    assert all(t.annotations.read_only_hint for t in served.values())
    refused = call(server, "kitaru_executions_input", exec_id=handle.exec_id, value=True)
    assert refused.is_error
    writing = tools(build_server())
    assert writing["kitaru_executions_cancel"].annotations.destructive_hint
    assert writing["kitaru_executions_get"].input_schema["required"] == ["exec_id"]


def test_diff_and_flows_through_the_server(store_uri: str) -> None:
    a = diff_flow.run(name="kelp", score=1, extra=False)
    b = diff_flow.run(name="moss", score=2, extra=False)
    found = call(build_server(), "kitaru_executions_diff", exec_a=a.exec_id, exec_b=b.exec_id)
    states = {c["id"]: c["state"] for c in found.structured_content["checkpoints"]}
    assert states == {"constant": "same", "profile": "changed"}
    flows = call(build_server(), "kitaru_flows_list").structured_content["result"]
    assert [(f["flow"], f["executions"]) for f in flows] == [("diff_flow", 2)]


def test_the_stdio_server_a_local_agent_starts(store_uri: str, counters: Path) -> None:
    import sys

    from mcp import StdioServerParameters

    handle = approval_flow.run(topic="kelp")
    command = StdioServerParameters(command=sys.executable,
                                    args=["-m", "kitaru.mcp_server", "--read-only"],
                                    env={"KITARU_STORE": store_uri},
                                    cwd=str(Path(__file__).resolve().parents[2]))
    got = call(command, "kitaru_executions_get", exec_id=handle.exec_id)
    assert got.structured_content["pending_wait"]["name"] == "approve"


def test_the_http_server_answers_a_wait_and_stops_on_ctrl_c(store_uri: str,
                                                           counters: Path) -> None:
    """``kitaru-mcp --http``, as run next to a cluster: an agent connects by URL, answers
    a wait, and the execution finishes; Ctrl-C (SIGINT) then stops the server cleanly."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    from tests.polling import wait_until
    from tests.stores.emulators import free_port

    handle = approval_flow.run(topic="kelp")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "kitaru.mcp_server", "--http", "--port", str(port)],
        env={**os.environ, "KITARU_STORE": store_uri},
        cwd=str(Path(__file__).resolve().parents[2]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0
        wait_until(lambda: listening() or server.poll() is not None, timeout=30,
                   what="the server to listen")
        assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
        url = f"http://127.0.0.1:{port}/mcp"

        assert "kitaru_executions_input" in tools(url)
        answered = call(url, "kitaru_executions_input", exec_id=handle.exec_id, value=True)
        assert not answered.is_error, answered.content
        assert handle.wait(timeout=60) == "published Draft: notes on kelp"
        info = call(url, "kitaru_executions_get", exec_id=handle.exec_id)
        assert info.structured_content["status"] == "completed"
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=20)[0].decode(errors="replace")
    assert server.returncode in (0, -signal.SIGINT, 130), output
    assert "Traceback" not in output, output
