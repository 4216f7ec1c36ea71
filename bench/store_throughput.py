"""Artifact write and read throughput of the cloud stores, against bare client calls.

For each emulator (moto S3, fake-gcs-server, Azurite) and each value size, in the same
run and on the same emulator:

- baseline write: one bare client upload of the bytes (``put_object``,
  ``blob.upload_from_file``, ``upload_blob``) with the library's default settings;
- artifact write: ``store.put_if_absent`` of the same bytes (create-if-absent);
- baseline read: the matching bare download of the whole object;
- artifact read: ``store.get`` with the digest verified, as artifacts are read.

Times are medians of alternating repeats, printed as ratios (artifact / bare). Peak
memory (tracemalloc) of the artifact write and read of the largest value is printed as a
ratio to its size; the read holds the value it returns, so 1.0x is its floor.

Targets: time ratio at most 1.2x for 1 MB and above; peak memory at most 1.5x the size.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

from tests.stores import emulators  # the same emulators the test suite runs

from kitaru.stores import ObjectStore, open_store

KB, MB = 1024, 1024 * 1024
FULL_SIZES = [KB, MB, 100 * MB]
SMALL_SIZES = [KB, MB, 8 * MB]


class Target:
    """One emulator: a bare client with default settings, and a store on one bucket."""

    def __init__(self, name: str, emulator: emulators.Emulator) -> None:
        self.name = name
        bucket = f"bench{uuid.uuid4().hex[:12]}"
        if name == "s3":
            import boto3  # type: ignore[import-untyped]
            self.client = boto3.client(
                "s3", endpoint_url=emulator.endpoint, region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench")
            self.client.create_bucket(Bucket=bucket)
            options = {"endpoint_url": emulator.endpoint, "region": "us-east-1",
                       "access_key_id": "bench", "secret_access_key": "bench"}
        elif name == "gs":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage  # type: ignore[import-untyped]
            os.environ["STORAGE_EMULATOR_HOST"] = emulator.endpoint
            client = storage.Client(project="bench",
                                    credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
            self.client = client.create_bucket(bucket)
            options = {"project": "bench"}
        else:
            from azure.storage.blob import BlobServiceClient
            connection = emulator.azure_connection_string()
            service = BlobServiceClient.from_connection_string(connection)
            self.client = service.create_container(bucket)
            options = {"connection_string": connection}
        self.bucket = bucket
        self.store: ObjectStore = open_store(f"{name}://{bucket}/artifacts", options=options)

    def bare_write(self, key: str, data: bytes) -> None:
        if self.name == "s3":
            self.client.put_object(Bucket=self.bucket, Key=f"bare/{key}", Body=data)
        elif self.name == "gs":
            self.client.blob(f"bare/{key}").upload_from_file(io.BytesIO(data))
        else:
            self.client.upload_blob(f"bare/{key}", data)

    def bare_read(self, key: str) -> bytes:
        if self.name == "s3":
            body = self.client.get_object(Bucket=self.bucket, Key=f"bare/{key}")["Body"]
            return bytes(body.read())
        if self.name == "gs":
            return bytes(self.client.blob(f"bare/{key}").download_as_bytes())
        return bytes(self.client.download_blob(f"bare/{key}").readall())


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _repeats(size: int) -> int:
    return 15 if size <= KB else 7 if size <= MB else 5 if size <= 8 * MB else 3


def measure_times(target: Target, size: int) -> dict[str, float]:
    """Median seconds of bare and artifact writes and reads of ``size`` bytes."""
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    times: dict[str, list[float]] = {"bare_w": [], "art_w": [], "bare_r": [], "art_r": []}
    for i in range(_repeats(size) + 1):  # the first round warms connections up
        k = f"{size}-{i}-{uuid.uuid4().hex[:6]}"
        rounds = {
            "bare_w": _timed(lambda k=k: target.bare_write(k, data)),  # type: ignore[misc]
            "art_w": _timed(lambda k=k: target.store.put_if_absent(  # type: ignore[misc]
                f"blobs/{k}", data)),
            "bare_r": _timed(lambda k=k: target.bare_read(k)),  # type: ignore[misc]
            "art_r": _timed(lambda k=k: target.store.get(  # type: ignore[misc]
                f"blobs/{k}", digest=digest)),
        }
        if i:
            for name, seconds in rounds.items():
                times[name].append(seconds)
    return {name: statistics.median(values) for name, values in times.items()}


def _peak(fn: Callable[[], Any]) -> int:
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    return tracemalloc.get_traced_memory()[1] - base


def measure_memory(target: Target, size: int) -> dict[str, float]:
    """Peak traced memory of writes and reads of ``size`` bytes, as a ratio to ``size``."""
    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    key = f"mem-{uuid.uuid4().hex[:8]}"
    tracemalloc.start()
    try:
        peaks = {
            "art_w": _peak(lambda: target.store.put_if_absent(key, data)),
            "bare_w": _peak(lambda: target.bare_write(key, data)),
            "art_r": _peak(lambda: target.store.get(key, digest=digest)),
            "bare_r": _peak(lambda: target.bare_read(key)),
        }
    finally:
        tracemalloc.stop()
    return {name: peak / size for name, peak in peaks.items()}


def _label(size: int) -> str:
    return f"{size // MB} MB" if size >= MB else f"{size // KB} KB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_throughput")
    parser.add_argument("--small", action="store_true", help="1 KB, 1 MB and 8 MB")
    parser.add_argument("--only", choices=["s3", "gs", "az"], action="append")
    args = parser.parse_args(argv)
    sizes = SMALL_SIZES if args.small else FULL_SIZES
    names = args.only or ["s3", "gs", "az"]
    print("store  size     bare write  artifact write  ratio   bare read  artifact read  "
          "ratio  (target <= 1.2x from 1 MB)")
    memory: list[str] = []
    with emulators.running(*names) as running:
        for name in names:
            target = Target(name, running[name])
            for size in sizes:
                t = measure_times(target, size)
                print(f"{name:<6} {_label(size):<8} {t['bare_w'] * 1e3:8.1f} ms "
                      f"{t['art_w'] * 1e3:11.1f} ms  {t['art_w'] / t['bare_w']:5.2f}x "
                      f"{t['bare_r'] * 1e3:8.1f} ms {t['art_r'] * 1e3:11.1f} ms  "
                      f"{t['art_r'] / t['bare_r']:5.2f}x", flush=True)
            m = measure_memory(target, sizes[-1])
            memory.append(f"{name:<6} {_label(sizes[-1]):<8} write {m['art_w']:5.2f}x "
                          f"(bare {m['bare_w']:5.2f}x)   read {m['art_r']:5.2f}x "
                          f"(bare {m['bare_r']:5.2f}x)")
    print("\npeak memory / value size (target <= 1.5x; a read holds the value it returns, "
          "so 1.0x is its floor)")
    print("\n".join(memory))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
