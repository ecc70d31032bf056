"""A later try of the same task instance does not send again what an earlier try updated:
progress in the task state store (Airflow 3.3+) or, without one, in report_file."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_moveworks.bulk.resume import STATE_KEY, RowRanges
from airflow_provider_moveworks.exceptions import MoveworksBulkInterruptedError
from tests.bulk.test_stopping import run_in_thread, wait_until
from tests.reliability.conftest import read_report

pytestmark = pytest.mark.integration

ROWS = 600


class MemoryStateStore:
    """The ``get``/``set`` of Airflow's TaskStateStoreAccessor, kept in a dict (values go through
    JSON, as they do on their way to the API server)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sets = 0
        self.set_at: list[float] = []  # time.monotonic() of each set

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.values[key]) if key in self.values else default

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.sets += 1
        self.set_at.append(time.monotonic())
        self.values[key] = json.dumps(value)


def context(store: MemoryStateStore | None = None, run_id: str = "manual__1", map_index: int = -1) -> dict:
    ti = SimpleNamespace(dag_id="archive", run_id=run_id, task_id="bulk", map_index=map_index)
    ctx: dict[str, Any] = {"ti": ti}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


def first_try_stopped(make_operator, emu, updates, ctx, **kwargs) -> int:
    """Run a try and stop it with on_kill part-way; returns the PATCHes it sent."""
    emu.configure(latency=0.005)
    operator = make_operator(updates=updates, max_concurrency=4, **kwargs)
    thread, outcome = run_in_thread(operator, ctx)
    wait_until(lambda: emu.request_count(method="PATCH") >= 150)
    operator.on_kill()
    thread.join(10)
    assert isinstance(outcome.get("error"), MoveworksBulkInterruptedError)
    emu.configure(latency=0.0)
    return emu.request_count(method="PATCH")


def test_a_retry_resumes_from_the_task_state_store(
    make_operator, add_conversations, emulator_connection, tmp_path
):
    emu = emulator_connection
    ids = add_conversations(ROWS)
    updates = [{"conversation_id": cid, "title": f"New {n}"} for n, cid in enumerate(ids)]
    store = MemoryStateStore()
    report = tmp_path / "report.jsonl"

    sent_first = first_try_stopped(make_operator, emu, updates, context(store), report_file=str(report))
    updated_first = emu.request_count(method="PATCH", status=200)
    saved = store.get(STATE_KEY)
    assert len(RowRanges(saved["updated"])) == updated_first  # every answered update was saved
    assert len(saved["updated"]) <= 5  # compact: a range and the few rows above it

    summary = make_operator(updates=updates, report_file=str(report)).execute(context(store))

    assert emu.request_count(method="PATCH") - sent_first == ROWS - updated_first  # nothing sent twice
    assert summary["resumed"] == updated_first
    assert (summary["total"], summary["updated"]) == (ROWS, ROWS)
    lines = read_report(report)
    assert sorted(line["row"] for line in lines) == list(range(1, ROWS + 1))  # one line per row
    assert sum(1 for line in lines if line.get("resumed")) == updated_first
    final = emu.conversations()
    assert all(final[cid]["title"] == f"New {n}" for n, cid in enumerate(ids))


def test_without_a_state_store_a_retry_resumes_from_report_file(
    make_operator, add_conversations, emulator_connection, tmp_path
):
    emu = emulator_connection
    ids = add_conversations(ROWS)
    updates = [{"conversation_id": cid, "archived": True} for cid in ids]
    report = tmp_path / "report.jsonl"

    sent_first = first_try_stopped(make_operator, emu, updates, context(), report_file=str(report))
    updated_first = emu.request_count(method="PATCH", status=200)

    summary = make_operator(updates=updates, report_file=str(report)).execute(context())

    assert emu.request_count(method="PATCH") - sent_first == ROWS - updated_first
    assert summary["resumed"] == updated_first
    lines = read_report(report)
    assert sorted(line["row"] for line in lines) == list(range(1, ROWS + 1))


@pytest.mark.parametrize("other", [{"run_id": "manual__2"}, {"map_index": 3}])
def test_a_report_from_another_run_or_map_index_is_never_used(
    make_operator, add_conversations, emulator_connection, tmp_path, other
):
    emu = emulator_connection
    ids = add_conversations(50)
    updates = [{"conversation_id": cid, "archived": True} for cid in ids]
    report = tmp_path / "report.jsonl"
    make_operator(updates=updates, report_file=str(report)).execute(context())

    summary = make_operator(updates=updates, report_file=str(report)).execute(context(**other))

    assert summary["resumed"] == 0
    assert emu.request_count(method="PATCH") == 100  # every row sent by each


