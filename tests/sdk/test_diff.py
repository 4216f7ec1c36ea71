"""``kitaru executions diff A B``: two executions compared checkpoint by checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kitaru import KitaruClient, KitaruUsageError
from tests.sdk.sample_flows import diff_flow

ROOT = Path(__file__).resolve().parents[2]


def test_same_changed_and_one_sided_checkpoints_with_the_values_that_differ(
    store_uri: str,
) -> None:
    a = diff_flow.run(name="kelp", score=1, extra=False)
    b = diff_flow.run(name="moss", score=1, extra=True)

    found = KitaruClient().executions.diff(a.exec_id, b.exec_id)

    assert [(c.id, c.state) for c in found.checkpoints] == [
        ("constant", "same"), ("profile", "changed"), ("bonus", "only_b")]
    changes = {c.path: (c.a, c.b) for c in found.checkpoints[1].changes}
    assert changes == {"$.name": ("kelp", "moss"), "$.tags[1]": ("ke", "mo")}

    shown = subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "diff",
                            a.exec_id, b.exec_id], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    assert '  $.name: "kelp" -> "moss"' in shown
    assert f"1 same, 1 changed, 0 only in {a.exec_id}, 1 only in {b.exec_id}" in shown
    as_json = subprocess.run([sys.executable, "-m", "kitaru.cli", "executions", "diff",
                              a.exec_id, b.exec_id, "-o", "json"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(as_json)["checkpoints"][2] == {
        "id": "bonus", "state": "only_b", "changes": [], "more_changes": 0}


def test_a_type_change_is_a_change_even_where_python_says_equal(store_uri: str) -> None:
    from kitaru.diff import json_changes

    assert [c.path for c in json_changes({"ok": True}, {"ok": 1})] == ["$.ok"]
    assert json_changes([1, {"x": None}], [1, {"x": None}]) == []
    (gone,) = json_changes({"a": 1, "b": 2}, {"a": 1})
    assert (gone.path, gone.in_a, gone.in_b) == ("$.b", True, False)


def test_an_unknown_execution_is_named(store_uri: str) -> None:
    a = diff_flow.run(name="kelp", score=1, extra=False)
    with pytest.raises(KitaruUsageError, match="no execution 'nope'"):
        KitaruClient().executions.diff(a.exec_id, "nope")
