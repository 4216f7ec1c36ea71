"""Schedules on the local control plane: one Execution per slot, Forbid, and catching up
after the operator was away, with no slot fired twice."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from operator_fixtures import Agents, OperatorProcess
from polling import wait_until

SAMPLE = "tests.sdk.sample_flows"
ROOT = Path(__file__).resolve().parents[2]


def _schedule(agents: Agents, name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kitaru.ai/v1alpha1", "kind": "Schedule", "metadata": {"name": name},
            "spec": {"template": {"flowVersion": "diff-v1",
                                  "input": {"name": "kelp", "score": 1, "extra": False}},
                     **spec}}


def _fired(agents: Agents, schedule: str) -> list[str]:
    return sorted(j.split("/")[-1] for j in agents.kubectl(
        "get", "executions", "-n", agents.namespace, "-l", f"kitaru.ai/schedule={schedule}",
        "-o", "name").stdout.split())


def test_an_interval_schedule_starts_one_execution_per_slot(agents: Agents) -> None:
    agents.apply(agents.flow_version("diff-v1", f"{SAMPLE}:diff_flow"))
    agents.apply(_schedule(agents, "every", interval="4s", concurrencyPolicy="Allow",
                           successfulHistoryLimit=10))
    def three() -> list[str] | None:
        found = _fired(agents, "every")
        return found if len(found) >= 3 else None

    fired = wait_until(three, timeout=60, what="three slots to fire")
    stamps = [int(name.rsplit("-", 1)[1]) for name in fired]
    assert [b - a for a, b in itertools.pairwise(stamps)] == [4] * (len(stamps) - 1)
    for name in fired[:2]:
        assert agents.wait_phase(name, "Succeeded", timeout=120)["status"]["output"][
            "value"] == "kelp"
    status = json.loads(agents.kubectl("get", "schedule", "every", "-n", agents.namespace,
                                       "-o", "json").stdout)["status"]
    assert status["lastSlot"] and status["nextSlot"]
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in status["conditions"])


def test_forbid_skips_a_slot_while_the_previous_execution_runs(agents: Agents) -> None:
    agents.apply(agents.flow_version("wait-v1", f"{SAMPLE}:approval_flow"))
    agents.apply({"apiVersion": "kitaru.ai/v1alpha1", "kind": "Schedule",
                  "metadata": {"name": "ask"}, "spec": {
                      "interval": "3s", "template": {"flowVersion": "wait-v1",
                                                     "input": {"topic": "kelp"}}}})
    first = wait_until(lambda: _fired(agents, "ask"), timeout=60, what="the first slot")
    agents.wait_phase(first[0], "Waiting", timeout=120)  # still going: it waits
    time.sleep(7)  # two more slots pass
    assert _fired(agents, "ask") == first  # Forbid: skipped, not started
    assert any("concurrencyPolicy Forbid" in e["message"]
               for e in agents.events("SlotSkipped"))


def test_an_operator_away_across_slots_catches_up_per_policy_without_duplicates(
    agents: Agents, operator: OperatorProcess,
) -> None:
    agents.apply(agents.flow_version("diff-v1", f"{SAMPLE}:diff_flow"))
    agents.apply(_schedule(agents, "latest", interval="3s", concurrencyPolicy="Allow",
                           successfulHistoryLimit=50))
    agents.apply(_schedule(agents, "all", interval="3s", concurrencyPolicy="Allow",
                           catchupPolicy="All", successfulHistoryLimit=50))
    wait_until(lambda: _fired(agents, "latest") and _fired(agents, "all"), timeout=60,
               what="both schedules to fire once")
    operator.kill()
    before = {s: _fired(agents, s) for s in ("latest", "all")}
    time.sleep(10)  # three slots pass with no operator
    operator.start()
    time.sleep(6)
    after = {s: _fired(agents, s) for s in ("latest", "all")}
    new_latest = [n for n in after["latest"] if n not in before["latest"]]
    new_all = [n for n in after["all"] if n not in before["all"]]
    # Latest: one Execution for all the slots missed, then one per slot again.
    assert 1 <= len(new_latest) <= 3, new_latest
    # All: every missed slot (3), plus the ones since.
    assert len(new_all) >= 4, new_all
    for names in after.values():  # one Execution per slot, never two
        stamps = [int(n.rsplit("-", 1)[1]) for n in names]
        assert len(stamps) == len(set(stamps))


def test_the_schedules_cli_lists_triggers_suspends_and_resumes(
    agents: Agents, kubeconfig: Path,
) -> None:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KITARU_NAMESPACE": agents.namespace}

    def kitaru(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "kitaru.cli", "schedules", *args],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    agents.apply(agents.flow_version("diff-v1", f"{SAMPLE}:diff_flow"))
    agents.apply(_schedule(agents, "daily", schedules=["0 7 * * 1-5"],
                           timezone="Europe/Berlin"))
    wait_until(lambda: "daily" in kitaru("list") and "Z" in kitaru("list").split("daily")[1],
               timeout=30, what="its next slot in the listing")
    assert "0 7 * * 1-5" in kitaru("list")
    manual = kitaru("trigger", "daily").strip()
    assert manual.startswith("daily-manual-")
    assert agents.wait_phase(manual, "Succeeded", timeout=120)["status"]["output"][
        "value"] == "kelp"
    assert kitaru("suspend", "daily").strip() == "schedule daily: suspended"
    assert '"suspend": true' in kitaru("show", "daily")
    assert kitaru("resume", "daily").strip() == "schedule daily: resumed"