def test_a_changed_input_starts_over(make_operator, add_conversations, emulator_connection, capfd):
    emu = emulator_connection
    ids = add_conversations(20)
    store = MemoryStateStore()
    make_operator(updates=[{"conversation_id": c, "title": "A"} for c in ids]).execute(context(store))

    summary = make_operator(updates=[{"conversation_id": c, "title": "B"} for c in ids]).execute(
        context(store)
    )

    assert summary["resumed"] == 0
    assert emu.request_count(method="PATCH") == 40
    assert "The input changed since an earlier try: every row is sent again" in capfd.readouterr().out


def test_rows_that_failed_are_tried_again_by_the_retry(make_operator, add_conversations, emulator_connection):
    ids = add_conversations(4)
    store = MemoryStateStore()
    updates = [{"conversation_id": c, "archived": True} for c in ids]
    emulator_connection.configure(error_rate=1.0)  # an outage: every row fails with a 500
    with pytest.raises(Exception, match="4 failed"):
        make_operator(updates=updates, retry_passes=0).execute(context(store))

    emulator_connection.configure(error_rate=0.0)  # over
    summary = make_operator(updates=updates).execute(context(store))

    assert (summary["updated"], summary["resumed"]) == (4, 0)


def test_progress_is_saved_at_least_every_second(make_operator, add_conversations, emulator_connection):
    emu = emulator_connection
    ids = add_conversations(300)
    emu.configure(latency=0.02)
    store = MemoryStateStore()
    operator = make_operator(
        updates=[{"conversation_id": c, "archived": True} for c in ids], max_concurrency=2
    )
    started = time.monotonic()

    summary = operator.execute(context(store))

    seconds = time.monotonic() - started
    assert summary["updated"] == 300
    assert seconds > 2.5  # long enough for two saves a second apart
    # Saved each second of sending (a slice of 0.1 s late at most on a busy machine): a save
    # every 2 s leaves a gap of 2 s.
    gaps = [later - earlier for earlier, later in zip([started, *store.set_at], store.set_at, strict=False)]
    assert max(gaps) < 1.7, gaps
    assert len(RowRanges(store.get(STATE_KEY)["updated"])) == 300


def test_the_log_says_a_retry_sends_every_row_again_when_nothing_keeps_progress(
    make_operator, add_conversations, emulator_connection, capfd
):
    (cid,) = add_conversations(1)

    make_operator(updates=[{"conversation_id": cid, "archived": True}]).execute(context())

    assert "a retry will send every row again" in capfd.readouterr().out


def test_row_ranges_merge_and_answer_membership():
    ranges = RowRanges()
    for row in [3, 1, 2, 7, 5, 6, 10]:
        ranges.add(row)
    assert ranges.ranges() == [[1, 3], [5, 7], [10, 10]]
    assert 6 in ranges
    assert 4 not in ranges
    assert 11 not in ranges
    ranges.add(4)
    assert ranges.ranges() == [[1, 7], [10, 10]]
    assert len(ranges) == 8
    assert RowRanges([[5, 9], [1, 4], [12, 12]]).ranges() == [[1, 9], [12, 12]]


def test_the_saved_progress_stays_small_when_updates_are_scattered(monkeypatch):
    from airflow_provider_moveworks.bulk import resume

    monkeypatch.setattr(resume, "MAX_SAVED_RANGES", 3)
    store = MemoryStateStore()
    progress = resume.ResumeState(store=store, report_file=None, key="k", fingerprint="f", log=None)
    for row in range(1, 20, 2):  # every other row: 10 ranges
        progress.add(row)

    progress.save()

    assert store.get(STATE_KEY)["updated"] == [[1, 1], [3, 3], [5, 5]]  # the first ones: a safe prefix


def test_a_failing_state_store_does_not_fail_the_run(
    make_operator, add_conversations, emulator_connection, capfd
):
    class BrokenStore:
        def get(self, key: str, default: Any = None) -> Any:
            raise RuntimeError("API server unreachable")

        def set(self, key: str, value: Any, **_: Any) -> None:
            raise RuntimeError("API server unreachable")

    ids = add_conversations(3)

    summary = make_operator(updates=[{"conversation_id": c, "archived": True} for c in ids]).execute(
        context(BrokenStore())  # type: ignore[arg-type]
    )

    assert summary["updated"] == 3
    assert "The task state store failed (RuntimeError: API server unreachable)" in capfd.readouterr().out


