"""What the fault scenarios count: Jobs made twice, bodies run again, and their report.

The scenarios (``tests/test_faults_*.py``) run ``chaos_flow`` from
``tests/sdk/sample_flows.py`` while faults are injected, then check the promises:

- no Job is created twice for the same run or checkpoint attempt. Job names are
  deterministic, so a second creation under a name shows up as a second uid for that
  name; :class:`JobLedger` watches Jobs for the whole scenario and keeps every uid;
- no checkpoint body runs again once its result is committed. Each body notes its start
  with a token and returns the token, so the committed value names the body that made
  it; a start noted after that one (:func:`reruns_after_commit`) is a defect.

Sizes: ``KITARU_FAULTS=full`` runs the sizes the issue asks for; the default is the small
size ``make test`` runs.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubernetes import client, watch

if TYPE_CHECKING:
    from operator_fixtures import Agents

SAMPLE = "tests.sdk.sample_flows"
FULL = os.environ.get("KITARU_FAULTS") == "full"


class JobLedger:
    """Every uid seen under each Job name in a namespace, from a list and a watch that
    resumes (re-listing) after the API server drops it or goes away."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self._batch = client.BatchV1Api(api)
        self._namespace = namespace
        self._uids: dict[str, set[str]] = defaultdict(set)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="job-ledger", daemon=True)

    def __enter__(self) -> JobLedger:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._see(self._batch.list_namespaced_job(self._namespace).items)

    def _see(self, jobs: list[Any]) -> None:
        with self._lock:
            for job in jobs:
                self._uids[job.metadata.name].add(job.metadata.uid)

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                listing: Any = self._batch.list_namespaced_job(self._namespace)
                self._see(listing.items)
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self._batch.list_namespaced_job, self._namespace,
                    resource_version=listing.metadata.resource_version, timeout_seconds=5)
                for event in stream:
                    self._see([event["object"]])
                    if self._stop.is_set():
                        return
            except Exception:  # the API server restarting: any transport or API error
                time.sleep(0.5)

    def jobs(self) -> int:
        with self._lock:
            return len(self._uids)

    def duplicates(self) -> dict[str, int]:
        """Job names created more than once, with how many times."""
        with self._lock:
            return {name: len(uids) for name, uids in self._uids.items() if len(uids) > 1}


def body_starts(counters: Path) -> list[tuple[str, str, str]]:
    """(label, checkpoint id, token) of every chaos body start, in the order they began."""
    path = counters / "chaos-bodies"
    if not path.exists():
        return []
    return [tuple(line.split()) for line in path.read_text().splitlines()  # type: ignore[misc]
            if line.count(" ") == 2]


def reruns_after_commit(agents: Agents, labels: list[str]) -> dict[str, int]:
    """Bodies started after the body whose result was committed, per execution label."""
    starts = body_starts(agents.counters)
    store = agents.store_client()
    found: dict[str, int] = {}
    for label in labels:
        exec_id = agents.get(label)["status"]["executionId"]
        mine = [(cid, token) for lab, cid, token in starts if lab == label]
        for artifact in store.artifacts.list(exec_id):
            if artifact.kind != "checkpoint":
                continue
            committed = artifact.plain()["token"]
            order = [token for cid, token in mine if cid == artifact.name]
            if committed not in order:
                found[f"{label}/{artifact.name}"] = -1  # committed by no body we saw start
                continue
            later = len(order) - order.index(committed) - 1
            if later:
                found[f"{label}/{artifact.name}"] = later
    return found


def body_runs(agents: Agents) -> int:
    return len(body_starts(agents.counters))


