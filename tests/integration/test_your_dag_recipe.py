"""The recipe of docs/testing.md, run by the suite: copy this file into your
project's tests and put your DAG's id and expectations in place of the example's.

It needs what any ``dag.test()`` needs: AIRFLOW_HOME pointing at a throwaway folder and
AIRFLOW__CORE__DAGS_FOLDER at your DAGs, both set before Airflow is imported (this repository
does it in tests/conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("dags_folder"),  # this repository only: links example_dags/ into the DAGs folder
]


@pytest.fixture(scope="session")
def dag_bag():
    """Your DAGs, parsed from the DAGs folder as the scheduler would; the database dag.test() uses."""
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3.2+
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2.11, 3.0 and 3.1

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    bag = DagBag()
    assert bag.import_errors == {}
    return bag


@pytest.fixture
def moveworks(monkeypatch: pytest.MonkeyPatch) -> Iterator[MoveworksEmulator]:
    """A local Moveworks API on 127.0.0.1; moveworks_default points at it during the test."""
    with MoveworksEmulator() as emu:
        connection = {
            "conn_type": "moveworks",
            "host": emu.base_url,
            "password": emu.api_keys[0],
            "extra": {"assistant_name": emu.assistant_name},
        }
        monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(connection))
        yield emu


def test_my_dag_archives_the_conversation(dag_bag, moveworks: MoveworksEmulator) -> None:
    conversation = moveworks.add_conversation(title="Printer jam")
    other = moveworks.add_conversation(title="Leave me alone")

    run = dag_bag.get_dag("example_moveworks_update_conversation").test(
        run_conf={"conversation_id": conversation["conversation_id"], "archived": True}
    )

    assert str(run.state) == "success"
    assert moveworks.get(conversation["conversation_id"])["archived"] is True
    assert moveworks.get(other["conversation_id"]) == other
    assert moveworks.request_count(method="PATCH") == 1