def test_a_report_file_cut_mid_character_or_edited_by_hand_still_resumes(
    make_operator, add_conversations, emulator_connection, tmp_path
):
    # A worker killed mid-write leaves a line cut inside a multi-byte character; hand edits leave
    # lines that are not objects or rows that are not numbers. The good lines still count, and
    # no try fails reading the report (it would fail every retry: the report is read first).
    emu = emulator_connection
    ids = add_conversations(20)
    updates = [{"conversation_id": cid, "archived": True} for cid in ids]
    report = tmp_path / "report.jsonl"
    make_operator(updates=updates, report_file=str(report)).execute(context())
    lines = report.read_bytes().splitlines(keepends=True)
    assert len(lines) == 20
    key = json.loads(lines[0])["run"]
    kept = b"".join(lines[:10])
    edits = [
        json.dumps({"row": True, "outcome": "updated", "run": key}).encode() + b"\n",
        json.dumps({"row": -3, "outcome": "updated", "run": key}).encode() + b"\n",
        b"[1, 2]\n\x00\x00\n",
    ]
    cut = json.dumps({"row": 11, "run": key, "message": "é"}, ensure_ascii=False).encode()
    cut = cut[: cut.index("é".encode()) + 1]  # the first byte of "é" only
    report.write_bytes(kept + b"".join(edits) + cut)
    before = emu.request_count(method="PATCH")

    summary = make_operator(updates=updates, report_file=str(report)).execute(context())

    assert summary["resumed"] == 10
    assert (summary["total"], summary["updated"]) == (20, 20)
    assert emu.request_count(method="PATCH") - before == 10


@pytest.mark.parametrize(
    "updated",
    [[[1, "x"]], [[5]], [1, 2], "1-10", [[1, 10**30]], [[None, 2]], [[0, 5]], [[True, 3]]],
)
def test_unreadable_saved_progress_sends_every_row_again(
    make_operator, add_conversations, emulator_connection, capfd, updated
):
    # The task state store can be edited through Airflow's REST API, or hold another version's
    # shape: before, a bad value failed every try (ValueError, TypeError, OverflowError), and a
    # range past the last row passed for rows updated.
    emu = emulator_connection
    ids = add_conversations(20)
    updates = [{"conversation_id": cid, "archived": True} for cid in ids]
    store = MemoryStateStore()
    make_operator(updates=updates).execute(context(store))
    saved = store.get(STATE_KEY)
    store.set(STATE_KEY, {**saved, "updated": updated})

    summary = make_operator(updates=updates).execute(context(store))

    assert (summary["updated"], summary["resumed"]) == (20, 0)
    assert emu.request_count(method="PATCH") == 40
    assert "unreadable" in capfd.readouterr().out


def test_saving_while_workers_add_rows_never_fails():
    # The main thread saves while workers add: without a shared lock the saver read the range
    # lists mid-insert and the run died with "zip() argument 2 is shorter than argument 1".
    import random
    import sys
    import threading

    from airflow_provider_moveworks.bulk import resume

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows at once
    store = MemoryStateStore()
    progress = resume.ResumeState(store=store, report_file=None, key="k", fingerprint="f", log=None)
    rows = list(range(1, 100_001))
    random.Random(1).shuffle(rows)  # scattered: many inserts into the middle of the lists
    errors: list[BaseException] = []
    added = threading.Event()

    def add_rows() -> None:
        for row in rows:
            progress.add(row)
        added.set()

    worker = threading.Thread(target=add_rows)
    try:
        worker.start()
        while not added.is_set():
            try:
                progress.save()
            except Exception as error:  # collected: the assertion below names them
                errors.append(error)
        worker.join(timeout=30)
    finally:
        sys.setswitchinterval(previous)

    progress.save()
    assert errors == []
    assert store.get(STATE_KEY)["updated"] == [[1, 100_000]]


def test_a_retry_resuming_from_report_file_sends_the_rows_not_found_again_and_fails_again(
    make_operator, add_conversations, emulator_connection, tmp_path
):
    """With if_not_found='fail', the first try's 404 rows are not updated rows: the retry sends
    them again and fails again."""
    emu = emulator_connection
    ids = add_conversations(3)
    missing = "conv_0000000000000000000missing"
    updates = [{"conversation_id": c, "archived": True} for c in (ids[0], missing, ids[1], ids[2])]
    report = tmp_path / "report.jsonl"
    for attempt in (1, 2):
        with pytest.raises(Exception, match="1 not found") as raised:
            make_operator(updates=updates, report_file=str(report), if_not_found="fail").execute(context())
        summary = raised.value.summary  # type: ignore[attr-defined]
        assert (summary["updated"], summary["not_found"], summary["resumed"]) == (
            3,
            1,
            0 if attempt == 1 else 3,
        )
    assert emu.request_count(method="PATCH", status=404) == 2
    assert emu.request_count(method="PATCH", status=200) == 3


def test_a_slow_server_run_updates_every_row(make_operator, add_conversations, emulator_connection):
    """No stop was asked: the workers are waited for however long each answer takes."""
    emu = emulator_connection
    ids = add_conversations(8)
    emu.configure(latency=2.0)
    summary = make_operator(
        updates=[{"conversation_id": c, "archived": True} for c in ids], max_concurrency=4
    ).execute(context())
    assert (summary["total"], summary["updated"]) == (8, 8)
    assert emu.request_count(method="PATCH", status=200) == 8
