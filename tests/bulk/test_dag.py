"""The bulk operator in a real DAG run (``dag.test()``), fed by an upstream task's XCom."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_a_dag_run_updates_the_rows_an_upstream_task_produced(load_dag, emulator_connection, tmp_path):
    emu = emulator_connection
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(5)]
    results_file = tmp_path / "summary.json"

    run = load_dag("moveworks_bulk_test").test(
        run_conf={"conversation_ids": ids, "results_file": str(results_file)}
    )

    assert str(run.state) == "success"
    summary = json.loads(results_file.read_text())
    del summary["duration_seconds"]
    assert summary == {
        "total": 5,
        "updated": 5,
        "not_found": 0,
        "failed": 0,
        "invalid": 0,
        "duplicates": 0,
        "unchanged": 0,
        "would_update": 0,
        "dry_run": False,
        "resumed": 0,
        "requests": 5,
        "retries": 0,
        "throttled": 0,
        "failures": [],
    }
    state = emu.conversations()
    assert [(state[c]["title"], state[c]["archived"]) for c in ids] == [
        (f"Bulk {n}", n % 2 == 0) for n in range(5)
    ]
    assert emu.request_count() == 5


def test_sharded_files_mapped_over_bulk_tasks_update_every_row(load_dag, emulator_connection, tmp_path):
    emu = emulator_connection
    ids = [emu.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(9)]
    shards = []
    for shard in range(3):
        path = tmp_path / f"part-{shard}.csv"
        rows = [f"{cid},,true" for cid in ids[shard::3]]
        path.write_text("conversation_id,title,archived\n" + "\n".join(rows) + "\n")
        shards.append(path.as_uri())

    run = load_dag("moveworks_bulk_sharded_test").test(run_conf={"shards": shards})

    assert str(run.state) == "success"
    state = emu.conversations()
    assert [(state[c]["title"], state[c]["archived"]) for c in ids] == [(f"Old {n}", True) for n in range(9)]
    assert emu.request_count(method="PATCH", status=200) == 9
