"""A run process (as a run pod starts it) against S3 that goes away: it rides out a short
outage, and one that outlasts its retries ends the run as retryable infrastructure, never
as the execution's final failure. A store that refuses outright still fails at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kitaru.journal import ExecutionStore
from kitaru.report import RunReport
from kitaru.runtime import EXIT_STORE_UNAVAILABLE
from tests.sdk.sample_flows import runs_of
from tests.stores import emulators
from tests.stores.conftest import Backend
from tests.stores.proxy import FaultProxy, fault_proxy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def s3(s3_emulator: emulators.Emulator, tmp_path: Path,
       monkeypatch: pytest.MonkeyPatch) -> Backend:
    return Backend("s3", s3_emulator, tmp_path, monkeypatch)


@pytest.fixture
def proxy(s3: Backend) -> Iterator[FaultProxy]:
    with fault_proxy(s3.endpoint) as running:
        yield running


def run_pod(s3: Backend, endpoint: str, counters: Path, run: int, *, bucket: str | None = None,
            **env: str) -> tuple[int, RunReport | None, str]:
    message = counters.parent / f"termination-{run}"
    message.unlink(missing_ok=True)
    full_env = {**os.environ, "KITARU_STORE": f"s3://{bucket or s3.bucket}/agents",
                "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "KITARU_TEST_COUNTERS": str(counters), "KITARU_EXECUTION_ID": "outage-1",
                "KITARU_RUN": str(run), "KITARU_HOST": "pod-1",
                "KITARU_ENTRYPOINT": "tests.sdk.sample_flows:approval_flow",
                "KITARU_INPUT": '{"topic": "reefs"}', "KITARU_TERMINATION_LOG": str(message),
                **env}
    done = subprocess.run([sys.executable, "-m", "kitaru.runtime"], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=180, check=False)
    report = RunReport.parse(message.read_text()) if message.exists() else None
    return done.returncode, report, done.stderr


def test_a_run_rides_out_a_store_outage_shorter_than_its_retries(
    s3: Backend, proxy: FaultProxy, counters: Path
) -> None:
    proxy.fail_next(10**9, status=503)
    threading.Timer(4.0, proxy.up).start()  # the store answers 503 for 4 s, then recovers

    code, report, stderr = run_pod(s3, proxy.endpoint, counters, 1,
                                   KITARU_STORE_RETRY_SECONDS="60")

    assert code == 0, stderr
    assert report is not None and report.outcome == "waiting" and report.wait == "approve"
    assert proxy.failures_sent >= 1
    assert (runs_of(counters, "research"), runs_of(counters, "draft")) == (1, 1)


def test_an_outage_longer_than_the_retries_ends_the_run_as_infrastructure(
    s3: Backend, proxy: FaultProxy, counters: Path
) -> None:
    code, report, _ = run_pod(s3, proxy.endpoint, counters, 1)  # run 1 reaches its wait
    assert code == 0

    proxy.fail_next(10**9, status=503)
    code, report, stderr = run_pod(s3, proxy.endpoint, counters, 2,
                                   KITARU_INPUTS='{"approve": true}',
                                   KITARU_STORE_RETRY_SECONDS="1")

    assert code == EXIT_STORE_UNAVAILABLE, stderr
    assert report is not None and report.outcome == "failed" and not report.recorded
    assert report.error is not None and report.error.origin == "infrastructure"
    assert report.error.type == "StoreUnavailableError" and not report.final
    assert "unreachable or keeps failing (HTTP 503" in report.error.message
    assert "Traceback" not in stderr

    proxy.up()  # nothing final was recorded: the next run finishes the execution
    journal = ExecutionStore(s3.store("agents"), "outage-1")
    assert journal.run_outcome(2) is None
    code, report, stderr = run_pod(s3, proxy.endpoint, counters, 3,
                                   KITARU_INPUTS='{"approve": true}')
    assert code == 0, stderr
    assert report is not None and report.outcome == "succeeded"
    assert (runs_of(counters, "research"), runs_of(counters, "publish")) == (1, 1)


def test_a_missing_bucket_still_fails_the_run_at_once_with_its_message(
    s3: Backend, counters: Path
) -> None:
    code, report, _ = run_pod(s3, s3.endpoint, counters, 1, bucket="no-such-bucket-here")

    assert code == 2
    assert report is not None and report.final and report.error is not None
    assert "no-such-bucket-here" in report.error.message
    assert report.error.origin == "runtime"


def test_a_bad_retry_setting_is_refused_with_its_name(s3: Backend, counters: Path) -> None:
    code, report, _ = run_pod(s3, s3.endpoint, counters, 1, KITARU_STORE_RETRY_SECONDS="soon")

    assert code == 2
    assert report is not None and report.error is not None
    assert report.error.message == ("KITARU_STORE_RETRY_SECONDS='soon': expected a number of "
                                    "seconds >= 0")
    assert json.loads(report.message())["outcome"] == "failed"
