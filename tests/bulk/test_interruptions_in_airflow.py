"""Interruptions in a real Airflow task run (``dag.test()``): execution_timeout stops the bulk
task part-way, Airflow retries it, and the retry resumes instead of sending every row again."""

from __future__ import annotations

import json

import pytest

from airflow_provider_moveworks.version_compat import load_retry_policy

pytestmark = pytest.mark.integration

ROWS = 500


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
