"""The operator in a real DAG run (``dag.test()``) against the emulator over loopback: values
rendered from params and ``dag_run.conf``, an upstream XCom, and a mapped ``expand_kwargs``."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_operator_runs_in_a_dag_with_params_xcom_and_mapping(load_dag, emulator_connection, tmp_path) -> None:
    emu = emulator_connection
    target = emu.add_conversation(title="Old title", archived=False)
    mapped_ids = [emu.add_conversation(title=f"Mapped {n}")["conversation_id"] for n in range(3)]
    results_file = tmp_path / "results.json"

    run = load_dag("moveworks_operator_test").test(
        run_conf={
            "conversation_id": target["conversation_id"],
            "archive": "Yes",
            "mapped_ids": mapped_ids,
            "results_file": str(results_file),
        }
    )

    assert str(run.state) == "success"
    state = emu.conversations()
    assert state[target["conversation_id"]]["archived"] is True
    assert state[target["conversation_id"]]["title"] == "Renamed in moveworks_operator_test"
    assert [state[cid]["title"] for cid in mapped_ids] == ["Retitled 0", "Retitled 1", "Retitled 2"]
    results = json.loads(results_file.read_text())
    assert results["single"] == state[target["conversation_id"]]
    assert results["mapped"] == [state[cid] for cid in mapped_ids]
    assert emu.request_count(method="PATCH", status=200) == 4
    assert emu.request_count() == 4
