"""A bulk run never hangs and stops when told: a worker's unexpected error, on_kill, and waits
(Retry-After pauses, the hook's retry wait, the retry-pass delay) cut short by the stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_moveworks.bulk import summary as summary_module
from airflow_provider_moveworks.exceptions import MoveworksBulkInterruptedError
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from tests.reliability.conftest import read_report

# Generous bounds: each is far below what the old code took (forever, 280 s, 100 s).
RAISES_WITHIN = 5.0
STOPS_WITHIN = 2.0 + 1.5  # the promise, plus slack for a loaded 2-core machine


def run_in_thread(operator: Any, context: Any = None) -> tuple[threading.Thread, dict[str, Any]]:
    """``operator.execute`` in a thread; its result or error lands in the returned dict."""
    outcome: dict[str, Any] = {}

    # Airflow's guard against calling execute() outside a task run keeps per-thread state that
    # Airflow 2.11 sets up only in the main thread: call the operator's own execute beneath it.
    execute = getattr(type(operator).execute, "__wrapped__", type(operator).execute)

    def target() -> None:
        try:
            outcome["summary"] = execute(operator, context if context is not None else {})
        except BaseException as error:  # the test inspects it
            outcome["error"] = error

    thread = threading.Thread(target=target, name="test-execute", daemon=True)
    thread.start()
    return thread, outcome


def bulk_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("moveworks-bulk-") and t.is_alive()]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_report_that_cannot_be_written_stops_the_run_naming_the_cause(make_operator, add_conversations):
    ids = add_conversations(300)
    # Long messages fill the report's buffer quickly: the write fails in a worker, not at close.
    updates = [{"conversation_id": cid, "title": "x" * 200} for cid in ids]
    operator = make_operator(updates=updates, report_file="/dev/full", max_concurrency=4)

    thread, outcome = run_in_thread(operator)
    thread.join(RAISES_WITHIN)

    assert not thread.is_alive(), "execute() still running: the run hangs"
    assert isinstance(outcome.get("error"), MoveworksBulkInterruptedError)
    assert "could not write report_file: No space left on device" in str(outcome["error"])
    assert bulk_threads() == []


def test_an_unexpected_error_while_recording_stops_the_run(make_operator, add_conversations, monkeypatch):
    ids = add_conversations(200)
    original = summary_module.Outcomes.record
    calls = []

    def flaky_record(self: Any, row: int, *args: Any, **kwargs: Any) -> None:
        calls.append(row)
        if len(calls) == 20:
            raise ZeroDivisionError("a bug while recording row 20")
        original(self, row, *args, **kwargs)

    monkeypatch.setattr(summary_module.Outcomes, "record", flaky_record)
    operator = make_operator(updates=[{"conversation_id": cid, "archived": True} for cid in ids])

    thread, outcome = run_in_thread(operator)
    thread.join(RAISES_WITHIN)

    assert not thread.is_alive(), "execute() still running: the run hangs"
    assert isinstance(outcome.get("error"), ZeroDivisionError)
    assert str(outcome["error"]) == "a bug while recording row 20"
    assert bulk_threads() == []


def test_on_kill_stops_sending_within_two_seconds_and_reports_every_answered_row(
    make_operator, add_conversations, emulator_connection, tmp_path, capfd
):
    emu = emulator_connection
    ids = add_conversations(2000)
    emu.configure(latency=0.01)
    report = tmp_path / "report.jsonl"
    operator = make_operator(
        updates=[{"conversation_id": cid, "archived": True} for cid in ids],
        max_concurrency=4,
        report_file=str(report),
    )

    thread, outcome = run_in_thread(operator)
    wait_until(lambda: emu.request_count(method="PATCH") >= 100)
    operator.on_kill()
    stopped_at = time.monotonic()
    thread.join(STOPS_WITHIN)

    assert not thread.is_alive(), "still running after on_kill"
    assert time.monotonic() - stopped_at < STOPS_WITHIN
    assert bulk_threads() == []
    patches = emu.request_count(method="PATCH")
    time.sleep(0.3)
    assert emu.request_count(method="PATCH") == patches  # nothing more left after the stop
    assert patches < 2000
    assert isinstance(outcome.get("error"), MoveworksBulkInterruptedError)
    lines = read_report(report)
    updated = [line for line in lines if line["outcome"] == "updated"]
    assert len(updated) == emu.request_count(method="PATCH", status=200) == len(lines)
    log = capfd.readouterr().out
    assert (
        f"Bulk update stopped by on_kill after {len(lines):,} of 2,000 rows; a retry resumes from report_file"
        in log
    )


def test_stopping_cuts_short_a_retry_after_pause_and_the_hooks_retry_wait(
    add_conversations, emulator_connection, capfd
):
    emu = emulator_connection
    ids = add_conversations(50)
    emu.configure(rate_limit=0.1)  # after the first PATCH: 429 with Retry-After: 10
    # The production hook: its retry waits are real (and end on the stop).
    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="bulk", updates=[{"conversation_id": cid, "title": "t"} for cid in ids], max_concurrency=4
    )

    thread, outcome = run_in_thread(operator)
    wait_until(lambda: emu.request_count(method="PATCH", status=429) >= 1)
    time.sleep(0.3)  # the workers are now inside the 10 s waits
    operator.on_kill()
    stopped_at = time.monotonic()
    thread.join(STOPS_WITHIN)

    assert not thread.is_alive(), "the 10 s Retry-After wait was not cut short"
    assert time.monotonic() - stopped_at < STOPS_WITHIN
    assert isinstance(outcome.get("error"), MoveworksBulkInterruptedError)
    assert bulk_threads() == []


def test_stopping_cuts_short_the_wait_before_a_retry_pass(
    make_operator, add_conversations, emulator_connection
):
    emu = emulator_connection
    ids = add_conversations(5)
    emu.configure(error_rate=1.0)  # every PATCH 500: every row waits for a retry pass
    operator = make_operator(updates=[{"conversation_id": cid, "archived": True} for cid in ids])
    operator.retry_pass_delay = 3600.0

    thread, outcome = run_in_thread(operator)
    wait_until(lambda: emu.request_count(method="PATCH") >= 15)  # 5 rows x (1 + 2 hook retries)
    time.sleep(0.2)
    operator.on_kill()
    thread.join(STOPS_WITHIN)

    assert not thread.is_alive(), "the hour-long retry-pass delay was not cut short"
    assert isinstance(outcome.get("error"), MoveworksBulkInterruptedError)


class AirflowTaskTimeout(BaseException):  # named as Airflow's: the run tells it by name
    """Stands for Airflow's execution_timeout, raised in the main thread by a signal."""


