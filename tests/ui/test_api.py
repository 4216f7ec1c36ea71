"""The dashboard's JSON API: what the page reads, and every write it can make."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kitaru import KitaruClient
from kitaru.cli import main
from kitaru.planes import LocalPlane
from kitaru.ui.server import CSRF_HEADER, create_app
from tests.sdk.sample_flows import approval_flow, diamond
from tests.ui.ui_flows import quick, report


def until(api: TestClient, exec_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        info: dict[str, Any] = api.get(f"/api/executions/{exec_id}").json()["info"]
        if info["status"] == status or time.monotonic() > deadline:
            assert info["status"] == status, info
            return info
        time.sleep(0.1)


def test_the_list_counts_filters_and_pages(api: TestClient) -> None:
    waiting = report.run(topic="kelp").exec_id
    done = [quick.run(n=n).exec_id for n in range(3)]

    every = api.get("/api/executions").json()
    assert every["counts"] == {"running": 0, "waiting": 1, "completed": 3, "failed": 0,
                               "cancelled": 0}
    assert [r["exec_id"] for r in every["executions"]] == [*reversed(done), waiting]
    assert every["flows"] == ["quick", "report"]
    assert every["executions"][-1]["waiting_on"] == "review"

    assert [r["exec_id"] for r in api.get("/api/executions?waiting=1").json()["executions"]
            ] == [waiting]
    by_flow = api.get("/api/executions?flow=quick&limit=2&offset=1").json()
    assert by_flow["total"] == 3
    assert [r["exec_id"] for r in by_flow["executions"]] == [done[1], done[0]]
    assert by_flow["counts"]["waiting"] == 1  # counts are over every execution
    assert api.get("/api/executions?status=completed").json()["total"] == 3

    refused = api.get("/api/executions?limit=lots")
    assert refused.status_code == 400
    assert refused.json() == {"error": "query parameter 'limit' must be a whole number, "
                              "got 'lots'"}


def test_one_execution_has_its_runs_lineage_values_and_usage(api: TestClient) -> None:
    handle = report.run(topic="kelp")
    shown = api.get(f"/api/executions/{handle.exec_id}").json()
    info = shown["info"]
    assert [c["id"] for c in info["checkpoints"]] == ["fetch", "summarize", "render"]
    summarize = info["checkpoints"][1]
    assert summarize["metadata"]["note"] == "summarized"
    assert summarize["duration_s"] is not None and summarize["duration_s"] >= 0
    assert info["usage"] == {"calls": 1, "input_tokens": 120, "output_tokens": 30,
                             "cost_usd": 0.0015, "models": ["gpt-test"]}
    wait = info["pending_wait"]
    assert (wait["name"], wait["question"]) == ("review", "Approve the summary?")
    assert wait["schema"]["properties"]["approved"]["type"] == "boolean"
    (run,) = shown["timeline"]
    assert (run["run"], run["reason"], run["ended"], run["wait"]) == (1, "start", "waiting",
                                                                      "review")
    edges = {(e["from"], e["to"]) for e in shown["lineage"]["edges"]}
    assert edges == {("input:topic", "fetch"), ("fetch", "summarize"),
                     ("summarize", "render")}
    kinds = {n["id"]: n["kind"] for n in shown["lineage"]["nodes"]}
    assert kinds == {"fetch": "checkpoint", "summarize": "checkpoint",
                     "render": "checkpoint", "input:topic": "input"}

    base = f"/api/executions/{handle.exec_id}/checkpoints"
    assert api.get(f"{base}/fetch/value").json()["value"] == {
        "topic": "kelp", "text": "everything about kelp"}
    text = api.get(f"{base}/summarize/value").json()
    assert (text["kind"], text["value"]) == ("text", "Summary: everything about kelp")
    raw = api.get(f"{base}/render/value").json()
    assert (raw["kind"], raw["value"]) == ("bytes", None)
    download = api.get(raw["download"])
    assert download.content == b"Summary: everything about kelp\x00\xff"
    assert download.headers["content-disposition"] == 'attachment; filename="render.bin"'
    missing = api.get(f"{base}/nope/value")
    assert missing.status_code == 400
    assert "has no checkpoint or artifact 'nope'" in missing.json()["error"]
    assert api.get("/api/executions/no-such-id").json() == {
        "error": f"no execution 'no-such-id' in store {KitaruClient().store.uri}"}


def test_a_bad_answer_is_refused_as_the_cli_refuses_it_and_a_good_one_resumes(
        api: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    handle = report.run(topic="kelp")
    url = f"/api/executions/{handle.exec_id}/answer"

    bad = api.post(url, json={"wait": "review", "value": {"approved": "yes"}})
    assert bad.status_code == 400
    capsys.readouterr()
    assert main(["executions", "input", handle.exec_id, "--value", '{"approved": "yes"}']) == 1
    assert capsys.readouterr().err == f"kitaru: error: {bad.json()['error']}\n"
    assert "'review.approved' must be a boolean" in bad.json()["error"]
    assert until(api, handle.exec_id, "waiting")["pending_wait"]["name"] == "review"

    good = api.post(url, json={"wait": "review", "value": {"approved": True,
                                                          "comment": "fine"}})
    assert good.json() == {"exec_id": handle.exec_id}
    done = until(api, handle.exec_id, "completed")
    assert done["output"] == "Summary: everything about kelp [approved: fine]"
    runs = api.get(f"/api/executions/{handle.exec_id}").json()["timeline"]
    assert [(r["reason"], r["ended"]) for r in runs] == [("start", "waiting"),
                                                        ("input", "succeeded")]
    again = api.post(url, json={"wait": "review", "value": {"approved": False}})
    assert again.status_code == 409
    assert "not waiting" in again.json()["error"]


def test_writes_need_the_sessions_token_and_the_servers_own_host(
        store_uri: str, api: TestClient, counters: Path) -> None:
    handle = approval_flow.run(topic="kelp")
    url = f"/api/executions/{handle.exec_id}/cancel"
    forged = api.post(url, json={}, headers={CSRF_HEADER: "guessed"})
    assert forged.status_code == 403
    assert "X-Kitaru-CSRF" in forged.json()["error"]
    rebound = api.get("/api/executions", headers={"host": "evil.example:8790"})
    assert rebound.status_code == 400
    assert until(api, handle.exec_id, "waiting")

    page = api.get("/")
    assert '<meta name="kitaru-csrf" content="test-token">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    read_only = TestClient(create_app(LocalPlane(store_uri), read_only=True, token="t"),
                           base_url="http://127.0.0.1", headers={CSRF_HEADER: "t"})
    refused = read_only.post(url, json={})
    assert (refused.status_code, refused.json()) == (
        403, {"error": "the dashboard was started with --read-only"})
    assert api.post(url, json={}).json() == {"exec_id": handle.exec_id}
    assert until(api, handle.exec_id, "cancelled")


def test_replay_retry_diff_and_flows(api: TestClient, counters: Path) -> None:
    source = diamond.run(x=1, label="left")
    source.wait(timeout=60)
    url = f"/api/executions/{source.exec_id}"

    unknown = api.post(f"{url}/replay", json={"at": "b", "overrides": {"input.nope": 1}})
    assert unknown.status_code == 400
    assert "nope" in unknown.json()["error"]
    replayed = api.post(f"{url}/replay", json={"at": "c", "overrides": {"input.label": "right"}})
    new_id = replayed.json()["exec_id"]
    info = until(api, new_id, "completed")
    assert info["output"] == "RIGHT:2"
    assert info["replay_of"] == source.exec_id
    sources = {c["id"]: c["source"] for c in info["checkpoints"]}
    assert sources == {"a": "replay", "b": "replay", "c": "run", "d": "run"}
    lineage = api.get(f"/api/executions/{new_id}").json()["lineage"]
    roles = {n["id"]: n["replay"] for n in lineage["nodes"] if n["kind"] == "checkpoint"}
    assert roles == {"a": None, "b": None, "c": "root", "d": "rerun"}

    diff = api.get(f"/api/diff?a={source.exec_id}&b={new_id}").json()
    states = {c["id"]: c["state"] for c in diff["checkpoints"]}
    assert states == {"a": "same", "b": "same", "c": "changed", "d": "changed"}
    (change,) = next(c for c in diff["checkpoints"] if c["id"] == "c")["changes"]
    assert (change["a"], change["b"]) == ("LEFT", "RIGHT")
    assert api.get("/api/diff?a=x").json() == {
        "error": "name two executions to compare: ?a=<id>&b=<id>"}

    retried = api.post(f"{url}/retry", json={})
    assert retried.status_code == 409
    assert "only a failed execution can be retried" in retried.json()["error"]

    flows = api.get("/api/flows").json()
    assert flows["flows"] == [{"flow": "diamond", "executions": 2, "versions": [],
                               "tags": {}}]
    assert {r["exec_id"] for r in flows["executions"]} == {source.exec_id, new_id}


def test_logs_are_read_from_a_cursor(api: TestClient) -> None:
    handle = report.run(topic="kelp")
    url = f"/api/executions/{handle.exec_id}/logs"
    first = api.get(url).json()
    assert "fetching kelp" in first["text"]
    assert first["running"] is False
    rest = api.get(url, params={"cursor": first["cursor"]}).json()
    assert (rest["text"], rest["cursor"]) == ("", first["cursor"])
    refused = api.get(url, params={"cursor": "12 parts"})
    assert refused.status_code == 400
    assert refused.json() == {"error": "log cursor '12 parts' was not made by Kitaru; read "
                                       "the logs again without it to start from the beginning"}
