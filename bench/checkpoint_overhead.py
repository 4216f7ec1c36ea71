"""Per-checkpoint overhead of the local runtime, and the cost of a cached resume.

Baselines measured in the same run:

- a plain Python call of the same function (what the code costs without Kitaru);
- one bare durable write of the same bytes (write, fsync, rename), the least any
  crash-safe journal must pay per result.

Targets: overhead per checkpoint at most 2x the bare durable write; a resume of an
execution whose checkpoints are all on record at most 0.2x the first run's overhead,
reading nothing per checkpoint beyond its own record (values this small are inline).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO

import kitaru
from kitaru import checkpoint, flow
from kitaru.claims import claim_run
from kitaru.journal import ExecutionStore
from kitaru.records import Answer
from kitaru.runner import execute_run
from kitaru.stores.filesystem import FilesystemStore


def _payload(i: int) -> dict[str, Any]:
    return {"i": i, "label": f"item-{i}", "score": i * 0.5}


@checkpoint
def small_result(i: int) -> dict[str, Any]:
    return _payload(i)


@flow
def many(n: int) -> int:
    total = 0
    for i in range(n):
        total += small_result(i)["i"]
    kitaru.wait(name="resume")
    return total


class CountingStore(FilesystemStore):
    """The filesystem store, counting reads and writes."""

    reads = 0
    writes = 0

    def _open(self, key: str) -> BinaryIO:
        CountingStore.reads += 1
        return super()._open(key)

    def _write(self, key: str, data: Any, *, overwrite: bool) -> bool:
        CountingStore.writes += 1
        return super()._write(key, data, overwrite=overwrite)


def _plain(n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        _payload(i)
    return (time.perf_counter() - start) / n


def _bare_write(n: int, folder: Path) -> float:
    start = time.perf_counter()
    for i in range(n):
        data = json.dumps(_payload(i)).encode()
        tmp = folder / f".tmp-{i}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(tmp, folder / f"record-{i}.json")
    return (time.perf_counter() - start) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checkpoint_overhead")
    parser.add_argument("--small", action="store_true")
    parser.add_argument("-n", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.n or (200 if args.small else 1000)

    with tempfile.TemporaryDirectory(dir=os.getcwd(), prefix=".bench-") as tmp:
        root = Path(tmp)
        (root / "bare").mkdir()
        (root / "bare2").mkdir()
        plain = _plain(n)
        bare_before = _bare_write(n, root / "bare")

        store = CountingStore(root / "store")
        start = time.perf_counter()
        handle = many.options(store=store).run(n=n)
        first = (time.perf_counter() - start) / n
        assert handle.status == "waiting", handle.status

        journal = ExecutionStore(store, handle.exec_id)
        journal.answer(Answer(wait="resume", value=None))
        claim_run(journal, 2, reason="resume")
        CountingStore.reads = 0
        start = time.perf_counter()
        outcome = execute_run(journal, 2, many.fn, echo=False)
        resumed = (time.perf_counter() - start) / n
        reads = CountingStore.reads
        assert outcome.outcome == "succeeded" and outcome.checkpoints_reused == n
        # fsync cost drifts on shared disks; average the baseline over both ends of the run.
        bare = (bare_before + _bare_write(n, root / "bare2")) / 2

    overhead = first - plain
    resume_overhead = max(resumed - plain, 0.0)
    print(f"checkpoints:                    {n}")
    print(f"plain call:                     {plain * 1e6:9.2f} us")
    print(f"bare durable write:             {bare * 1e6:9.2f} us")
    print(f"checkpoint, first run:          {first * 1e6:9.2f} us")
    print(f"  overhead / bare durable write:  {overhead / bare:6.2f}x  (target <= 2x)")
    print(f"  overhead / plain call:          {overhead / plain:6.0f}x")
    print(f"checkpoint, cached resume:      {resumed * 1e6:9.2f} us")
    print(f"  resume / first-run overhead:    {resume_overhead / overhead:6.2f}x  (target <= 0.2x)")
    print(f"  store reads per checkpoint:     {reads / n:6.2f}   (record + inline value)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
