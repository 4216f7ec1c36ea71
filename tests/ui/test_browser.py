"""The dashboard in a real browser over a local store: list, one execution, the lineage
graph, answering a wait (a bad value, then a good one), cancel, replay and diff."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kitaru import KitaruClient
from tests.polling import wait_until
from tests.sdk.sample_flows import diamond, fails_until_fixed, gate, three_steps
from tests.ui.browser import Dashboard, PageErrors, chromium, dashboard
from tests.ui.ui_flows import quick, report


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def ui(store_uri: str, counters: Path) -> Iterator[Dashboard]:
    with dashboard(env=dict(os.environ)) as running:
        yield running


@pytest.fixture
def page(browser: Any, ui: Dashboard) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    errors = PageErrors(opened)
    yield opened
    context.close()
    assert errors.seen == []


def rows(page: Any) -> list[str]:
    return [str(r.get_attribute("data-exec-id"))
            for r in page.locator('[data-testid="execution-row"]').all()]


def test_the_list_filters_counts_and_follows_new_executions(page: Any, ui: Dashboard) -> None:
    waiting = report.run(topic="kelp").exec_id
    done = quick.run(n=3).exec_id
    page.goto(ui.url)
    wait_until(lambda: set(rows(page)) == {waiting, done}, what="both rows")
    assert page.get_by_test_id("count-waiting").inner_text().strip().endswith("1")
    assert "1" in page.get_by_test_id("count-completed").inner_text()

    page.get_by_test_id("filter-status").select_option("waiting")
    wait_until(lambda: rows(page) == [waiting], what="only the waiting row")
    assert "status=waiting" in page.evaluate("location.hash")
    page.reload()  # the filter is kept in the address
    wait_until(lambda: rows(page) == [waiting], what="the filter after a reload")
    row = page.locator(f'[data-exec-id="{waiting}"]')
    assert "review" in row.inner_text()

    page.get_by_test_id("filter-status").select_option("")
    later = quick.run(n=4).exec_id  # started after the page loaded: it shows up by itself
    wait_until(lambda: rows(page)[:1] == [later], what="the new execution, live")
    page.get_by_test_id("filter-flow").select_option("report")
    wait_until(lambda: rows(page) == [waiting], what="the flow filter")


def test_one_execution_shows_its_runs_graph_values_and_usage(page: Any, ui: Dashboard) -> None:
    handle = report.run(topic="kelp")
    page.goto(ui.url)
    page.locator(f'[data-exec-id="{handle.exec_id}"] a').first.click()
    wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "waiting",
             what="the execution page")
    assert page.locator('[data-testid="run"]').count() == 1
    usage = page.get_by_test_id("usage").inner_text()
    assert "120" in usage and "30" in usage and "$0.0015" in usage

    nodes = page.locator('[data-testid="lineage"] [data-testid="node"]')
    assert {n.get_attribute("data-node-id") for n in nodes.all()} >= {
        "fetch", "summarize", "render"}
    page.locator('[data-testid="node"][data-node-id="fetch"]').click()
    detail = page.get_by_test_id("checkpoint-detail")
    wait_until(lambda: "everything about kelp" in page.get_by_test_id(
        "checkpoint-value").inner_text(), what="the fetch value")
    page.locator('[data-testid="checkpoint-row"][data-checkpoint-id="summarize"]').click()
    wait_until(lambda: "summarized" in detail.inner_text(), what="the summarize metadata")
    page.locator('[data-testid="node"][data-node-id="render"]').click()
    link = page.get_by_test_id("checkpoint-download")
    with page.expect_download() as caught:
        link.click()
    saved = Path(caught.value.path())
    assert saved.read_bytes() == b"Summary: everything about kelp\x00\xff"
    assert "fetching kelp" in page.get_by_test_id("logs").inner_text()


def test_a_wait_is_answered_from_its_form_a_bad_value_first(page: Any, ui: Dashboard) -> None:
    handle = report.run(topic="kelp")
    page.goto(f"{ui.url}#/executions/{handle.exec_id}")
    form = page.get_by_test_id("wait-form")
    assert "Approve the summary?" in page.get_by_test_id("wait").inner_text()
    assert form.get_by_test_id("field-value.approved").count() >= 1
    assert form.get_by_test_id("field-value.comment").count() == 1

    page.get_by_test_id("wait-raw-toggle").click()
    page.get_by_test_id("wait-raw").fill('{"approved": "yes"}')
    page.get_by_test_id("wait-submit").click()
    error = page.get_by_test_id("wait-error")
    wait_until(lambda: "must be a boolean" in error.inner_text(), what="the refusal")
    assert error.inner_text().strip() == (
        f"execution {handle.exec_id}: input for wait 'review.approved' must be a boolean, "
        'got "yes"')
    assert KitaruClient().executions.get(handle.exec_id).status == "waiting"

    page.get_by_test_id("wait-raw-toggle").click()  # back to the generated form
    approved = form.get_by_test_id("field-value.approved")
    if approved.first.evaluate("e => e.tagName") == "SELECT":
        approved.first.select_option("true")
    else:
        form.locator('[data-testid="field-value.approved"][value="true"]').check()
    form.get_by_test_id("field-value.comment").fill("ship it")
    page.get_by_test_id("wait-submit").click()
    wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "completed",
             timeout=60, what="the resumed execution to complete")
    assert handle.wait(timeout=5) == (
        "Summary: everything about kelp [approved: ship it]")
    assert page.locator('[data-testid="run"]').count() == 2


def test_cancel_replay_with_an_override_and_diff_from_the_page(page: Any, ui: Dashboard) -> None:
    waiting = report.run(topic="kelp").exec_id
    page.goto(f"{ui.url}#/executions/{waiting}")
    page.get_by_test_id("cancel").click()
    wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "cancelled",
             what="the cancel")

    source = diamond.run(x=1, label="left")
    source.wait(timeout=60)
    page.goto(f"{ui.url}#/executions/{source.exec_id}")
    page.get_by_test_id("replay-open").click()
    page.get_by_test_id("replay-at").select_option("c")
    page.get_by_test_id("replay-overrides").fill('{"input.nope": 1}')
    page.get_by_test_id("replay-submit").click()
    wait_until(lambda: "nope" in page.get_by_test_id("action-error").inner_text(),
             what="the refused override")
    page.get_by_test_id("replay-overrides").fill('{"input.label": "right"}')
    page.get_by_test_id("replay-submit").click()
    # (Playwright's page.url can miss a change of the hash alone: read it from the page.)
    wait_until(lambda: source.exec_id not in page.evaluate("location.hash"),
             what="the replay's page")
    replay_id = str(page.evaluate("location.hash")).rsplit("/", 1)[1]
    wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "completed",
             timeout=60, what="the replay to complete")
    sources = {r.get_attribute("data-checkpoint-id"): r.inner_text()
               for r in page.locator('[data-testid="checkpoint-row"]').all()}
    assert "replay" in sources["a"] and "run" in sources["c"]
    assert "replay root" in sources["c"] and "ran again" in sources["d"]
    roles = {n.get_attribute("data-node-id"): n.get_attribute("data-replay")
             for n in page.locator('[data-testid="node"]').all()}
    assert roles == {"a": "", "b": "", "c": "root", "d": "rerun"}

    page.goto(ui.url)
    for exec_id in (source.exec_id, replay_id):
        page.locator(f'[data-exec-id="{exec_id}"] [data-testid="pick"]').check()
    page.get_by_test_id("compare").click()
    diff = page.locator('[data-testid="diff-row"]')
    wait_until(lambda: diff.count() == 4, what="the diff rows")
    states = {r.get_attribute("data-checkpoint-id"): r.get_attribute("data-state")
              for r in diff.all()}
    assert states == {"a": "same", "b": "same", "c": "changed", "d": "changed"}
    changed = page.locator('[data-testid="diff-row"][data-checkpoint-id="c"]').inner_text()
    assert "LEFT" in changed and "RIGHT" in changed

    page.goto(f"{ui.url}#/flows")
    flow_row = page.locator('[data-testid="flow-row"][data-flow="diamond"]')
    wait_until(lambda: "2" in flow_row.inner_text(), what="the flows page")


def test_markup_in_values_and_logs_is_shown_as_text_and_never_runs(
        page: Any, ui: Dashboard) -> None:
    topic = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    handle = report.run(topic=topic)
    page.goto(f"{ui.url}#/executions/{handle.exec_id}?checkpoint=fetch")
    wait_until(lambda: "onerror" in page.get_by_test_id("checkpoint-value").inner_text(),
             what="the value, as text")
    wait_until(lambda: "<script>" in page.get_by_test_id("logs").inner_text(),
             what="the log, as text")
    assert page.evaluate("window.pwned") is None
    assert page.locator("main img").count() == 0


def test_a_running_execution_is_followed_and_a_failed_one_retried(
        page: Any, ui: Dashboard) -> None:
    runner = threading.Thread(target=three_steps.run, daemon=True)
    runner.start()
    wait_until(gate("slow-started").exists, what="the run to reach its slow step")
    (running,) = KitaruClient().executions.list(status="running")
    page.goto(f"{ui.url}#/executions/{running.exec_id}")
    logs = page.get_by_test_id("logs")
    wait_until(lambda: "checkpoint slow_step: ran" in logs.inner_text(),
             what="the live run's log so far")
    assert page.get_by_test_id("status").inner_text().strip() == "running"
    gate("slow-release").write_text("go")
    wait_until(lambda: "run 1 ended: succeeded" in logs.inner_text(), timeout=30,
             what="the end of the run, followed")
    wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "completed",
             what="completed")
    runner.join(timeout=10)
    # Followed piece by piece, the page shows the log once, as the store has it whole.
    assert logs.inner_text().strip() == KitaruClient().executions.logs(
        running.exec_id).strip()

    failed = fails_until_fixed.run(x=1)
    page.goto(f"{ui.url}#/executions/{failed.exec_id}")
    wait_until(lambda: "the tool is down" in page.locator("main").inner_text(),
             what="the error")
    gate("fixed").write_text("yes")
    page.get_by_test_id("retry").click()
    wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "completed",
             timeout=60, what="the retried execution to complete")
    runs = page.locator('[data-testid="run"]')
    assert runs.count() == 2
    assert "retry" in runs.nth(1).inner_text()
