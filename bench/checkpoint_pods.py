"""Checkpoints in pods of their own, on the local control plane.

Figures, each against a baseline measured in the same run:

- one sequential isolated checkpoint with an empty body: the time ``empty_steps(K)``
  takes with ``spec.checkpointRuntime: isolated`` less the time it takes ``inline``,
  per checkpoint, against one bare Job's create-to-succeeded round trip. Target <= 1.5x.
  Two bare Jobs are measured: ``python -c pass`` (the least a pod costs here) and
  ``python -c "import boto3, kitaru.runtime"`` (the least an agent pod costs, as every run
  pod imports the SDK and its store client); the second is the fair one.
- a fan-out of N isolated empty checkpoints (``empty_fan(N)``, isolated less inline)
  against N bare parallel Jobs of each kind. Target <= 1.5x.

Each sequential isolated checkpoint costs one pod start: the pod that runs a checkpoint
carries the flow on to the next (see kitaru.dispatch). A fan-out costs its branch pods
(in parallel) plus one pod that goes on after them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from tests.stores import emulators

from bench.harness import (
    AWS,
    BUCKET,
    GROUP,
    NAMESPACE,
    ROOT,
    VERSION,
    Cluster,
    control_plane,
    wait,
)

PYTHON_ONLY = ["python", "-c", "pass"]
AGENT_IMPORTS = ["python", "-c", "import boto3, kitaru.runtime"]


class PodsBench(Cluster):
    """The cluster, store and operator, with FlowVersions of both runtimes."""

    def __init__(self, kubeconfig: str, s3: emulators.Emulator, workdir: Path) -> None:
        super().__init__(kubeconfig, s3, workdir)
        self.versions: set[str] = set()

    def setup_versions(self) -> None:
        for runtime in ("isolated", "inline"):
            for entry in ("empty_steps", "empty_fan"):
                self.flow_version(runtime, entry)

    def run_flow(self, runtime: str, entry: str, count: int) -> float:
        """Seconds from creating an Execution to its Succeeded phase."""
        name = f"{entry.replace('_', '-')}-{runtime}-{uuid.uuid4().hex[:5]}"
        body: dict[str, Any] = {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution", "metadata": {"name": name},
            "spec": {"flowVersion": self.flow_version(runtime, entry),
                     "input": {"count": count}}}
        start = time.perf_counter()
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "executions",
                                                    body)
        wait(lambda: self.phase(name) == "Succeeded", 600, f"{name} to succeed")
        return time.perf_counter() - start

    def flow_version(self, runtime: str, entry: str) -> str:
        """The name of the FlowVersion running ``entry`` with ``runtime`` (made once)."""
        name = f"{entry.replace('_', '-')}-{runtime}"
        if name in self.versions:
            return name
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "flowversions", {
            "apiVersion": f"{GROUP}/{VERSION}", "kind": "FlowVersion", "metadata": {"name": name},
            "spec": {"flow": name, "version": 1, "image": "kitaru-agent:dev",
                     "entrypoint": f"tests.sdk.sample_flows:{entry}",
                     "checkpointRuntime": runtime, "parallelism": 50,
                     "env": [{"name": "PYTHONPATH", "value": str(ROOT)}],
                     "store": {"uri": self.store_uri,
                               "credentialsSecret": {"name": "store-credentials"}}}})
        self.versions.add(name)
        return name

    def bare_jobs(self, count: int, command: list[str]) -> float:
        """Seconds to create ``count`` bare Jobs at once until all have succeeded."""
        tag = uuid.uuid4().hex[:6]
        start = time.perf_counter()
        for i in range(count):
            self.batch.create_namespaced_job(NAMESPACE, {  # type: ignore[arg-type]
                "metadata": {"name": f"bare-{tag}-{i}", "labels": {"bench": tag}},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never", "automountServiceAccountToken": False,
                    "containers": [{"name": "c", "image": "kitaru-agent:dev",
                                    "command": command}]}}}})

        def done() -> bool:
            jobs = self.batch.list_namespaced_job(NAMESPACE, label_selector=f"bench={tag}")
            return sum(1 for j in jobs.items if (j.status.succeeded or 0) >= 1) >= count

        wait(done, 600, f"{count} bare Jobs to succeed")
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checkpoint_pods")
    parser.add_argument("--small", action="store_true", help="3 steps, a fan-out of 4")
    args = parser.parse_args(argv)
    steps, fan, repeats = (3, 4, 1) if args.small else (5, 20, 3)

    with tempfile.TemporaryDirectory(prefix="kitaru-bench-") as tmp, \
            control_plane() as kubeconfig, emulators.running("s3") as started:
        s3 = started["s3"]
        boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1",
                     **{"aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
                        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"]}
                     ).create_bucket(Bucket=BUCKET)
        bench = PodsBench(kubeconfig, s3, Path(tmp))
        try:
            bench.setup()
            bench.setup_versions()
            bare_pass = statistics.median(bench.bare_jobs(1, PYTHON_ONLY) for _ in range(3))
            bare_agent = statistics.median(bench.bare_jobs(1, AGENT_IMPORTS) for _ in range(3))
            seq_iso = statistics.median(bench.run_flow("isolated", "empty_steps", steps)
                                        for _ in range(repeats))
            seq_inline = statistics.median(bench.run_flow("inline", "empty_steps", steps)
                                           for _ in range(repeats))
            fan_pass = bench.bare_jobs(fan, PYTHON_ONLY)
            fan_agent = bench.bare_jobs(fan, AGENT_IMPORTS)
            fan_iso = bench.run_flow("isolated", "empty_fan", fan)
            fan_inline = bench.run_flow("inline", "empty_fan", fan)
        finally:
            bench.stop()

    per_step = (seq_iso - seq_inline) / steps
    fan_extra = fan_iso - fan_inline
    print(f"bare Job, python -c pass:                 {bare_pass:6.2f} s")
    print(f"bare Job, importing boto3 and kitaru:     {bare_agent:6.2f} s")
    print(f"{steps} sequential empty checkpoints: isolated {seq_iso:.2f} s, inline "
          f"{seq_inline:.2f} s")
    print(f"one sequential isolated checkpoint:       {per_step:6.2f} s   "
          f"{per_step / bare_agent:5.2f}x the agent-import Job, "
          f"{per_step / bare_pass:5.2f}x the bare one  (target <= 1.5x)")
    print(f"fan-out of {fan}: isolated {fan_iso:.2f} s, inline {fan_inline:.2f} s; {fan} bare "
          f"Jobs {fan_agent:.2f} s (agent imports), {fan_pass:.2f} s (bare)")
    print(f"fan-out of {fan} isolated checkpoints:       {fan_extra:6.2f} s   "
          f"{fan_extra / fan_agent:5.2f}x {fan} agent-import Jobs, "
          f"{fan_extra / fan_pass:5.2f}x {fan} bare ones  (target <= 1.5x)")
    print(json.dumps({"sequential_ratio": per_step / bare_agent,
                      "fan_out_ratio": fan_extra / fan_agent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
