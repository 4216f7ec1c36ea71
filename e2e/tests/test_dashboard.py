"""``kitaru ui --cluster`` in a real browser against the local control plane: the list of
Execution resources, one execution read from the store (S3 on moto), a wait answered
from its form (a bad value, then a good one) that the operator resumes, and the flows
page with versions and tags. The page acts with the user's kube credentials only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.polling import wait_until
from tests.ui.browser import PageErrors, chromium, dashboard

from operator_fixtures import AWS_ENV, BUCKET, Agents

ROOT = Path(__file__).resolve().parents[2]


def test_the_dashboard_drives_the_clusters_executions(agents: Agents, kubeconfig: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KITARU_NAMESPACE": agents.namespace,
           "AWS_ENDPOINT_URL": agents.endpoint, **AWS_ENV}
    env.pop("KITARU_STORE", None)
    subprocess.run(
        [sys.executable, "-m", "kitaru.cli", "deploy", "tests.sdk.sample_flows:review_flow",
         "--image", "kitaru-agent:dev", "--store", f"s3://{BUCKET}/{agents.namespace}",
         "--store-secret", "store-credentials", "--env", f"PYTHONPATH={ROOT}",
         "--env", f"KITARU_TEST_COUNTERS={agents.counters}", "--tag", "stable"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    name = subprocess.run(
        [sys.executable, "-m", "kitaru.cli", "invoke", "review-flow", "--input",
         '{"topic": "kelp"}'], cwd=ROOT, env=env, check=True, capture_output=True,
        text=True, timeout=120).stdout.strip()
    agents.wait_phase(name, "Waiting", timeout=180)

    with dashboard("--cluster", env=env) as ui, chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(30_000)
        errors = PageErrors(page)
        page.goto(ui.url)
        assert agents.namespace in page.get_by_test_id("where").inner_text()
        row = page.locator(f'[data-testid="execution-row"][data-exec-id="{name}"]')
        wait_until(lambda: "review" in row.inner_text(), what="the Execution in the list")
        assert "waiting" in row.inner_text()

        row.locator("a").first.click()
        wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "waiting",
                 what="the execution page")
        assert {n.get_attribute("data-node-id") for n in page.locator(
            '[data-testid="node"]').all()} >= {"research", "draft"}
        page.get_by_test_id("wait-raw-toggle").click()
        page.get_by_test_id("wait-raw").fill('{"approved": 1}')
        page.get_by_test_id("wait-submit").click()
        error = page.get_by_test_id("wait-error")
        wait_until(lambda: "must be a boolean" in error.inner_text(), what="the refusal")
        assert name in error.inner_text()
        assert agents.phase(name) == "Waiting"  # refused: nothing was patched

        page.get_by_test_id("wait-raw").fill('{"approved": true, "comment": "from the page"}')
        page.get_by_test_id("wait-submit").click()
        agents.wait_phase(name, "Succeeded", timeout=180)
        wait_until(lambda: page.get_by_test_id("status").inner_text().strip() == "completed",
                 timeout=60, what="the page to show it completed")

        page.goto(f"{ui.url}#/flows")
        flow = page.locator('[data-testid="flow-row"][data-flow="review-flow"]')
        wait_until(lambda: "stable" in flow.inner_text(), what="the flow's tags")
        assert page.locator('[data-testid="flow-executions"]').inner_text().count(name) == 1
        # Which version each execution ran, and where the tag points.
        ran = page.locator(f'[data-testid="flow-executions"] tr[data-exec-id="{name}"]')
        assert "v1" in ran.inner_text()
        assert "stable → v1" in flow.inner_text()
        assert errors.seen == []