def test_execution_timeout_in_a_retry_pass_gives_each_row_one_outcome(
    make_operator, add_conversations, emulator_connection, tmp_path, monkeypatch
):
    import signal

    from airflow_provider_moveworks.bulk import pool

    emu = emulator_connection
    ids = add_conversations(40)
    emu.configure(error_rate=1.0)  # the first pass fails every row transiently
    original = pool.WorkerPool.run_retry_pass

    def retry_pass(engine: Any, deferred: Any) -> Any:
        emu.configure(error_rate=0.0, latency=0.05)  # the pass gets through a few rows...
        signal.setitimer(signal.ITIMER_REAL, 0.4)  # ...then execution_timeout lands mid-pass
        return original(engine, deferred)

    def timeout(*_: Any) -> None:
        raise AirflowTaskTimeout("Timeout, PID: 1")

    monkeypatch.setattr(pool.WorkerPool, "run_retry_pass", retry_pass)
    previous = signal.signal(signal.SIGALRM, timeout)
    report = tmp_path / "report.jsonl"
    operator = make_operator(
        updates=[{"conversation_id": cid, "archived": True} for cid in ids],
        report_file=str(report),
        max_concurrency=2,
        retry_passes=1,
    )
    try:
        try:
            operator.execute({})
            raise AssertionError("the run was not stopped")
        except AirflowTaskTimeout:
            pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    lines = read_report(report)
    updated = {line["row"] for line in lines if line["outcome"] == "updated"}
    assert 0 < len(updated) < 40  # the timeout really came part-way through the pass
    assert sorted(line["row"] for line in lines) == list(range(1, 41))  # one line per row
    assert all(line["outcome"] in ("updated", "failed") for line in lines)
    archived = {cid for cid, conv in emu.conversations().items() if conv["archived"]}
    assert updated == {n + 1 for n, cid in enumerate(ids) if cid in archived}


def test_on_kill_ends_requests_stuck_in_flight_and_leaves_no_worker(
    make_operator, add_conversations, emulator_connection, monkeypatch
):
    # Every answer 30 s late, well within the connection's timeout: before, on_kill left execute()
    # running 5 s (a 3 s grace, then half a second per worker) and every worker thread alive,
    # blocked in its socket read (closing the session does not touch a connection in use).
    import json

    from tests.conftest import API_KEY, ASSISTANT

    emu = emulator_connection
    ids = add_conversations(20)
    conn = {"conn_type": "moveworks", "host": emu.base_url, "password": API_KEY}
    conn["extra"] = {"assistant_name": ASSISTANT, "max_retries": 0, "timeout": 120}
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
    emu.configure(slow_rate=1.0, slow_seconds=30.0)
    operator = make_operator(
        updates=[{"conversation_id": cid, "archived": True} for cid in ids], max_concurrency=4
    )

    thread, outcome = run_in_thread(operator)
    time.sleep(0.5)  # four requests in flight, each answered only in 30 s
    killed = time.monotonic()
    operator.on_kill()
    thread.join(10)

    assert not thread.is_alive()
    assert time.monotonic() - killed < STOPS_WITHIN
    assert isinstance(outcome.get("error"), MoveworksBulkInterruptedError)
    wait_until(lambda: not bulk_threads(), timeout=1.0)


@pytest.mark.parametrize(
    ("error", "named"),
    [
        pytest.param(AirflowTaskTimeout("Timeout, PID: 1"), "execution_timeout", id="execution_timeout"),
        pytest.param(KeyboardInterrupt(), "an interrupt", id="interrupt"),
        pytest.param(RuntimeError("a bug"), "an unexpected error (RuntimeError)", id="bug"),
    ],
)
def test_an_error_raised_in_the_run_s_own_thread_is_named_in_the_stop_log_and_raised_unchanged(
    error, named, make_operator, add_conversations, monkeypatch, caplog, capfd
):
    from airflow_provider_moveworks.bulk import pool

    ids = add_conversations(3)

    def first_pass(engine: Any, steps: Any, first_pass: bool = False) -> Any:
        raise error

    monkeypatch.setattr(pool.WorkerPool, "run", first_pass)
    operator = make_operator(updates=[{"conversation_id": cid, "archived": True} for cid in ids])

    with pytest.raises(type(error)) as raised:
        operator.execute({})

    assert raised.value is error
    logged = caplog.text + capfd.readouterr().out
    assert f"Bulk update stopped by {named} after 0 of 3 rows" in logged
