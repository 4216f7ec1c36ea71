"""The run pod's termination report: small enough for the kubelet, and read back whole."""

from __future__ import annotations

from kitaru.errors import StoreUnavailableError
from kitaru.report import MESSAGE_LIMIT, RunReport


def test_a_huge_error_is_cut_to_fit_the_termination_message() -> None:
    error = RuntimeError('"quoted" \\ and \n new lines ' * 400)
    report = RunReport.failure(7, error, origin="runtime")

    text = report.message()

    assert len(text.encode()) <= MESSAGE_LIMIT
    back = RunReport.parse(text)
    assert back is not None and back.run == 7 and back.final
    assert back.error is not None and back.error.message.startswith('"quoted" \\ and \n')


def test_a_store_outage_report_is_not_final() -> None:
    error = StoreUnavailableError("s3://b/x: the store is unreachable", where="s3://b/x",
                                  reason="HTTP 503")
    report = RunReport.parse(RunReport.failure(2, error, origin="infrastructure").message())

    assert report is not None and not report.final and not report.recorded


def test_anything_but_a_report_parses_as_none() -> None:
    assert RunReport.parse("Traceback (most recent call last):\n ...") is None
    assert RunReport.parse("") is None
    assert RunReport.parse('{"run": "one"}') is None
