"""The operator on the local control plane: resume latency, fan-in, memory while waiting.

Figures, each against a baseline measured in the same run:

- resume latency: from the patch of ``spec.answers`` being accepted (the Execution at rest
  in Waiting, its first run's Job gone) to the next run's Job existing (seen by a watch),
  as a ratio against one bare API create round trip: a ConfigMap, and a (suspended) Job,
  the one write a resume cannot do without. Target <= 2x.
- N Executions applied at once until all are Running (or further), as a ratio against N
  bare Job creates.
- M Executions left Waiting with zero pods, and the operator's peak RSS (target < 250 MB).
- M executions sleeping on ``kitaru.sleep`` timers: how late each wakes (its next run's
  Job created) after its deadline, as a ratio of the operator's resync period (target
  well under 1x: timers are per execution, not a poll of all of them).
  Their first runs are recorded straight into the store (what a run pod would write)
  while the operator is stopped, and it then starts on all of them; the woken runs'
  Jobs make no pods, so the figure measures the operator, not M pod start-ups here.

The cluster, moto and the operator come from :mod:`bench.harness`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import boto3
from kubernetes import watch
from tests.stores import emulators

from bench.harness import (
    BUCKET,
    GROUP,
    NAMESPACE,
    RESYNC_SECONDS,
    VERSION,
    Cluster,
    Seen,
    control_plane,
    parallel,
    peak_rss_mb,
    wait,
)
from kitaru.journal import store_value
from kitaru.records import RunOutcome, WaitInfo
from kitaru.serialization import encode
from kitaru_operator.kubeapi import MERGE_PATCH


class Bench(Cluster):
    """The operator's figures on one cluster."""

    def resume_latency(self, index: int) -> float:
        """Seconds from the answer's patch being accepted to the next run's Job existing.

        The Job's creation is seen through a watch opened before the patch (from the
        listing's resourceVersion, so no event is missed), not by polling, which would add
        up to one poll interval and one GET to every figure.
        """
        name = f"resume-{index}"
        job = f"{name}-r2"
        self.custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "executions",
                                                    self.execution(name))
        # At rest, as when a person answers: Waiting, and its first run's Job cleaned up.
        wait(lambda: self.phase(name) == "Waiting" and not self.batch.list_namespaced_job(
            NAMESPACE, label_selector=f"kitaru.ai/execution={name}").items, 180,
            f"{name} to wait with no Job left")
        listing = self.batch.list_namespaced_job(NAMESPACE, field_selector=f"metadata.name={job}")
        seen: list[float] = []
        watcher = watch.Watch()

        def see_job() -> None:
            for event in watcher.stream(self.watch_batch.list_namespaced_job, NAMESPACE,
                                        field_selector=f"metadata.name={job}",
                                        resource_version=listing.metadata.resource_version,
                                        timeout_seconds=60):
                if event["type"] == "ADDED":
                    seen.append(time.perf_counter())
                    watcher.stop()

        thread = threading.Thread(target=see_job, daemon=True)
        thread.start()
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "executions",
                                                   name, {"spec": {"answers": {"approve": True}}})
        accepted = time.perf_counter()
        thread.join(60)
        if not seen:
            raise TimeoutError(f"timed out after 60 s waiting for {job}")
        return seen[0] - accepted

    def fan_in(self, count: int) -> FanIn:
        """Seconds for ``count`` Executions created one after another to all be Running
        (their first run's Job made); for ``count`` bare Job creates; and for the floor:
        the same Execution creates, each followed by the writes the operator made for it
        (its status, its run Job, its Event), sent by the bench itself with no operator.

        Nothing makes pods (:meth:`no_pods`): on this one machine, hundreds of pods
        starting would take the CPU from the API server and the operator alike, and
        measure neither. Leaves the operator stopped (for the floor)."""
        with self.no_pods():
            bare = self._bare_jobs(count)
            fan = self._fan_in(count)
            self.stop()
            floor = self._floor(count)
        return FanIn(fan=fan, bare=bare, floor=floor)

    def _bare_jobs(self, count: int) -> float:
        start = time.perf_counter()
        for i in range(count):
            self.create_job({"metadata": {"name": f"bare-{i}"}, "spec": {"template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "none", "command": ["true"]}]}}}})
        bare = time.perf_counter() - start
        self.batch.delete_collection_namespaced_job(NAMESPACE, propagation_policy="Background")
        return bare

    def _fan_in(self, count: int) -> float:
        # Seen through watches opened before the first create, not by listing them all over
        # and over: that listing would load the API server the figure measures. Done when
        # every status says Running and every run Job exists (the two writes go at once).
        running = Seen(_started, count, self.watch_custom.list_namespaced_custom_object,
                       GROUP, VERSION, NAMESPACE, "executions")
        made = Seen(lambda job: job["metadata"]["name"]
                    if job["metadata"]["name"].startswith("fan-") else None,
                    count, self.watch_batch.list_namespaced_job, NAMESPACE)
        start = time.perf_counter()
        for i in range(count):
            self.create_execution(self.execution(f"fan-{i}"))
        for seen, what in ((running, "Running"), (made, "with a run Job")):
            if not seen.done.wait(600):
                raise TimeoutError(f"{count - len(seen.names)} of {count} executions never "
                                   f"{what}")
        return time.perf_counter() - start

    def _floor(self, count: int) -> float:
        """The fan-in with the operator's writes replayed by the bench (operator stopped):
        what the API server must do for ``count`` Executions, whatever sends the writes.
        The bodies are the operator's own for ``fan-0``: its status, its run Job and its
        ``Started`` Event, renamed. The bench's own client is Python too, so this floor
        is a little above what a client costing nothing would see."""
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{NAMESPACE}/executions"
        model = self.send("GET", f"{base}/fan-0", None)
        job = self.send("GET", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/fan-0-r1", None)
        event = next(e for e in self.send(
            "GET", f"/api/v1/namespaces/{NAMESPACE}/events"
                   "?fieldSelector=involvedObject.name%3Dfan-0", None)["items"]
            if e["reason"] == "Started")
        template = json.dumps({"status": model["status"], "job": _as_created(job),
                               "event": _as_created(event)})
        done: list[Future[Any]] = []
        # As the operator sends them: status and Job at once, Events from one thread of
        # their own, not waited for (Running is what the figure waits for).
        with ThreadPoolExecutor(8) as writers, ThreadPoolExecutor(1) as events:
            # Connections opened first, as the operator's already are.
            list(writers.map(lambda _: self.send("GET", "/version", None), range(16)))
            events.submit(self.send, "GET", "/version", None).result()
            start = time.perf_counter()
            for i in range(count):
                name = f"floor-{i}"
                uid = self.create_execution(self.execution(name))["metadata"]["uid"]
                bodies = json.loads(template.replace(model["metadata"]["uid"], uid)
                                    .replace('"fan-0', f'"{name}'))
                done += [writers.submit(self.send, "PATCH", f"{base}/{name}/status",
                                        {"status": bodies["status"]}, MERGE_PATCH),
                         writers.submit(self.create_job, bodies["job"])]
                events.submit(self.send, "POST", f"/api/v1/namespaces/{NAMESPACE}/events",
                              bodies["event"])
            for future in done:
                future.result()
            floor = time.perf_counter() - start
        # Gone before the operator starts again, so that later figures (its memory) do
        # not count them: the Jobs too, as the garbage collector is paused here.
        def remove(i: int) -> None:
            self.batch.delete_namespaced_job(f"floor-{i}-r1", NAMESPACE,
                                             propagation_policy="Background")
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                        "executions", f"floor-{i}")
        parallel(remove, list(range(count)))
        return floor

    def seed_waiting(self, count: int) -> None:
        """Make ``count`` Executions whose first run waits, recorded in the store as a run
        pod would, while the operator is stopped; then start it on all of them.

        Each journal lives under its Execution's id (which carries the uid), so the
        operator is stopped until the journals exist: it then finds run 1 of each in the
        store and starts no pod.
        """
        self.stop()
        store = self.store()
        topic = store_value(store, encode("idle", allow_pickle=False, where="seed"))
        wait = WaitInfo(name="approve", schema={"type": "boolean"})
        journals = self.seed_many(store, [f"idle-{i}" for i in range(count)], topic)
        parallel(lambda journal: journal.finish_run(
            RunOutcome(run=1, outcome="waiting", wait=wait)), journals)
        self.start_operator()

    def timer_lateness(self, count: int, spread: float) -> tuple[list[float], bool]:
        """How late ``count`` sleeping executions wake after their timers are due.

        Their first runs are recorded in the store as sleeping on a timer (what a run pod
        of a flow calling ``kitaru.sleep`` writes), with deadlines spread evenly over
        ``spread`` seconds once the operator has had time to settle. The woken runs' Jobs make no
        pods (:meth:`no_pods`): the figure is the operator's.
        Returns each lateness in seconds, and whether every execution was Waiting before
        the first deadline (else the figure includes start-up).
        """
        self.stop()
        # Only the sleepers: the Executions of earlier phases would share the start-up pass.
        self.custom.delete_collection_namespaced_custom_object(GROUP, VERSION, NAMESPACE,
                                                               "executions")
        wait(lambda: not self.phases(""), 120, "earlier Executions to be deleted")
        with self.no_pods():
            return self._sleepers(count, spread)

    def _sleepers(self, count: int, spread: float) -> tuple[list[float], bool]:
        store = self.store()
        topic = store_value(store, encode("nap", allow_pickle=False, where="seed"))
        names = [f"nap-{i}" for i in range(count)]
        journals = self.seed_many(store, names, topic)
        # The deadlines are written last, so seeding time does not eat into the lead: the
        # operator's start-up listing and first pass over every Execution.
        lead = 20 + count * 0.1
        first = datetime.now(UTC) + timedelta(seconds=lead)
        due = {f"{name}-r2": first + timedelta(seconds=spread * i / count)
               for i, name in enumerate(names)}
        parallel(lambda pair: pair[0].finish_run(RunOutcome(
            run=1, outcome="waiting", wait=WaitInfo(name="sleep", kind="timer",
                                                    since=datetime.now(UTC),
                                                    deadline=due[f"{pair[1]}-r2"]))),
                  list(zip(journals, names, strict=True)))
        seen: dict[str, datetime] = {}

        def watch_jobs() -> None:
            stream = watch.Watch().stream(self.watch_batch.list_namespaced_job, NAMESPACE,
                                          timeout_seconds=int(lead + spread + 120))
            for event in stream:
                name = event["object"].metadata.name
                if event["type"] == "ADDED" and name in due and name not in seen:
                    seen[name] = datetime.now(UTC)
                if len(seen) == len(due):
                    return

        watcher = threading.Thread(target=watch_jobs, daemon=True)
        watcher.start()
        self.start_operator()
        settled = False  # every sleeper shown Waiting before the first deadline
        while not settled and datetime.now(UTC) < first:
            settled = sum(p == "Waiting" for p in self.phases("nap-")) >= count
            time.sleep(0.5)
        watcher.join(timeout=lead + spread + 120)
        missing = [n for n in due if n not in seen]
        if missing:
            raise TimeoutError(f"{len(missing)} timers never fired (e.g. {missing[0]})")
        return [(seen[n] - due[n]).total_seconds() for n in due], settled



class FanIn(NamedTuple):
    """Seconds: the Executions to Running, the bare Job creates, and the floor."""

    fan: float
    bare: float
    floor: float


def _as_created(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as its creator sent it: without what the API server added (ids, versions,
    managed fields, status, and a Job's generated selector and pod labels)."""
    meta = {k: v for k, v in obj["metadata"].items() if k in (
        "name", "generateName", "namespace", "labels", "annotations", "ownerReferences")}
    if "generateName" in meta:
        meta.pop("name", None)
    body = {**{k: v for k, v in obj.items() if k not in ("status", "metadata")},
            "metadata": meta}
    spec = body.get("spec")
    if isinstance(spec, dict) and "template" in spec:
        spec.pop("selector", None)
        labels = spec["template"].get("metadata", {}).get("labels", {})
        for key in ("controller-uid", "job-name", "batch.kubernetes.io/controller-uid",
                    "batch.kubernetes.io/job-name"):
            labels.pop(key, None)
        for key in ("batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"):
            meta.get("labels", {}).pop(key, None)
    return body


def _started(execution: dict[str, Any]) -> str | None:
    """The name of a fan-in Execution past Pending."""
    name: str = execution["metadata"]["name"]
    phase = (execution.get("status") or {}).get("phase")
    return name if name.startswith("fan-") and phase not in (None, "Pending") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.operator_scale")
    parser.add_argument("--small", action="store_true", help="5 resumes, 10 and 100 objects")
    parser.add_argument("--timers-only", action="store_true",
                        help="only the sleeping-executions figure")
    parser.add_argument("--spread", type=float, default=None,
                        help="seconds the timers' deadlines are spread over (default: 10 "
                             "timers due a second)")
    args = parser.parse_args(argv)
    resumes, fan, idle = (5, 10, 100) if args.small else (10, 200, 1000)
    # Timers due at 10 a second: a thousand sleeping, a steady stream waking. (All due
    # at once is a burst of writes, bound by the API server rather than the timers.)
    spread = args.spread if args.spread is not None else idle / 10

    with tempfile.TemporaryDirectory(prefix="kitaru-bench-") as tmp, \
            control_plane() as kubeconfig, emulators.running("s3") as started:
        s3 = started["s3"]
        boto3.client("s3", endpoint_url=s3.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
        bench = Bench(kubeconfig, s3, Path(tmp))
        figures: dict[str, float] = {}
        try:
            bench.setup()
            if not args.timers_only:
                figures.update(_throughput(bench, resumes, fan, idle))
            late, settled = bench.timer_lateness(idle, spread)
        finally:
            bench.stop()

    ordered = sorted(late)
    p95, worst = ordered[int(0.95 * (len(ordered) - 1))], ordered[-1]
    print(f"{idle} timers due over {spread:g} s, late by (median / p95 / max): "
          f"{statistics.median(late):.2f} / {p95:.2f} / {worst:.2f} s"
          f"   max {worst / RESYNC_SECONDS:4.2f}x the {RESYNC_SECONDS:g} s resync period "
          "(target well under 1x)" + ("" if settled else
                                      "  [operator still starting at the first deadline]"))
    print(f"operator log: {bench.log_path}")
    print(json.dumps({**figures, "timer_late_max_ratio": worst / RESYNC_SECONDS}))
    return 0


def _throughput(bench: Bench, resumes: int, fan: int, idle: int) -> dict[str, float]:
    """Resume latency, fan-in and memory while waiting; printed, and returned as ratios."""
    rtt = bench.bare_create_seconds(20)
    job_rtt = bench.bare_job_seconds(20)
    latency = statistics.median(bench.resume_latency(i) for i in range(resumes))
    fan_in = bench.fan_in(fan)
    bench.seed_waiting(idle)
    wait(lambda: sum(p == "Waiting" for p in bench.phases("idle-")) >= idle, 900,
          f"{idle} executions to be Waiting")
    pods = [p for p in bench.core.list_namespaced_pod(NAMESPACE).items
            if (p.metadata.name or "").startswith("idle-")]
    assert bench.operator is not None
    rss = peak_rss_mb(bench.operator.pid)
    print(f"bare API create round trip:          {rtt * 1000:8.1f} ms  (a ConfigMap)")
    print(f"bare Job create round trip:          {job_rtt * 1000:8.1f} ms")
    print(f"resume latency (median of {resumes}):      {latency * 1000:8.1f} ms"
          f"   {latency / rtt:6.1f}x the ConfigMap, {latency / job_rtt:4.1f}x the Job "
          "(target <= 2x)")
    print(f"{fan} Executions to Running:          {fan_in.fan:8.1f} s "
          f"   {fan_in.fan / fan_in.bare:6.1f}x  {fan} bare Job creates ({fan_in.bare:.2f} s)"
          " (target <= 2x)")
    print(f"  the same writes with no operator:  {fan_in.floor:8.1f} s "
          f"   {fan_in.floor / fan_in.bare:6.1f}x  the bare Job creates; the operator's own "
          f"share: {fan_in.fan / fan_in.floor:.1f}x this floor")
    print(f"{idle} Executions Waiting, pods:       {len(pods):8d}")
    print(f"operator peak RSS:                   {rss:8.1f} MB   (target < 250 MB)")
    return {"resume_ratio": latency / rtt, "resume_job_ratio": latency / job_rtt,
            "fan_ratio": fan_in.fan / fan_in.bare,
            "fan_floor_ratio": fan_in.floor / fan_in.bare,
            "fan_over_floor": fan_in.fan / fan_in.floor,
            "peak_rss_mb": rss}


if __name__ == "__main__":
    raise SystemExit(main())
