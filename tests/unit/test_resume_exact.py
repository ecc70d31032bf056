"""bulk/resume.py exactly: row ranges (merging, membership, adding at each edge), what is saved
and when, what an earlier try's progress must be to be used, and the report's lines a retry
trusts."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_moveworks.bulk import resume
from airflow_provider_moveworks.bulk.resume import (
    MAX_SAVED_RANGES,
    STATE_KEY,
    STATE_VERSION,
    ResumeState,
    RowRanges,
    _rows_of,
    _saved_ranges,
    run_key,
)

FINGERPRINT = "20:abc"


class Store:
    def __init__(self, value: Any = None) -> None:
        self.values: dict[str, Any] = {} if value is None else {STATE_KEY: value}
        self.sets: list[tuple[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.sets.append((key, value))
        self.values[key] = value


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warning(self, message: str, *args: object) -> None:
        self.warnings.append(message % args)

    def info(self, message: str, *args: object) -> None:
        self.infos.append(message % args)


def state(store: Any = None, report_file: str | None = None, key: str = "k") -> tuple[ResumeState, Log]:
    log = Log()
    return ResumeState(store=store, report_file=report_file, key=key, fingerprint=FINGERPRINT, log=log), log


# -- row ranges -----------------------------------------------------------------------------------
def test_saved_ranges_that_overlap_or_contain_each_other_merge() -> None:
    assert RowRanges([[1, 10], [3, 5]]).ranges() == [[1, 10]]  # contained: the end stays 10
    assert RowRanges([[1, 5], [3, 8]]).ranges() == [[1, 8]]
    assert RowRanges([[1, 5], [7, 9], [6, 6]]).ranges() == [[1, 9]]
    assert RowRanges([[4, 2]]).ranges() == []  # an empty range is dropped
    assert RowRanges([["2", "3"]]).ranges() == [[2, 3]]


def test_membership_at_each_edge_of_each_range() -> None:
    ranges = RowRanges([[1, 1], [3, 5]])
    assert [row in ranges for row in range(0, 8)] == [False, True, False, True, True, True, False, False]
    assert len(ranges) == 4
    assert len(RowRanges()) == 0


def test_adding_a_row_already_there_changes_nothing() -> None:
    ranges = RowRanges([[1, 1], [3, 5]])
    for row in (1, 3, 4, 5):
        ranges.add(row)
    assert ranges.ranges() == [[1, 1], [3, 5]]


def test_adding_rows_at_each_edge() -> None:
    ranges = RowRanges()
    ranges.add(5)
    assert ranges.ranges() == [[5, 5]]
    ranges.add(4)  # just before the first range: it grows down
    assert ranges.ranges() == [[4, 5]]
    ranges.add(1)  # before everything, not adjacent
    assert ranges.ranges() == [[1, 1], [4, 5]]
    ranges.add(2)  # just after the first range
    assert ranges.ranges() == [[1, 2], [4, 5]]
    ranges.add(9)
    assert ranges.ranges() == [[1, 2], [4, 5], [9, 9]]
    ranges.add(7)  # between two ranges, adjacent to neither
    assert ranges.ranges() == [[1, 2], [4, 5], [7, 7], [9, 9]]
    ranges.add(8)  # joins the two ranges around it
    assert ranges.ranges() == [[1, 2], [4, 5], [7, 9]]
    ranges.add(6)
    assert ranges.ranges() == [[1, 2], [4, 9]]
    ranges.add(3)
    assert ranges.ranges() == [[1, 9]]
    assert len(ranges) == 9


# -- the run's key --------------------------------------------------------------------------------
def test_run_key_digests_dag_run_task_map_index_and_input() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=2)
    expected = hashlib.blake2b(b"d\0r\0t\x002\0fp", digest_size=8).hexdigest()
    assert run_key({"ti": ti}, "fp") == expected
    assert len(expected) == 16
    other = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3)
    assert run_key({"ti": other}, "fp") != expected
    assert run_key({"ti": ti}, "fp2") != expected
    # No ti (or no context to ask): the parts are blank.
    blank = hashlib.blake2b(b"\0\0\0\0fp", digest_size=8).hexdigest()
    assert run_key({}, "fp") == blank
    assert run_key(None, "fp") == blank


# -- where progress is kept, and loading it --------------------------------------------------
def test_where_names_the_store_first_then_the_report() -> None:
    assert state(Store(), "r.jsonl")[0].where == "the task state store"
    assert state(None, "r.jsonl")[0].where == "report_file"
    assert state(None, None)[0].where is None


def test_progress_saved_by_an_earlier_try_is_resumed_and_logged() -> None:
    saved = {"version": STATE_VERSION, "fingerprint": FINGERPRINT, "updated": [[1, 3], [5, 5]]}
    progress, log = state(Store(saved))
    progress.load()
    assert progress.earlier.ranges() == [[1, 3], [5, 5]]
    assert progress.updated.ranges() == [[1, 3], [5, 5]]
    progress.updated.add(7)  # this try's rows are kept apart from the earlier ones
    assert progress.earlier.ranges() == [[1, 3], [5, 5]]
    assert log.infos == ["Resuming: 4 rows were updated by an earlier try and are not sent again"]
    assert log.warnings == []


def test_progress_of_another_version_or_input_is_not_used() -> None:
    for saved, warning in [
        ({"version": STATE_VERSION + 1, "fingerprint": FINGERPRINT, "updated": [[1, 3]]}, []),
        (
            {"version": STATE_VERSION, "fingerprint": "20:other", "updated": [[1, 3]]},
            ["The input changed since an earlier try: every row is sent again"],
        ),
        (
            {"version": STATE_VERSION, "fingerprint": FINGERPRINT, "updated": [[1, 21]]},
            [
                "The progress an earlier try saved is unreadable (edited, or from another version): "
                "every row is sent again"
            ],
        ),
        (["not", "a", "dict"], []),
    ]:
        progress, log = state(Store(saved))
        progress.load()
        assert (progress.earlier.ranges(), progress.updated.ranges()) == ([], [])
        assert log.warnings == warning
        assert log.infos == []


def test_saved_progress_without_rows_resumes_nothing() -> None:
    progress, log = state(Store({"version": STATE_VERSION, "fingerprint": FINGERPRINT}))
    progress.load()
    assert progress.earlier.ranges() == []
    assert (log.infos, log.warnings) == ([], [])


def test_a_store_failing_to_read_is_logged_and_not_used_again() -> None:
    class Broken(Store):
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("down")

    progress, log = state(Broken())
    progress.load()
    assert log.warnings == [
        "The task state store failed (RuntimeError: down): this try's progress is not kept there"
    ]
    assert progress.where is None
    progress.add(1)
    progress.save()  # nowhere to save it: nothing raised


def test_nowhere_to_keep_progress_is_logged() -> None:
    progress, log = state(None, None)
    progress.load()
    assert log.warnings == [
        "Nothing keeps this run's progress (no task state store on this Airflow, no report_file): "
        "a retry will send every row again"
    ]


# -- saving ---------------------------------------------------------------------------------------
def test_progress_is_saved_only_when_rows_were_added_since_the_last_save() -> None:
    store = Store()
    progress, _ = state(store)
    progress.save()
    assert store.sets == []
    progress.add(2)
    progress.add(1)
    progress.save()
    assert store.sets == [
        (STATE_KEY, {"version": STATE_VERSION, "fingerprint": FINGERPRINT, "updated": [[1, 2]]})
    ]
    progress.save()
    assert len(store.sets) == 1
    progress.add(4)
    progress.save()
    assert store.sets[-1][1]["updated"] == [[1, 2], [4, 4]]
    assert STATE_VERSION == 1


def test_at_most_max_saved_ranges_are_saved_the_first_ones() -> None:
    assert MAX_SAVED_RANGES == 10_000
    store = Store()
    progress, _ = state(store)
    for row in range(1, 2 * (MAX_SAVED_RANGES + 1), 2):  # 10,001 ranges of one row
        progress.add(row)
    progress.save()
    saved = store.sets[-1][1]["updated"]
    assert len(saved) == MAX_SAVED_RANGES
    assert saved[-1] == [2 * MAX_SAVED_RANGES - 1, 2 * MAX_SAVED_RANGES - 1]


def test_a_store_failing_to_save_is_logged_and_not_used_again() -> None:
    class Broken(Store):
        def set(self, key: str, value: Any) -> None:
            super().set(key, value)
            raise RuntimeError("full")

    store = Broken()
    progress, log = state(store)
    progress.add(1)
    progress.save()
    progress.add(2)
    progress.save()
    assert len(store.sets) == 1
    assert log.warnings == [
        "The task state store failed (RuntimeError: full): this try's progress is not kept there"
    ]


# -- the report of an earlier try ----------------------------------------------------------------
def test_only_the_report_lines_of_this_run_updated_with_a_row_number_are_resumed(tmp_path: Path) -> None:
    report = tmp_path / "report.jsonl"
    lines = [
        {"run": "k", "row": 1, "outcome": "updated"},
        {"run": "k", "row": 2, "outcome": "failed"},
        {"run": "other", "row": 3, "outcome": "updated"},
        {"run": "k", "row": True, "outcome": "updated"},
        {"run": "k", "row": 0, "outcome": "updated"},
        {"run": "k", "row": -4, "outcome": "updated"},
        {"run": "k", "row": "5", "outcome": "updated"},
        [6],
        {"run": "k", "row": 7, "outcome": "updated"},
    ]
    text = "\ufeff" + "\n".join(json.dumps(line) for line in lines) + "\n{not json\n"
    report.write_bytes(
        text.encode() + b'\xff\xfe{"run": "k"}\n' + b'{"run": "k", "row": 9, "outcome": "updated"}\n'
    )
    progress, log = state(None, str(report))
    progress.load()
    assert progress.earlier.ranges() == [[1, 1], [7, 7], [9, 9]]
    assert log.infos == ["Resuming: 3 rows were updated by an earlier try and are not sent again"]


def test_no_earlier_report_resumes_nothing(tmp_path: Path) -> None:
    progress, log = state(None, str(tmp_path / "none.jsonl"))
    progress.load()
    assert progress.earlier.ranges() == []
    assert (log.infos, log.warnings) == ([], [])


def test_a_storage_fault_reading_the_report_fails_the_try(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_moveworks.exceptions import MoveworksStorageError

    report = tmp_path / "report.jsonl"
    report.write_text('{"run": "k", "row": 1, "outcome": "updated"}\n')

    def fault(*args: Any, **kwargs: Any) -> Any:
        raise MoveworksStorageError("report_file", "the storage timed out")

    monkeypatch.setattr(resume, "open_binary", fault)
    progress, _ = state(None, str(report))
    with pytest.raises(MoveworksStorageError):
        progress.load()

    def gone(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError(str(report))

    monkeypatch.setattr(resume, "open_binary", gone)
    progress, _ = state(None, str(report))
    progress.load()
    assert progress.earlier.ranges() == []


# -- reading saved values ------------------------------------------------------------------------
def test_the_row_count_is_read_from_the_fingerprint() -> None:
    assert _rows_of("20:abc") == 20
    assert _rows_of("x:abc") == 0
    assert _rows_of("") == 0


def test_saved_ranges_must_be_whole_row_numbers_within_the_input() -> None:
    assert _saved_ranges(None, 5) == []
    assert _saved_ranges([[1, 5]], 5) == [(1, 5)]
    assert _saved_ranges([[2, 2], [4, 5]], 5) == [(2, 2), (4, 5)]
    for bad in (
        [[0, 1]],
        [[1, 6]],
        [[3, 2]],
        [[1, True]],
        [[1.0, 2]],
        [[1, 2, 3]],
        [(1, 2)],
        "1-2",
        {"a": 1},
    ):
        assert _saved_ranges(bad, 5) is None, bad


def test_logging_logger_works_as_the_log(caplog: pytest.LogCaptureFixture) -> None:
    progress = ResumeState(
        store=None, report_file=None, key="k", fingerprint=FINGERPRINT, log=logging.getLogger("t")
    )
    with caplog.at_level(logging.WARNING, logger="t"):
        progress.load()
    assert "a retry will send every row again" in caplog.text


def test_a_report_file_that_is_a_device_is_not_read() -> None:
    """/dev/full reads as endless zero bytes: read line by line, it would never end."""
    progress, log = state(None, "/dev/full")
    progress.load()
    assert progress.earlier.ranges() == []
    assert (log.infos, log.warnings) == ([], [])
