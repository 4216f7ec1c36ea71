"""Durable time on the cluster: a sleep and a wait timeout continue by themselves, with
no pod held meanwhile."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from operator_fixtures import Agents
from polling import wait_until

SAMPLE = "tests.sdk.sample_flows"


def _running_pods(agents: Agents) -> list[str]:
    return [p["metadata"]["name"] for p in agents.pods()
            if p["status"].get("phase") in ("Pending", "Running")]


def test_a_sleep_holds_no_pod_and_goes_on_by_itself(agents: Agents) -> None:
    agents.apply(agents.flow_version("nap-v1", f"{SAMPLE}:nap_flow"))
    agents.apply(agents.execution("nap-1", "nap-v1", input={"seconds": 5}))

    status = agents.wait_phase("nap-1", "Waiting", timeout=120)["status"]
    assert status["pendingWait"]["kind"] == "timer" and status["waitingOn"] == "sleep"
    assert status["pendingWait"]["deadline"]
    due = datetime.fromisoformat(status["pendingWait"]["deadline"].replace("Z", "+00:00"))
    wait_until(lambda: not _running_pods(agents), timeout=30, what="no pod while it sleeps")
    while datetime.now(UTC) < due - timedelta(seconds=1):  # until just before it is due
        assert not _running_pods(agents), "a pod ran while the execution slept"
        time.sleep(0.5)
    # It woke by itself and went on to the next wait.
    wait_until(lambda: (agents.get("nap-1").get("status") or {}).get("waitingOn") == "go",
               timeout=60, what="the run after the timer to reach the next wait")
    assert agents.runs_of("stamp_before") == 1 and agents.runs_of("stamp_after") == 1
    assert agents.events("TimerFired")


def test_a_wait_timeout_goes_on_by_itself_with_its_documented_outcome(
    agents: Agents,
) -> None:
    agents.apply(agents.flow_version("deadline-v1", f"{SAMPLE}:deadline_flow"))
    agents.apply(agents.execution("late-1", "deadline-v1",
                                  input={"with_default": False, "seconds": 5}))
    agents.apply(agents.execution("late-2", "deadline-v1",
                                  input={"with_default": True, "seconds": 5}))

    first = agents.wait_phase("late-1", "Succeeded", timeout=120)["status"]
    second = agents.wait_phase("late-2", "Succeeded", timeout=120)["status"]
    assert first["output"]["value"] == "timed out"  # the flow caught the timeout
    assert second["output"]["value"] == "answered False"  # the wait's default
    assert agents.events("WaitTimedOut")
