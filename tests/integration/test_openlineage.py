"""OpenLineage events of the operators' runs, as the OpenLineage provider's file transport writes
them under ``airflow dags test``: the input file, the assistant's conversations as the output, and
the run's counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import API_KEY, ASSISTANT

pytest.importorskip("airflow.providers.openlineage", reason="the openlineage extra is not installed")

pytestmark = pytest.mark.integration


def dags_test(dag_id: str, conf: dict, emu, events: Path) -> subprocess.CompletedProcess[str]:
    connection = {
        "conn_type": "moveworks",
        "host": emu.base_url,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, "max_retries": 0},
    }
    env = {
        **os.environ,
        "AIRFLOW_CONN_MOVEWORKS_DEFAULT": json.dumps(connection),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lineage-test",
    }
    return subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def task_events(events: Path, event_type: str) -> dict[str, dict]:
    """The events of one type by task id (the job name is ``<dag_id>.<task_id>``)."""
    found = {}
    for line in events.read_text().splitlines():
        event = json.loads(line)
        name = event["job"]["name"]
        if event["eventType"] == event_type and name.count(".") == 1:
            found[name.split(".")[1]] = event
    return found


def datasets(event: dict, side: str) -> list[tuple[str, str]]:
    return [(dataset["namespace"], dataset["name"]) for dataset in event[side]]


def counts(event: dict) -> dict:
    facet = event["run"]["facets"]["moveworks"]
    return {key: facet[key] for key in ("updated", "not_found", "failed", "invalid")}


def test_complete_events_name_the_file_the_conversations_and_the_counts(
    dags_folder, emulator, tmp_path
) -> None:
    ids = [emulator.add_conversation(title=f"Old {n}")["conversation_id"] for n in range(4)]
    updates_file = tmp_path / "updates.jsonl"
    updates_file.write_text(
        f'{{"conversation_id": "{ids[0]}", "archived": true}}\n'
        '{"conversation_id": "conv_doesNotExist0000000000", "archived": true}\n'
    )
    inline = [{"conversation_id": ids[1], "title": "Inline"}, {"conversation_id": "bad id", "title": "x"}]
    events = tmp_path / "events.jsonl"

    run = dags_test(
        "moveworks_lineage_test",
        {"updates_file": str(updates_file), "updates": inline, "conversation_id": ids[2]},
        emulator,
        events,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    complete = task_events(events, "COMPLETE")
    assert set(complete) == {"bulk_file", "bulk_inline", "update_one"}
    conversations = [(f"moveworks://127.0.0.1:{emulator.port}", ASSISTANT)]
    assert datasets(complete["bulk_file"], "inputs") == [("file", str(updates_file))]
    assert datasets(complete["bulk_inline"], "inputs") == []
    assert datasets(complete["update_one"], "inputs") == []
    for task_id in complete:
        assert datasets(complete[task_id], "outputs") == conversations, task_id
    assert counts(complete["bulk_file"]) == {"updated": 1, "not_found": 1, "failed": 0, "invalid": 0}
    assert counts(complete["bulk_inline"]) == {"updated": 1, "not_found": 0, "failed": 0, "invalid": 1}
    assert counts(complete["update_one"]) == {"updated": 1, "not_found": 0, "failed": 0, "invalid": 0}
    assert API_KEY not in events.read_text()


def test_fail_events_count_what_failed(dags_folder, emulator, tmp_path) -> None:
    kept = emulator.add_conversation(title="Kept")["conversation_id"]
    updates_file = tmp_path / "updates.csv"
    updates_file.write_text(
        f"conversation_id,title,archived\n{kept},,true\nconv_doesNotExist0000000000,,true\n"
    )
    events = tmp_path / "events.jsonl"

    run = dags_test(
        "moveworks_lineage_failure_test",
        {"updates_file": updates_file.as_uri(), "conversation_id": "conv_bad/../x"},
        emulator,
        events,
    )

    assert run.returncode != 0
    failed = task_events(events, "FAIL")
    assert set(failed) == {"bulk_not_found", "update_invalid"}
    assert datasets(failed["bulk_not_found"], "inputs") == [("file", str(updates_file))]
    assert counts(failed["bulk_not_found"]) == {"updated": 1, "not_found": 1, "failed": 0, "invalid": 0}
    assert datasets(failed["update_invalid"], "inputs") == []
    assert counts(failed["update_invalid"]) == {"updated": 0, "not_found": 0, "failed": 0, "invalid": 1}
    conversations = [(f"moveworks://127.0.0.1:{emulator.port}", ASSISTANT)]
    assert datasets(failed["update_invalid"], "outputs") == conversations
