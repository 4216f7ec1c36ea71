"""Journals written by earlier versions must stay readable and resumable.

``tests/golden/`` holds stores committed as they were written. Never regenerate them to
make a test pass: a failure here means a format change broke existing executions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kitaru import KitaruClient
from tests.sdk.sample_flows import runs_of

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def test_v1_waiting_execution_is_read_answered_and_finished(
    tmp_path: Path, counters: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(GOLDEN / "v1-approval-waiting", store)
    client = KitaruClient(str(store))

    info = client.executions.get("golden-approval-v1")
    assert info.status == "waiting"
    assert [c.id for c in info.checkpoints] == ["research", "draft"]

    handle = client.executions.input("golden-approval-v1", wait="approve", value=True)

    assert handle.wait(timeout=60) == "published Draft: notes on golden"
    assert (runs_of(counters, "research"), runs_of(counters, "draft"),
            runs_of(counters, "publish")) == (0, 0, 1)
