"""Start-up: what a fresh process pays before it does its work.

Every figure is a ratio against a bare ``python -c pass`` measured in the same run, over
several samples (median; min and max beside it):

- ``python -c "import kitaru"``: seconds and peak RSS (target at most 0.1 s, 30 MB, and
  5x the bare interpreter). ``from kitaru import checkpoint, flow, wait`` (what a flow
  module does) is shown beside it.
- ``kitaru --help``, ``kitaru executions list`` over 100 executions, and ``kitaru
  executions input`` answering a wait: each at most 0.15 s.
- A wait answered through the CLI, until the flow's next checkpoint body starts (in the
  new process the answer launched); a replay through the CLI, until its first re-run body
  starts: each at most 0.2 s. The run is forked from the command (``KITARU_LAUNCH=auto``
  on Linux); the answer is also timed with ``KITARU_LAUNCH=spawn``, a fresh interpreter,
  as on macOS and Windows.
- A run pod's ``python -m kitaru.runtime`` until its first checkpoint body starts,
  against the bare interpreter plus the flow module's own import, that is ``python -c
  "import <the flow module>"`` (target at most 2x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def timed(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit of one command."""
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr.decode()}")
    return took


def peak_rss_mb(code: str, env: dict[str, str]) -> float:
    """Peak RSS of a process that runs ``code``: its own VmHWM (Linux), which starts over
    at exec. (Its rusage would not: Linux carries the forking parent's peak into it.)"""
    report = ("print(next(line.split()[1] for line in open('/proc/self/status') "
              "if line.startswith('VmHWM:')))")
    done = subprocess.run([PY, "-c", f"{code}\n{report}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def mark_after(marks: Path, name: str, began: float, timeout: float = 30) -> float:
    """Seconds from ``began`` (wall clock) until the body ``name`` noted a start."""
    path = marks / name
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if lines:
                path.unlink()
                return float(lines[-1]) - began
        time.sleep(0.002)
    raise RuntimeError(f"the checkpoint body {name!r} never started")


def summary(label: str, times: list[float], base: float, target: str) -> str:
    middle = statistics.median(times)
    return (f"{label:<46} {middle * 1000:7.1f} ms (min {min(times) * 1000:6.1f}, max "
            f"{max(times) * 1000:6.1f})  {middle / base:5.2f}x bare   {target}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup")
    parser.add_argument("--small", action="store_true", help="5 samples instead of 15")
    args = parser.parse_args(argv)
    samples = 5 if args.small else 15
    # Bytecode as an installed package has it (pip compiles at install): a source tree
    # run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module each start.
    subprocess.run([PY, "-m", "compileall", "-q", "sdk", "operator", "bench", "tests"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    with tempfile.TemporaryDirectory(prefix="kitaru-bench-start-") as tmp:
        store, marks = Path(tmp) / "store", Path(tmp) / "marks"
        marks.mkdir()
        env = {**os.environ, "KITARU_STORE": str(store), "KITARU_BENCH_MARKS": str(marks),
               "PYTHONPATH": str(ROOT)}
        os.environ.update(KITARU_STORE=str(store), KITARU_BENCH_MARKS=str(marks))
        from bench.startup_flows import approve, one_step
        from kitaru import KitaruClient

        client = KitaruClient(str(store))
        waiting = [approve.run(topic=f"t{i}").exec_id for i in range(2 * samples + 100)]
        for name in os.listdir(marks):
            (marks / name).unlink()
        done = [one_step.run(topic=f"t{i}").exec_id for i in range(samples)]
        (marks / "first").unlink()

        figures: dict[str, list[float]] = {k: [] for k in (
            "bare", "import", "from", "help", "list", "input", "answer", "spawned", "replay",
            "module", "pod")}
        rss = {"bare": [peak_rss_mb("pass", env) for _ in range(3)],
               "import": [peak_rss_mb("import kitaru", env) for _ in range(3)]}
        cli = [PY, "-m", "kitaru.cli"]
        for i in range(samples):
            for key, command in (("bare", [PY, "-c", "pass"]),
                                 ("import", [PY, "-c", "import kitaru"]),
                                 ("from", [PY, "-c", "from kitaru import checkpoint, flow, wait"]),
                                 ("help", [*cli, "--help"]),
                                 ("list", [*cli, "executions", "list"]),
                                 ("module", [PY, "-c", "import bench.startup_flows"])):
                figures[key].append(timed(command, env))
            # An answer: the command alone, then (in the process it launched) the next body.
            began = time.time()
            figures["input"].append(
                timed([*cli, "executions", "input", waiting[i], "--value", "true"], env))
            figures["answer"].append(mark_after(marks, "after", began))
            began = time.time()
            timed([*cli, "executions", "input", waiting[samples + i], "--value", "true"],
                  {**env, "KITARU_LAUNCH": "spawn"})
            figures["spawned"].append(mark_after(marks, "after", began))
            began = time.time()
            timed([*cli, "executions", "replay", done[i], "--from", "first"], env)
            figures["replay"].append(mark_after(marks, "first", began))
            pod_env = {**env, "KITARU_EXECUTION_ID": f"pod-{i}-{os.getpid()}",
                       "KITARU_RUN": "1", "KITARU_ENTRYPOINT": "bench.startup_flows:one_step",
                       "KITARU_INPUT": json.dumps({"topic": "kelp"}),
                       "KITARU_TERMINATION_LOG": os.devnull}
            began = time.time()
            timed([PY, "-m", "kitaru.runtime"], pod_env)
            figures["pod"].append(mark_after(marks, "first", began))
        listed = len(client.executions.list())

    base = statistics.median(figures["bare"])
    print(summary("python -c pass (the baseline)", figures["bare"], base, ""))
    print(summary("python -c 'import kitaru'", figures["import"], base,
                  "target <= 100 ms and <= 5x"))
    print(f"{'  peak RSS':<46} {statistics.median(rss['import']):7.1f} MB (bare "
          f"{statistics.median(rss['bare']):.1f} MB)   target <= 30 MB")
    print(summary("python -c 'from kitaru import checkpoint, ...'", figures["from"], base,
                  "(what a flow module does)"))
    print(summary("kitaru --help", figures["help"], base, "target <= 150 ms"))
    print(summary(f"kitaru executions list ({listed} executions)", figures["list"], base,
                  "target <= 150 ms"))
    print(summary("kitaru executions input (the command)", figures["input"], base,
                  "target <= 150 ms"))
    print(summary("  answer -> next checkpoint body starts", figures["answer"], base,
                  "target <= 200 ms"))
    print(summary("  the same, KITARU_LAUNCH=spawn", figures["spawned"], base,
                  "(a fresh interpreter, as on macOS)"))
    print(summary("kitaru executions replay -> first body starts", figures["replay"], base,
                  "target <= 200 ms"))
    # The floor: a process that starts and imports the flow module (and so kitaru).
    floor = statistics.median(figures["module"])
    pod = statistics.median(figures["pod"])
    print(summary("python -m kitaru.runtime -> first body starts", figures["pod"], base,
                  f"{pod / floor:5.2f}x python -c 'import <the flow module>' "
                  f"({floor * 1000:.0f} ms); target <= 2x"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