@dataclass
class Report:
    """A scenario's figures, printed as one block (call :meth:`show` under
    ``capsys.disabled()`` so CI logs show it), and appended to ``$KITARU_FAULTS_REPORT``
    as a JSON line when that is set."""

    scenario: str
    executions: int = 0
    faults: int = 0
    converged: int = 0
    duplicate_jobs: dict[str, int] = field(default_factory=dict)
    reruns_after_commit: dict[str, int] = field(default_factory=dict)
    answers_lost: int = 0
    jobs: int = 0
    bodies: int = 0
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def show(self) -> None:
        lines = [f"fault scenario: {self.scenario}",
                 f"  executions {self.executions}, faults injected {self.faults}, "
                 f"converged {self.converged}",
                 f"  jobs {self.jobs}, duplicate jobs {len(self.duplicate_jobs)}"
                 + (f" {self.duplicate_jobs}" if self.duplicate_jobs else ""),
                 f"  checkpoint bodies started {self.bodies}, re-run after commit "
                 f"{len(self.reruns_after_commit)}"
                 + (f" {self.reruns_after_commit}" if self.reruns_after_commit else ""),
                 f"  answers lost {self.answers_lost}, wall time {self.seconds:.0f} s"]
        lines += [f"  {key}: {value}" for key, value in self.notes.items()]
        print("\n".join(lines), flush=True)
        target = os.environ.get("KITARU_FAULTS_REPORT")
        if target:
            with open(target, "a") as out:
                out.write(json.dumps(asdict(self)) + "\n")


def executions(agents: Agents) -> dict[str, dict[str, Any]]:
    """Every Execution of the scenario's namespace, by name, in one listing."""
    listing: Any = client.CustomObjectsApi(agents.api).list_namespaced_custom_object(
        "kitaru.ai", "v1alpha1", agents.namespace, "executions")
    return {i["metadata"]["name"]: i for i in listing["items"]}


def phases(agents: Agents) -> dict[str, str | None]:
    return {name: (obj.get("status") or {}).get("phase")
            for name, obj in executions(agents).items()}


def answer_waiting(agents: Agents, answered: set[str]) -> int:
    """Approve every execution now Waiting on its approval that has no answer yet;
    return how many were answered."""
    fresh = 0
    for name, obj in executions(agents).items():
        status = obj.get("status") or {}
        if (status.get("phase") == "Waiting" and name not in answered
                and (status.get("pendingWait") or {}).get("name") == "approve"):
            agents.patch(name, {"answers": {"approve": True}})
            answered.add(name)
            fresh += 1
    return fresh


def all_finished(agents: Agents) -> bool:
    return all(p in ("Succeeded", "Failed") for p in phases(agents).values())


WIDTH = 2  # chaos_flow's fan-out
EXPECTED = 0 + sum(range(1, WIDTH + 1)) + 100  # chaos_flow's output when approved


def start_chaos(agents: Agents, prefix: str, count: int, *, body_seconds: float = 0.5,
                **spec: Any) -> list[str]:
    """Apply ``count`` chaos_flow Executions, alternately with checkpoints inline and in
    pods of their own (``spec`` goes to both FlowVersions); return their names."""
    for runtime in ("isolated", "inline"):
        manifest = agents.flow_version(f"{prefix}-{runtime[:3]}-v1", f"{SAMPLE}:chaos_flow",
                                       **{**spec, "checkpointRuntime": runtime})
        manifest["spec"]["env"].append({"name": "KITARU_TEST_BODY_SECONDS",
                                        "value": str(body_seconds)})
        agents.apply(manifest)
    names = [f"{prefix}-{i}" for i in range(count)]
    for i, name in enumerate(names):
        agents.apply(agents.execution(name, f"{prefix}-iso-v1" if i % 2 else
                                      f"{prefix}-inl-v1",
                                      input={"label": name, "width": WIDTH}))
    return names


def _stat(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_ended(pid: int) -> bool:
    """Whether the process is gone, or a zombie waiting for its parent to reap it."""
    try:
        return _stat(pid)[0] == "Z"
    except FileNotFoundError:
        return True


def start_ticks(pid: int) -> str:
    """The process's start time in clock ticks, as the cluster's pid files record it."""
    return _stat(pid)[19]
