"""A zombie: a run pod the operator gave up on keeps running beside the newer run.

Its Job is deleted with ``--cascade=orphan`` while the pod is inside a checkpoint body,
as when a node is cut off and its pods' Jobs are cleaned up: the operator counts the run
as lost and starts the next one, and the old process goes on. Whichever of the two
commits a checkpoint first, both must go on from the same committed values, and the
execution's output must be what its journal says: create-if-absent, proven through the
whole flow rather than the store call alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faults import SAMPLE, process_ended
from operator_fixtures import Agents
from polling import wait_until


def bodies(agents: Agents, label: str) -> list[tuple[str, str]]:
    """(checkpoint, run) of each body start of the execution ``label``."""
    path = agents.counters / "bodies"
    if not path.exists():
        return []
    return [(cp, run) for lab, cp, run in (line.split() for line in path.read_text().splitlines())
            if lab == label]


def zombie_pid(agents: Agents, cluster_paths: dict[str, Path], job: str) -> int:
    (record,) = cluster_paths["state"].glob(f"kubelet/pods/{agents.namespace}_{job}-*/*/pid")
    return int(record.read_text().split()[0])


@pytest.mark.parametrize("first", ["newer", "zombie"])
def test_a_zombie_run_beside_a_newer_one_changes_nothing_it_sees(
    agents: Agents, cluster_paths: dict[str, Path], first: str
) -> None:
    name = f"zombie-{first}"
    agents.apply(agents.flow_version("zombie-v1", f"{SAMPLE}:zombie_flow"))
    agents.apply(agents.execution(name, "zombie-v1", input={"label": name}))
    wait_until(lambda: ("zombie_a", "1") in bodies(agents, name), timeout=120,
               what="run 1 to be inside the first checkpoint")
    pid = zombie_pid(agents, cluster_paths, f"{name}-r1")
    agents.kubectl("delete", "job", f"{name}-r1", "-n", agents.namespace, "--cascade=orphan")
    wait_until(lambda: ("zombie_a", "2") in bodies(agents, name), timeout=120,
               what="the operator to start run 2 beside the zombie")
    assert Path(f"/proc/{pid}").exists(), "the zombie must still be running"

    order = ["2", "1"] if first == "newer" else ["1", "2"]
    for run in order:  # let one commit the first checkpoint, then the other
        agents.gate(f"{name}-a-{run}").write_text("go")
        if run == "1":
            wait_until(lambda: process_ended(pid), timeout=60, what="the zombie to finish")
        else:
            agents.wait_phase(name, "Succeeded", timeout=120)
    status = agents.wait_phase(name, "Succeeded")["status"]

    journal = {a.name: a.plain() for a in agents.store_client().artifacts.list(
        status["executionId"]) if a.kind == "checkpoint"}
    winner = order[0]  # the run whose body committed the first checkpoint
    assert journal["zombie_a"] == f"a from run {winner}"
    # The second checkpoint was fed the committed value, whoever computed it.
    assert journal["zombie_b"].startswith(f"b(a from run {winner}) in run ")
    assert status["output"]["value"] == journal["zombie_b"]  # the output is the journal's
    assert [cp for cp, _ in bodies(agents, name)].count("zombie_b") == 1
    assert agents.events("RunLost")
