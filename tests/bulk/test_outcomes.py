"""Each row's outcome against the emulator over loopback: updated, duplicate, invalid,
not found, failed; the summary's exact counters; and the stop on a refused API key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_moveworks.bulk.runner import (
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksBulkUpdateError,
)
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.version_compat import AirflowFailException
from tests.bulk.conftest import API_KEY, counters, state, wrong_key_connection

pytestmark = pytest.mark.integration

MISSING = "conv_000000000000000000000"


def _summary(**fields):
    base = {
        "total": 0,
        "updated": 0,
        "not_found": 0,
        "failed": 0,
        "invalid": 0,
        "duplicates": 0,
        "unchanged": 0,
        "would_update": 0,
        "dry_run": False,
        "resumed": 0,
        "requests": 0,
        "retries": 0,
        "throttled": 0,
        "failures": [],
    }
    base.update(fields)
    base["total"] = sum(base[k] for k in ("updated", "not_found", "failed", "invalid", "duplicates"))
    return base


def test_every_row_is_updated_and_the_summary_is_exact(make_operator, add_conversations, emulator):
    ids = add_conversations(20)
    updates = [
        {"conversation_id": cid, "title": f"New {n}"} if n % 2 else {"conversation_id": cid, "archived": True}
        for n, cid in enumerate(ids)
    ]

    summary = make_operator(updates=updates, max_concurrency=4).execute({})

    assert counters(summary) == _summary(updated=20, requests=20)
    assert isinstance(summary["duration_seconds"], float)
    expected = {cid: (f"New {n}", False) if n % 2 else (f"Old {n}", True) for n, cid in enumerate(ids)}
    assert state(emulator) == expected
    assert emulator.request_count(method="PATCH", status=200) == 20
    assert emulator.request_count() == 20


def test_identical_duplicate_rows_are_sent_once_and_counted_as_duplicates(
    make_operator, add_conversations, emulator
):
    first, second = add_conversations(2)
    updates = [
        {"conversation_id": first, "title": "Same"},
        {"conversation_id": second, "archived": "yes"},
        {"conversation_id": first, "title": "Same"},
        {"conversation_id": second, "archived": True},  # the same change, spelt differently
        {"conversation_id": first, "title": "Same"},
    ]

    summary = make_operator(updates=updates).execute({})

    assert counters(summary) == _summary(updated=2, duplicates=3, requests=2)
    assert state(emulator) == {first: ("Same", False), second: ("Old 1", True)}
    assert emulator.request_count(method="PATCH") == 2


def test_rows_asking_different_changes_of_one_conversation_are_all_invalid(
    make_operator, add_conversations, emulator
):
    racing, other = add_conversations(2)
    updates = [
        {"conversation_id": racing, "title": "A"},
        {"conversation_id": other, "title": "Fine"},
        {"conversation_id": racing, "title": "B"},
    ]

    summary = make_operator(updates=updates, on_invalid="skip").execute({})

    reason = f"rows 1 and 3 (of 2) ask for different changes to {racing}; none of them is sent"
    failures = [
        {
            "row": 1,
            "conversation_id": racing,
            "outcome": "invalid",
            "status": None,
            "code": None,
            "message": reason,
        },
        {
            "row": 3,
            "conversation_id": racing,
            "outcome": "invalid",
            "status": None,
            "code": None,
            "message": reason,
        },
    ]
    assert counters(summary) == _summary(updated=1, invalid=2, requests=1, failures=failures)
    assert state(emulator) == {racing: ("Old 0", False), other: ("Fine", False)}


def test_invalid_rows_fail_the_task_before_any_request_with_on_invalid_fail(
    make_operator, add_conversations, emulator
):
    (cid,) = add_conversations(1)
    updates = [
        {"conversation_id": cid, "title": "Fine"},
        {"conversation_id": "not-an-id", "title": "x"},
        {"conversation_id": cid},
        {"conversation_id": cid, "archive": True},
        "not a mapping",
    ]

    with pytest.raises(MoveworksBulkInvalidRowsError) as raised:
        make_operator(updates=updates).execute({})

    message = str(raised.value)
    assert message.startswith("4 of 5 rows are invalid; no request was sent")
    assert "row 2: Invalid conversation_id: 'not-an-id' is not 'conv_'" in message
    assert "row 3: Invalid title/archived: give at least one of title and archived" in message
    assert "row 4: Invalid row: unknown field(s) 'archive'" in message
    assert "row 5: Invalid row: must be a mapping, got 'not a mapping'" in message
    assert emulator.request_count() == 0
    assert state(emulator) == {cid: ("Old 0", False)}


def test_invalid_rows_are_reported_and_the_others_sent_with_on_invalid_skip(
    make_operator, add_conversations, emulator
):
    (cid,) = add_conversations(1)
    updates = [{"conversation_id": "conv_bad-id", "title": "x"}, {"conversation_id": cid, "title": " "}, {}]
    updates.insert(1, {"conversation_id": cid, "archived": "nope"})
    updates.append({"conversation_id": cid, "archived": 1})

    summary = make_operator(updates=updates, on_invalid="skip").execute({})

    assert [(f["row"], f["conversation_id"], f["outcome"]) for f in summary["failures"]] == [
        (1, "conv_bad-id", "invalid"),
        (2, cid, "invalid"),
        (3, cid, "invalid"),
        (4, None, "invalid"),
    ]
    assert summary["failures"][2]["message"] == "Invalid title: must not be empty or blank"
    assert counters(summary) == _summary(updated=1, invalid=4, requests=1, failures=summary["failures"])
    assert state(emulator) == {cid: ("Old 0", True)}


def test_not_found_is_reported_by_default(make_operator, add_conversations, emulator):
    (cid,) = add_conversations(1)
    updates = [{"conversation_id": MISSING, "archived": True}, {"conversation_id": cid, "archived": True}]

    summary = make_operator(updates=updates).execute({})

    (failure,) = summary["failures"]
    assert failure["row"] == 1
    assert failure["outcome"] == "not_found"
    assert failure["status"] == 404
    assert failure["code"] == "NOT_FOUND"
    assert counters(summary) == _summary(updated=1, not_found=1, requests=2, failures=[failure])
    assert state(emulator) == {cid: ("Old 0", True)}


def test_not_found_fails_the_task_after_every_row_with_if_not_found_fail(
    make_operator, add_conversations, emulator
):
    ids = add_conversations(3)
    updates = [{"conversation_id": MISSING, "title": "x"}] + [
        {"conversation_id": c, "title": "y"} for c in ids
    ]

    with pytest.raises(MoveworksBulkUpdateError) as raised:
        make_operator(updates=updates, if_not_found="fail").execute({})

    assert str(raised.value).startswith(
        "Bulk update of 4 rows: 0 failed, 1 not found, 0 invalid, 0 duplicates, 3 updated "
        f"(if_not_found='fail'). "
        f"First ones: row 1 ({MISSING}): not_found 404 NOT_FOUND: "
    )
    assert counters(raised.value.summary) == _summary(
        updated=3, not_found=1, requests=4, failures=raised.value.summary["failures"]
    )
    assert all(title == "y" for title, _ in state(emulator).values())


def test_a_refused_assistant_name_stops_the_run_after_a_handful_of_requests(
    make_operator, add_conversations, emulator, tmp_path
):
    # 403 FORBIDDEN is Moveworks' answer to an assistant name it does not know: the same header
    # goes with every row, so every row would fail, and every retry of the task again.
    ids = add_conversations(200)
    report = tmp_path / "report.jsonl"

    with pytest.raises(MoveworksBulkStoppedError) as raised:
        make_operator(
            updates=[{"conversation_id": c, "title": "x"} for c in ids],
            assistant_name="other",
            max_concurrency=4,
            report_file=str(report),
        ).execute({})

    assert emulator.request_count(method="PATCH", status=403) <= 8
    assert emulator.request_count(status=200) == 0
    assert str(raised.value).startswith("Bulk update stopped after ")
    assert "Moveworks refused the assistant name, so every row would fail" in str(raised.value)
    assert isinstance(raised.value, AirflowFailException)  # no retry: it would meet the same 403


def test_a_refused_api_key_stops_the_run_after_a_handful_of_requests(
    make_operator, add_conversations, emulator, monkeypatch, tmp_path
):
    ids = add_conversations(200)
    wrong_key_connection(monkeypatch, emulator)
    report = tmp_path / "report.jsonl"

    with pytest.raises(MoveworksBulkStoppedError) as raised:
        make_operator(
            updates=[{"conversation_id": c, "title": "x"} for c in ids],
            max_concurrency=4,
            report_file=str(report),
        ).execute({})

    assert emulator.request_count(method="PATCH", status=401) <= 8
    assert emulator.request_count(status=200) == 0
    message = str(raised.value)
    assert "Moveworks refused the credentials, so every row would fail" in message
    assert "wrong-key-5d1e" not in message
    assert "wrong-key-5d1e" not in report.read_text()


def test_transient_failures_count_as_failed_only_after_the_retry_passes(
    make_operator, add_conversations, emulator
):
    ids = add_conversations(5)
    emulator.configure(error_rate=1.0)

    with pytest.raises(MoveworksBulkUpdateError) as raised:
        make_operator(
            updates=[{"conversation_id": c, "archived": True} for c in ids], retry_passes=1
        ).execute({})

    summary = raised.value.summary
    # Each pass: one request and the connection's two retries, per row; two passes.
    assert counters(summary) == _summary(failed=5, requests=30, retries=25, failures=summary["failures"])
    assert {(f["status"], f["code"]) for f in summary["failures"]} == {(500, "INTERNAL_ERROR")}
    assert emulator.request_count(method="PATCH", status=500) == 30
    assert all(not archived for _, archived in state(emulator).values())


def test_error_and_drop_faults_end_with_every_row_updated_and_exact_accounting(
    make_operator, add_conversations, emulator
):
    ids = add_conversations(150)
    emulator.configure(error_rate=0.2, drop_rate=0.1)
    updates = [
        {"conversation_id": c, "title": f"Fixed {n}", "archived": n % 3 == 0} for n, c in enumerate(ids)
    ]

    summary = make_operator(updates=updates, max_concurrency=8, retry_passes=3).execute({})

    assert summary["updated"] == 150
    assert summary["total"] == 150
    assert summary["failures"] == []
    assert summary["requests"] == emulator.request_count(method="PATCH")
    assert summary["retries"] == summary["requests"] - 150
    assert emulator.request_count(method="PATCH", status=200) == 150
    assert (
        emulator.request_count(method="PATCH", status=500)
        + emulator.request_count(method="PATCH", status="dropped")
        == summary["requests"] - 150
    )
    assert state(emulator) == {c: (f"Fixed {n}", n % 3 == 0) for n, c in enumerate(ids)}


def test_no_secret_reaches_the_summary_report_or_log(
    make_operator, add_conversations, tmp_path, caplog, capfd
):
    ids = add_conversations(3)
    report = tmp_path / "report.jsonl"

    summary = make_operator(
        updates=[{"conversation_id": c, "title": "x"} for c in ids], report_file=str(report)
    ).execute({})

    captured = capfd.readouterr()
    for text in (str(summary), report.read_text(), caplog.text, captured.out, captured.err):
        assert API_KEY not in text


@pytest.mark.parametrize("rewrite", ["truncated", "edited", "appended"])
def test_an_input_rewritten_between_the_passes_fails_the_task_with_every_planned_row_counted(
    make_operator, add_conversations, emulator, tmp_path, monkeypatch, rewrite
):
    # An upstream task or a person rewriting updates_file while the task runs: before, a file cut
    # to 5 of its 20 rows after the validation pass ended in success with total 5 and no warning.
    from airflow_provider_moveworks.bulk import plan as plan_module
    from airflow_provider_moveworks.exceptions import MoveworksBulkUpdateError

    ids = add_conversations(20)
    path = tmp_path / "updates.csv"
    path.write_text("conversation_id,archived\n" + "".join(f"{cid},true\n" for cid in ids))
    new = {
        "truncated": "".join(f"{cid},true\n" for cid in ids[:5]),
        "edited": "".join(f"{cid},{'false' if n >= 15 else 'true'}\n" for n, cid in enumerate(ids)),
        "appended": "".join(f"{cid},true\n" for cid in ids) + f"{ids[0]},false\n" * 3,
    }[rewrite]
    scan = plan_module.Plan.scan

    def scan_then_rewrite(plan: Any, stop: Any = None) -> None:
        scan(plan, stop)
        path.write_text("conversation_id,archived\n" + new)

    monkeypatch.setattr(plan_module.Plan, "scan", scan_then_rewrite)

    with pytest.raises(MoveworksBulkUpdateError, match="rewritten while the task ran") as raised:
        make_operator(updates_file=str(path)).execute({})

    summary = raised.value.summary
    changed = {"truncated": 15, "edited": 5, "appended": 3}[rewrite]
    assert summary["invalid"] == changed
    assert summary["total"] == 20 + (3 if rewrite == "appended" else 0)
    assert (
        emulator.request_count(method="PATCH")
        == summary["updated"]
        == 20 - (changed if rewrite != "appended" else 0)
    )


def test_rows_kept_for_a_retry_pass_do_not_keep_their_responses(
    make_operator, add_conversations, emulator, monkeypatch
):
    # Each deferred row kept its error's traceback, whose frames hold the whole response: about
    # 14 KB a row with the emulator's short 500 body (1.4 GB for 100,000 rows of an outage).
    import gc
    import tracemalloc

    from airflow_provider_moveworks.bulk import pool, runner

    rows = 1_000
    ids = add_conversations(rows)
    emulator.configure(error_rate=1.0)
    held: list[int] = []
    kept: list[Any] = []
    original = pool.WorkerPool.run

    def run(engine: Any, steps: Any, **kwargs: Any) -> Any:
        deferred = original(engine, steps, **kwargs)
        gc.collect()
        held.append(tracemalloc.get_traced_memory()[0])
        kept.extend(deferred)
        return deferred

    monkeypatch.setattr(pool.WorkerPool, "run", run)
    operator = make_operator(
        updates=[{"conversation_id": cid, "archived": True} for cid in ids], retry_passes=0
    )
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        with pytest.raises(runner.MoveworksBulkUpdateError):
            operator.execute({})
    finally:
        tracemalloc.stop()

    assert len(kept) == rows
    assert all(item.error.__traceback__ is None for item in kept)
    assert (held[0] - base) / rows < 5_000  # bytes a row, the emulator's own bookkeeping included


def test_a_row_holding_the_connections_key_is_invalid_and_nothing_quotes_the_key(
    make_operator, add_conversations, emulator, tmp_path
):
    # A title holding the key is refused before anything is sent, like any invalid row; an
    # archived or conversation_id cell holding it is quoted nowhere (summary, report, error).
    ids = add_conversations(3)
    report = tmp_path / "report.jsonl"
    updates = [
        {"conversation_id": ids[0], "title": "fine"},
        {"conversation_id": ids[1], "title": f"key {API_KEY}"},
        {"conversation_id": ids[2], "archived": API_KEY},
        {"conversation_id": API_KEY, "title": "x"},
    ]

    with pytest.raises(MoveworksBulkInvalidRowsError) as raised:
        make_operator(updates=updates).execute({})
    assert "3 of 4 rows are invalid; no request was sent" in str(raised.value)
    assert "row 2: Invalid title: holds this connection's API key" in str(raised.value)
    assert API_KEY not in repr(raised.value)
    assert emulator.request_count(method="PATCH") == 0

    summary = make_operator(updates=updates, on_invalid="skip", report_file=str(report)).execute({})
    assert (summary["updated"], summary["invalid"]) == (1, 3)
    assert API_KEY not in repr(summary)
    assert API_KEY not in report.read_text()
    assert emulator.request_count(method="PATCH") == 1


def test_an_unusable_connection_fails_the_run_not_every_row(
    make_operator, add_conversations, emulator, monkeypatch
):
    # Read once, before the validation pass: an unusable extra was blamed on every row (and
    # with on_invalid="skip" the task succeeded with nothing sent), the connection re-read per row.
    ids = add_conversations(3)
    conn = {
        "conn_type": "moveworks",
        "host": emulator.base_url,
        "password": API_KEY,
        "extra": {"assistant_name": emulator.assistant_name, "timeout": "abc"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))

    with pytest.raises(MoveworksValidationError) as raised:
        make_operator(
            updates=[{"conversation_id": c, "archived": True} for c in ids], on_invalid="skip"
        ).execute({})

    assert str(raised.value) == (
        "Invalid Timeout (seconds) (connection extra 'timeout'): 'abc' is not a number"
    )
    assert emulator.request_count() == 0


def test_an_invalid_row_quoting_the_api_key_is_reported_without_it(make_operator, add_conversations) -> None:
    from tests.conftest import API_KEY

    (cid,) = add_conversations(1)
    updates = [[API_KEY, "not an object"], {"conversation_id": cid, "title": "New"}]

    summary = make_operator(updates=updates, on_invalid="skip").execute({})

    (failure,) = summary["failures"]
    assert failure["row"] == 1
    assert failure["message"] == "Invalid row: must be a mapping, got ['***', 'not an object']"
    assert API_KEY not in failure["message"]
    assert (summary["updated"], summary["invalid"]) == (1, 1)


def test_refusing_a_row_that_quotes_the_api_key_quotes_it_without_the_key(
    make_operator, add_conversations
) -> None:
    from airflow_provider_moveworks.exceptions import MoveworksBulkInvalidRowsError
    from tests.conftest import API_KEY

    (cid,) = add_conversations(1)
    updates = [[API_KEY, "not an object"], {"conversation_id": cid, "title": "New"}]

    with pytest.raises(MoveworksBulkInvalidRowsError) as raised:
        make_operator(updates=updates).execute({})

    assert str(raised.value).endswith(
        "First ones: row 1: Invalid row: must be a mapping, got ['***', 'not an object']"
    )
    assert API_KEY not in str(raised.value)
