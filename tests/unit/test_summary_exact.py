"""bulk/summary.py exactly: the progress lines and when they are logged, each row's report line,
the counters, the failures kept, the summary, its headline and the failures' description."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from airflow_provider_moveworks.bulk.summary import (
    COUNTER_NAMES,
    MAX_FAILURES,
    OUTCOMES,
    Outcomes,
    Progress,
    ReportWriteError,
    describe_failures,
    headline,
)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def progress(total: int = 10, interval: float = 5.0, throttled: int = 0) -> tuple[Progress, Log, Clock]:
    log, clock = Log(), Clock()
    return Progress(log, total, interval=interval, throttled=lambda: throttled, clock=clock), log, clock


# -- progress -------------------------------------------------------------------------------------
def test_progress_is_logged_once_the_interval_has_passed_then_every_interval() -> None:
    tracker, log, clock = progress(total=10, interval=5.0, throttled=3)
    clock.now = 104.9
    tracker.tick(1, 0)
    assert log.lines == []
    clock.now = 105.0  # exactly the interval: logged
    tracker.tick(2, 1)
    assert log.lines == [
        "Bulk update progress: 2/10 rows (20.0%), 0.4 rows/s, ETA 20 s, throttled 3, failed 1"
    ]
    clock.now = 109.0
    tracker.tick(3, 1)  # 4 s since the last line
    assert len(log.lines) == 1
    clock.now = 110.0
    tracker.tick(5, 1)
    assert (
        log.lines[-1]
        == "Bulk update progress: 5/10 rows (50.0%), 0.5 rows/s, ETA 10 s, throttled 3, failed 1"
    )


def test_the_last_progress_line_is_always_logged() -> None:
    tracker, log, clock = progress(total=4)
    clock.now = 102.0
    tracker.finish(4, 0)
    assert log.lines == [
        "Bulk update progress: 4/4 rows (100.0%), 2.0 rows/s, ETA 0 s, throttled 0, failed 0"
    ]


def test_progress_with_nothing_done_or_nothing_to_do() -> None:
    tracker, log, _ = progress(total=0)
    tracker.finish(0, 0)  # no time has passed either
    assert log.lines == [
        "Bulk update progress: 0/0 rows (100.0%), 0.0 rows/s, ETA unknown, throttled 0, failed 0"
    ]
    tracker, log, clock = progress(total=8)
    clock.now = 101.0
    tracker.finish(0, 0)
    assert log.lines == [
        "Bulk update progress: 0/8 rows (0.0%), 0.0 rows/s, ETA unknown, throttled 0, failed 0"
    ]


# -- outcomes -------------------------------------------------------------------------------------
def outcomes(**kwargs: Any) -> tuple[Outcomes, io.StringIO, Log]:
    report = io.StringIO()
    tracker, log, _ = progress(total=100, interval=0.0)
    return Outcomes(report=report, progress=tracker, **kwargs), report, log


def lines(report: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in report.getvalue().splitlines()]


def test_each_row_is_one_report_line_with_the_run_key() -> None:
    updated: list[int] = []
    recorder, report, log = outcomes(run_key="key1", on_updated=updated.append)
    recorder.record(1, "conv_a", "updated", status=200)
    recorder.record(2, "conv_b", "failed", status=400, code="INVALID_INPUT", message="bad")
    recorder.record(3, "conv_c", "updated", resumed=True)
    assert lines(report) == [
        {
            "row": 1,
            "conversation_id": "conv_a",
            "outcome": "updated",
            "status": 200,
            "code": None,
            "message": None,
            "run": "key1",
        },
        {
            "row": 2,
            "conversation_id": "conv_b",
            "outcome": "failed",
            "status": 400,
            "code": "INVALID_INPUT",
            "message": "bad",
            "run": "key1",
        },
        {
            "row": 3,
            "conversation_id": "conv_c",
            "outcome": "updated",
            "status": None,
            "code": None,
            "message": None,
            "resumed": True,
            "run": "key1",
        },
    ]
    assert updated == [1]  # a resumed row was updated by an earlier try, not this one
    assert (recorder.done, recorder.resumed) == (3, 1)
    assert recorder.counts == {**dict.fromkeys(OUTCOMES, 0), "updated": 2, "failed": 1}
    assert len(log.lines) == 3  # logged after every row with an interval of 0
    assert log.lines[1].endswith("failed 1")


def test_a_dry_runs_lines_say_so_and_no_run_key_means_no_run_field() -> None:
    recorder, report, _ = outcomes(dry_run=True)
    recorder.record(1, "conv_a", "would_update")
    assert lines(report) == [
        {
            "row": 1,
            "conversation_id": "conv_a",
            "outcome": "would_update",
            "status": None,
            "code": None,
            "message": None,
            "dry_run": True,
        }
    ]


def test_without_a_report_the_rows_are_still_counted() -> None:
    tracker, _, _ = progress()
    recorder = Outcomes(report=None, progress=tracker)
    recorder.record(1, "conv_a", "not_found", status=404)
    recorder.flush()
    assert recorder.counts["not_found"] == 1
    assert recorder.failures == [
        {
            "row": 1,
            "conversation_id": "conv_a",
            "outcome": "not_found",
            "status": 404,
            "code": None,
            "message": None,
        }
    ]


def test_only_rows_not_updated_are_failures_and_only_the_first_hundred() -> None:
    recorder, _, _ = outcomes()
    for outcome in OUTCOMES:
        recorder.record(1, "conv_a", outcome)
    assert [entry["outcome"] for entry in recorder.failures] == ["not_found", "failed", "invalid"]
    for row in range(2, MAX_FAILURES + 5):
        recorder.record(row, "conv_a", "failed")
    assert MAX_FAILURES == 100
    assert len(recorder.failures) == MAX_FAILURES
    assert recorder.failures[-1]["row"] == MAX_FAILURES - 2


def test_a_report_that_cannot_be_written_stops_the_run_with_the_reason() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            raise OSError(28, "No space left on device")

    tracker, _, _ = progress()
    recorder = Outcomes(report=Full(), progress=tracker)
    with pytest.raises(
        ReportWriteError, match=r"^could not write report_file: No space left on device$"
    ) as raised:
        recorder.record(1, "conv_a", "updated")
    assert raised.value.__suppress_context__
    with pytest.raises(
        ReportWriteError, match=r"^could not write report_file: No space left on device$"
    ) as raised:
        recorder.flush()
    assert raised.value.__suppress_context__

    closed = io.StringIO()
    closed.close()
    recorder = Outcomes(report=closed, progress=tracker)
    with pytest.raises(
        ReportWriteError, match=r"^could not write report_file: I/O operation on closed file$"
    ):
        recorder.record(1, "conv_a", "updated")


def test_an_oserror_without_a_reason_is_quoted_whole() -> None:
    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk gone")

    tracker, _, _ = progress()
    with pytest.raises(ReportWriteError, match=r"^could not write report_file: disk gone$"):
        Outcomes(report=Broken(), progress=tracker).record(1, "conv_a", "updated")


def test_a_line_is_kept_in_utf8_and_a_lone_surrogate_escaped() -> None:
    recorder, report, _ = outcomes()
    recorder.record(1, "conv_a", "failed", message="café")
    recorder.record(2, "conv_b", "failed", message="bad \udc80 byte")
    first, second = report.getvalue().splitlines()
    assert '"message": "café"' in first
    assert '"message": "bad \\udc80 byte"' in second
    assert '"conversation_id": "conv_b"' in second


def test_the_flush_pushes_the_report_out() -> None:
    class Counting(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            self.flushes += 1

    report = Counting()
    tracker, _, _ = progress()
    Outcomes(report=report, progress=tracker).flush()
    assert report.flushes == 1


def test_finish_logs_the_last_line_with_the_counts() -> None:
    tracker, log, clock = progress(total=100, interval=3600.0)
    recorder = Outcomes(report=None, progress=tracker)
    recorder.record(1, "conv_a", "failed")
    recorder.record(2, "conv_b", "updated")
    assert log.lines == []
    clock.now = 100.5  # half a second: the rate is per second, not per elapsed second rounded up
    recorder.finish()
    assert log.lines == [
        "Bulk update progress: 2/100 rows (2.0%), 4.0 rows/s, ETA 24 s, throttled 0, failed 1"
    ]


def test_the_summary_counts_every_outcome_and_lists_failures_by_row_without_the_run_key() -> None:
    recorder, _, _ = outcomes(run_key="key1")
    recorder.record(3, "conv_c", "invalid", message="bad row")
    recorder.record(1, "conv_a", "failed", status=500, code="INTERNAL", message="boom")
    recorder.record(2, "conv_b", "updated", resumed=True)
    recorder.record(4, "conv_d", "duplicate")
    recorder.record(5, "conv_e", "unchanged")
    summary = recorder.summary(requests=7, retries=2, throttled=1, duration=1.23456)
    assert summary == {
        "total": 5,
        "updated": 1,
        "not_found": 0,
        "failed": 1,
        "invalid": 1,
        "duplicates": 1,
        "unchanged": 1,
        "would_update": 0,
        "dry_run": False,
        "resumed": 1,
        "requests": 7,
        "retries": 2,
        "throttled": 1,
        "duration_seconds": 1.235,
        "failures": [
            {
                "row": 1,
                "conversation_id": "conv_a",
                "outcome": "failed",
                "status": 500,
                "code": "INTERNAL",
                "message": "boom",
            },
            {
                "row": 3,
                "conversation_id": "conv_c",
                "outcome": "invalid",
                "status": None,
                "code": None,
                "message": "bad row",
            },
        ],
    }
    assert COUNTER_NAMES["duplicate"] == "duplicates"


# -- headline and failures' description ----------------------------------------------------------
def counts(**given: int) -> dict[str, Any]:
    summary: dict[str, Any] = dict.fromkeys(COUNTER_NAMES.values(), 0)
    summary.update(given)
    summary["total"] = sum(given.values())
    return summary


def test_the_headline_adds_up() -> None:
    assert headline(counts(updated=1200, failed=1, not_found=2, invalid=3, duplicates=4)) == (
        "1,210 rows: 1 failed, 2 not found, 3 invalid, 4 duplicates, 1,200 updated"
    )
    summary = counts(updated=5, unchanged=2)
    summary["resumed"] = 3
    assert (
        headline(summary) == "7 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, 2 unchanged, "
        "5 updated (3 by an earlier try)"
    )
    summary["resumed"] = 0
    summary["unchanged"] = 0
    assert headline(summary) == "7 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, 5 updated"


def test_a_dry_runs_headline_says_nothing_was_sent() -> None:
    summary = counts(would_update=1000, unchanged=2, not_found=3, failed=4, invalid=5, duplicates=6)
    summary["dry_run"] = True
    assert headline(summary) == (
        "Dry run of 1,020 rows: 1,000 would update, 2 unchanged, 3 not found, 4 failed, 5 invalid, "
        "6 duplicates; nothing was sent"
    )


def test_failures_are_described_five_at_most_with_status_and_code_when_known() -> None:
    failures = [
        {
            "row": 3,
            "conversation_id": "conv_x",
            "outcome": "failed",
            "status": 400,
            "code": "INVALID_INPUT",
            "message": "m3",
        },
        {
            "row": 4,
            "conversation_id": "conv_y",
            "outcome": "not_found",
            "status": 404,
            "code": None,
            "message": "m4",
        },
        {
            "row": 5,
            "conversation_id": None,
            "outcome": "invalid",
            "status": None,
            "code": None,
            "message": "m5",
        },
    ]
    summary = {"failures": failures * 2}
    assert describe_failures({"failures": failures}) == (
        "row 3 (conv_x): failed 400 INVALID_INPUT: m3; row 4 (conv_y): not_found 404: m4; "
        "row 5 (None): invalid: m5"
    )
    assert describe_failures(summary).count("row ") == 5
    assert describe_failures(summary, limit=1) == "row 3 (conv_x): failed 400 INVALID_INPUT: m3"
