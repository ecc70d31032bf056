"""Integration fixtures: a migrated Airflow metadata database and an emulator on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.version_compat import DagBag
from tests.conftest import API_KEY, ASSISTANT, REPO_ROOT


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """``dag.test()`` needs a migrated database; the conftest pointed Airflow at a temporary one."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )


@pytest.fixture
def emulator() -> Iterator[MoveworksEmulator]:
    with MoveworksEmulator(api_keys=(API_KEY,), assistant_name=ASSISTANT, random_seed=7) as emu:
        yield emu


@pytest.fixture
def emulator_connection(emulator: MoveworksEmulator, monkeypatch: pytest.MonkeyPatch) -> MoveworksEmulator:
    """``moveworks_default`` pointing at the emulator, as users configure it: an env variable."""
    conn = {
        "conn_type": "moveworks",
        "host": emulator.base_url,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, "max_retries": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
    return emulator


@pytest.fixture(scope="session")
def dags_folder(airflow_db: None) -> Path:
    """The configured DAGs folder, holding links to the example DAGs and the tests' own DAGs."""
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    for source in [
        *sorted((REPO_ROOT / "example_dags").glob("*.py")),
        *sorted((REPO_ROOT / "tests/dags").glob("*.py")),
    ]:
        link = folder / source.name
        if not link.exists():
            link.symlink_to(source)
    return folder


@pytest.fixture(scope="session")
def load_dag(dags_folder: Path):
    """A DAG by id, parsed from the DAGs folder as the scheduler would."""
    bag = DagBag(dag_folder=str(dags_folder))
    assert bag.import_errors == {}

    def load(dag_id: str):
        return bag.get_dag(dag_id)

    return load
