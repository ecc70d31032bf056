"""Interruptions in a real Airflow task run (``dag.test()``): execution_timeout stops the bulk
task part-way, Airflow retries it, and the retry resumes instead of sending every row again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS, load_retry_policy

pytestmark = pytest.mark.integration
# Airflow 2.11's dag.test() marks a timed-out try up_for_retry and ends there: no retry to watch.
runs_retries = pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="dag.test() runs retries on Airflow 3")

ROWS = 500


@runs_retries
def test_a_timed_out_try_is_retried_and_resumes_without_resending(
    load_dag, emulator_connection, tmp_path, capfd
):
    emu = emulator_connection
    ids = [emu.add_conversation(title="Old")["conversation_id"] for _ in range(ROWS)]
    updates = tmp_path / "updates.jsonl"
    updates.write_text(
        "".join(json.dumps({"conversation_id": c, "title": f"New {n}"}) + "\n" for n, c in enumerate(ids))
    )
    emu.configure(latency=0.02)  # 2 workers: ~100 rows/s, so each 3 s try does part of the 500
    # Airflow 3.3+ keeps progress in the task state store; older Airflow in report_file.
    report = "" if load_retry_policy() is not None else str(tmp_path / "report.jsonl")

    run = load_dag("moveworks_bulk_resume_test").test(
        run_conf={"updates_file": str(updates), "report_file": report}
    )

    log = capfd.readouterr().out
    assert str(run.state) == "success", log[-3000:]
    assert "Bulk update stopped by execution_timeout after" in log
    assert "Resuming:" in log
    final = emu.conversations()
    assert all(final[c]["title"] == f"New {n}" for n, c in enumerate(ids))
    sent = emu.request_count(method="PATCH")
    tries = log.count("Bulk update stopped by execution_timeout after") + 1
    # Only the requests in flight when a try stopped may be sent twice (2 workers per try).
    assert ROWS <= sent <= ROWS + 2 * tries


def _start_dags_test(tmp_path, emu, rows: int) -> tuple[subprocess.Popen[str], list[str], Path]:
    """``airflow dags test`` of the resume DAG in its own process, 2 workers at ~100 rows/s."""
    ids = [emu.add_conversation(title="Old")["conversation_id"] for _ in range(rows)]
    updates = tmp_path / "updates.jsonl"
    updates.write_text("".join(json.dumps({"conversation_id": c, "archived": True}) + "\n" for c in ids))
    emu.configure(latency=0.02)
    output = tmp_path / "dags-test.log"
    conf = json.dumps({"updates_file": str(updates), "report_file": ""})
    with output.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "dags", "test", "moveworks_bulk_resume_test", "-c", conf],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
            text=True,
        )
    return process, ids, output


def _wait_for_patches(emu, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while emu.request_count(method="PATCH") < count:
        assert process.poll() is None, "airflow dags test ended early"
        assert time.monotonic() < deadline
        time.sleep(0.01)


@runs_retries
def test_sigterm_to_the_task_process_stops_the_try_and_the_retry_resumes(
    dags_folder, emulator_connection, tmp_path
):
    emu = emulator_connection
    process, _, output = _start_dags_test(tmp_path, emu, rows=400)
    try:
        _wait_for_patches(emu, 60, process)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    log = output.read_text()

    assert "Bulk update stopped by on_kill after" in log, log[-3000:]
    assert "Resuming:" in log
    assert all(c["archived"] for c in emu.conversations().values())
    tries = log.count("Bulk update stopped by")  # each stopped try, then the one that finished
    assert 400 <= emu.request_count(method="PATCH") <= 400 + 2 * tries


@pytest.mark.skipif(load_retry_policy() is None, reason="the task state store is Airflow 3.3+")
def test_after_sigkill_the_task_state_store_holds_all_but_about_a_second_of_updates(
    dags_folder, emulator_connection, tmp_path
):
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    from airflow_provider_moveworks.bulk.resume import STATE_KEY, RowRanges

    emu = emulator_connection
    process, _, _ = _start_dags_test(tmp_path, emu, rows=2000)
    try:
        _wait_for_patches(emu, 250, process)  # 2.5 s in: before the 3 s execution_timeout
        process.kill()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    updated = emu.request_count(method="PATCH", status=200)

    with create_session() as session:
        stored = (
            session.query(TaskStateStoreModel)
            .filter_by(dag_id="moveworks_bulk_resume_test", task_id="bulk", key=STATE_KEY)
            .order_by(TaskStateStoreModel.updated_at.desc())
            .first()
        )
        value = json.loads(stored.value)
    saved = len(RowRanges(value["updated"]))

    # Saved every second at ~100 rows/s: a retry would re-send at most about a second of rows.
    assert updated - 150 <= saved <= updated
