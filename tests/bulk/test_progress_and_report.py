"""The progress lines in the task log and the JSON Lines report file."""

from __future__ import annotations

import json
import logging
import re

import pytest

from airflow_provider_moveworks.bulk.summary import Progress

pytestmark = pytest.mark.integration

MISSING = "conv_000000000000000000000"
LINE = re.compile(
    r"Bulk update progress: (\d+)/(\d+) rows \((\d+\.\d)%\), \d+\.\d rows/s, ETA (\d+ s|unknown), "
    r"throttled (\d+), failed (\d+)"
)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_at_most_once_per_interval_and_once_at_the_end(caplog):
    clock = _Clock()
    log = logging.getLogger("bulk-progress-test")
    progress = Progress(log, 10, interval=5.0, throttled=lambda: 3, clock=clock)

    with caplog.at_level(logging.INFO, logger="bulk-progress-test"):
        for done in range(1, 11):
            clock.now += 1.0
            progress.tick(done, failed=1)
        progress.finish(10, failed=1)

    assert caplog.messages == [
        "Bulk update progress: 5/10 rows (50.0%), 1.0 rows/s, ETA 5 s, throttled 3, failed 1",
        "Bulk update progress: 10/10 rows (100.0%), 1.0 rows/s, ETA 0 s, throttled 3, failed 1",
        "Bulk update progress: 10/10 rows (100.0%), 1.0 rows/s, ETA 0 s, throttled 3, failed 1",
    ]


def test_the_operator_logs_progress_lines_with_an_injected_interval(
    make_operator, add_conversations, caplog, capfd
):
    ids = add_conversations(4)
    operator = make_operator(updates=[{"conversation_id": c, "title": "P"} for c in ids], max_concurrency=1)
    operator.progress_interval = 0.0

    with caplog.at_level(logging.INFO):
        operator.execute({})

    # Airflow 2 logs through the logging module (caplog); Airflow 3 through structlog to stdout.
    text = caplog.text if LINE.search(caplog.text) else capfd.readouterr().out
    done = [int(match.group(1)) for match in LINE.finditer(text)]
    # One line per row (interval 0) and the final one.
    assert done == [1, 2, 3, 4, 4]
    assert "4/4 rows (100.0%)" in text


def test_the_report_file_has_one_line_per_row_with_its_outcome(make_operator, add_conversations, tmp_path):
    first, second = add_conversations(2)
    report = tmp_path / "report.jsonl"
    updates = [
        {"conversation_id": first, "title": "R"},
        {"conversation_id": MISSING, "title": "R"},
        {"conversation_id": first, "title": "R"},
        {"conversation_id": second},
    ]

    make_operator(updates=updates, on_invalid="skip", report_file=str(report)).execute({})

    lines = sorted((json.loads(line) for line in report.read_text().splitlines()), key=lambda e: e["row"])
    assert [(e["row"], e["conversation_id"], e["outcome"], e["status"], e["code"]) for e in lines] == [
        (1, first, "updated", 200, None),
        (2, MISSING, "not_found", 404, "NOT_FOUND"),
        (3, first, "duplicate", None, None),
        (4, second, "invalid", None, None),
    ]
    assert lines[2]["message"] == "same change as row 1; sent once"
    assert lines[3]["message"] == "Invalid title/archived: give at least one of title and archived"
    fields = {"row", "conversation_id", "outcome", "status", "code", "message", "run"}
    assert all(set(e) == fields for e in lines)
    # "run" names the task instance and input (a later try trusts only its own lines): one value.
    assert len({e["run"] for e in lines}) == 1


def test_the_report_file_can_be_an_object_storage_uri(make_operator, add_conversations, tmp_path):
    (cid,) = add_conversations(1)
    report = tmp_path / "report.jsonl"

    make_operator(
        updates=[{"conversation_id": cid, "archived": True}], report_file=f"file://{report}"
    ).execute({})

    assert [json.loads(line)["outcome"] for line in report.read_text().splitlines()] == ["updated"]
