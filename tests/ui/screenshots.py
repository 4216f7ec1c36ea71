"""Screenshots of the dashboard's main pages for the README: ``make screenshots``.

Runs a few real flows into a fresh store (one waiting on a review, one replayed with an
override, some finished), serves the dashboard over it and saves each page as a PNG in
``docs/screenshots/``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tests.polling import wait_until
from tests.ui.browser import ROOT, chromium, dashboard

OUT = ROOT / "docs" / "screenshots"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kitaru-screens-") as tmp:
        os.environ["KITARU_STORE"] = str(Path(tmp) / "store")
        os.environ["KITARU_TEST_COUNTERS"] = str(Path(tmp))
        from kitaru import KitaruClient
        from tests.sdk.sample_flows import diamond
        from tests.ui.ui_flows import quick, report

        for n in range(4):
            quick.run(n=n)
        source = diamond.run(x=1, label="left")
        source.wait(timeout=60)
        replayed = KitaruClient().executions.replay(
            source.exec_id, at="c", overrides={"input.label": "right"})
        replayed.wait(timeout=60)
        waiting = report.run(topic="kelp").exec_id
        OUT.mkdir(parents=True, exist_ok=True)
        with dashboard() as ui, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(ui.url)
            page.locator('[data-testid="execution-row"] >> nth=6').wait_until()
            page.screenshot(path=str(OUT / "executions.png"))
            page.goto(f"{ui.url}#/executions/{waiting}?checkpoint=summarize")
            wait_until(lambda: "summarized" in page.get_by_test_id(
                "checkpoint-detail").inner_text(), what="the checkpoint detail")
            wait_until(lambda: "run 1 ended" in page.get_by_test_id("logs").inner_text(),
                     what="the run's log")
            page.screenshot(path=str(OUT / "execution-waiting.png"), full_page=True)
            page.goto(f"{ui.url}#/executions/{replayed.exec_id}")
            page.locator('[data-testid="node"] >> nth=3').wait_until()
            wait_until(lambda: "run 1 ended" in page.get_by_test_id("logs").inner_text(),
                     what="the replay's log")
            page.screenshot(path=str(OUT / "replay-lineage.png"), full_page=True)
            page.goto(f"{ui.url}#/diff?a={source.exec_id}&b={replayed.exec_id}")
            page.locator('[data-testid="diff-row"] >> nth=3').wait_until()
            page.screenshot(path=str(OUT / "diff.png"), full_page=True)
    for made in sorted(OUT.glob("*.png")):
        print(f"wrote {made.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
