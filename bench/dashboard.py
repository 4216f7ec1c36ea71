"""The dashboard over a big local store, in headless Chromium.

Figures, each against a baseline measured in the same run:

- The executions list's first screen (its first 50 rows drawn) with 10,000 executions in
  the store, as a ratio against ``kitaru executions list --limit 50`` on the same store
  (the whole command, from process start). Target: at most 3x. Measured on a dashboard
  process started fresh for each sample (nothing listed yet: it reads all 10,000, as the
  CLI does), and again on one that has listed before (finished executions are kept).
- The lineage graph of a 500-checkpoint execution: the page's own time to lay it out
  and draw it (``window.kitaruLineageDrawMs``), and from opening the page to the graph
  on screen.

The store is written straight to a folder (what runs would leave), so seeding 10,000
executions takes seconds, not hours.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.ui.browser import ROOT, Dashboard, chromium

from kitaru.journal import ExecutionStore, store_value
from kitaru.records import (
    CheckpointRecord,
    ErrorInfo,
    ExecutionSpec,
    RunOutcome,
    RunStart,
    WaitInfo,
)
from kitaru.serialization import encode
from kitaru.stores import open_store

FIRST_SCREEN = 50


def seed(store_dir: Path, count: int) -> None:
    """``count`` executions of three flows: mostly completed, some waiting or failed."""
    store = open_store(str(store_dir))
    output = store_value(store, encode({"answer": 42}, allow_pickle=False, where="seed"))
    start = datetime(2026, 11, 1, tzinfo=UTC)

    def one(i: int) -> None:
        flow = ("research", "triage", "report")[i % 3]
        journal = ExecutionStore(store, f"{flow}-{i:08d}")
        created = start + timedelta(seconds=i)
        journal.create(ExecutionSpec(exec_id=journal.exec_id, flow=flow,
                                     entrypoint=f"agents:{flow}", created_at=created))
        journal.claim_run(RunStart(run=1, pid=1, host="seeded", started_at=created))
        if i % 10 == 0:
            journal.finish_run(RunOutcome(run=1, outcome="waiting", wait=WaitInfo(
                name="approve", question="Go?", schema={"type": "boolean"})))
        elif i % 17 == 0:
            journal.finish_run(RunOutcome(run=1, outcome="failed", error=ErrorInfo(
                type="RuntimeError", message="the tool is down", origin="user_code")))
        else:
            journal.finish_run(RunOutcome(run=1, outcome="succeeded", output=output))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def seed_graph(store_dir: Path, checkpoints: int) -> str:
    """One execution whose checkpoints form a wide, deep lineage graph."""
    store = open_store(str(store_dir))
    journal = ExecutionStore(store, "graph-00000001")
    journal.create(ExecutionSpec(exec_id=journal.exec_id, flow="graph",
                                 entrypoint="agents:graph"))
    journal.claim_run(RunStart(run=1, pid=1, host="seeded"))
    value = store_value(store, encode({"text": "a result"}, allow_pickle=False, where="seed"))
    now = datetime.now(UTC)
    for i in range(checkpoints):
        # Ten lanes side by side; every fifth call also reads from the lane next to it.
        parents = [f"step_{i - 10}"] if i >= 10 else ["input:topic"]
        if i % 5 == 0 and i >= 11:
            parents.append(f"step_{i - 11}")
        journal.commit(CheckpointRecord(
            id=f"step_{i}", seq=i, name="step", value=value, parents=parents, run=1,
            started_at=now, finished_at=now))
    journal.finish_run(RunOutcome(run=1, outcome="succeeded", output=value))
    return journal.exec_id


def cli_list_seconds(store_dir: Path, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "list", "--limit",
                        str(FIRST_SCREEN), "--store", str(store_dir)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ))
        times.append(time.perf_counter() - began)
    return times


def first_screen_seconds(page: Any, url: str) -> float:
    began = time.perf_counter()
    page.goto(url)
    page.locator(f'[data-testid="execution-row"] >> nth={FIRST_SCREEN - 1}').wait_for()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--small", action="store_true",
                        help="1,000 executions and a 100-checkpoint graph")
    args = parser.parse_args(argv)
    count, checkpoints, samples = (1_000, 100, 3) if args.small else (10_000, 500, 5)

    with tempfile.TemporaryDirectory(prefix="kitaru-bench-ui-") as tmp:
        store_dir = Path(tmp) / "store"
        began = time.perf_counter()
        seed(store_dir, count)
        graph = seed_graph(store_dir, checkpoints)
        print(f"seeded {count:,} executions and a {checkpoints}-checkpoint one in "
              f"{time.perf_counter() - began:.1f} s")
        env = {**os.environ, "KITARU_STORE": str(store_dir)}
        cli = cli_list_seconds(store_dir, samples)
        cold, warm = [], []
        with chromium() as browser:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            for _ in range(samples):
                ui = Dashboard([], env)
                try:
                    cold.append(first_screen_seconds(page, ui.url))
                    warm.append(first_screen_seconds(page, ui.url))
                finally:
                    ui.stop()
            ui = Dashboard([], env)
            try:
                draws, shown = [], []
                for _ in range(samples):
                    page.goto("about:blank")
                    began = time.perf_counter()
                    page.goto(f"{ui.url}#/executions/{graph}")
                    page.locator(f'[data-testid="node"][data-node-id="step_{checkpoints - 1}"]'
                                 ).wait_for(state="attached")
                    shown.append(time.perf_counter() - began)
                    draws.append(float(page.evaluate("window.kitaruLineageDrawMs")))
            finally:
                ui.stop()

    base = statistics.median(cli)
    print(f"kitaru executions list --limit {FIRST_SCREEN} ({count:,} executions): "
          f"median {base:.3f} s (min {min(cli):.3f}, max {max(cli):.3f})")
    for label, times in (("fresh dashboard", cold), ("dashboard that listed before", warm)):
        middle = statistics.median(times)
        print(f"list page, first {FIRST_SCREEN} rows drawn, {label}: median {middle:.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f})   {middle / base:5.2f}x the CLI "
              "(target at most 3x)")
    print(f"lineage graph of {checkpoints} checkpoints: drawn in median "
          f"{statistics.median(draws):.0f} ms (max {max(draws):.0f}); page opened to graph "
          f"on screen median {statistics.median(shown):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
