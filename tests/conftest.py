"""Test set-up shared by every test: a throwaway AIRFLOW_HOME before anything imports Airflow."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

_home = tempfile.mkdtemp(prefix="moveworks-airflow-home-")
os.environ["AIRFLOW_HOME"] = _home
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# dag.test() parses the whole DAGs folder: keep it to the DAG files the tests run (linked in
# by the ``dags_folder`` fixture of tests/integration).
DAGS_FOLDER = Path(_home) / "dags"
DAGS_FOLDER.mkdir()
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_home}/airflow.db"
os.environ.pop("AIRFLOW_CONN_MOVEWORKS_DEFAULT", None)

import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from airflow_provider_moveworks.emulator import MoveworksEmulator  # noqa: E402
from airflow_provider_moveworks.version_compat import DagBag  # noqa: E402

API_KEY = "test-api-key-7f3a9c"
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-client-secret-41b2"
ASSISTANT = "test-assistant"
BASE_URL = "https://moveworks.test/rest/v1beta1"
TOKEN_URL = "https://moveworks.test/oauth/v1/token"


def connection_json(**fields: object) -> str:
    """An AIRFLOW_CONN_* JSON value; extras go under ``extra``."""
    extra = fields.pop("extra", {"assistant_name": ASSISTANT})
    conn = {"conn_type": "moveworks", "host": BASE_URL, "password": API_KEY, "extra": extra}
    conn.update(fields)
    return json.dumps({k: v for k, v in conn.items() if v is not None})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Integration tests start Airflow (a database migration, ``dag.test()``): on a busy machine
    they need more than the default per-test limit, unless they set their own."""
    for item in items:
        if item.get_closest_marker("integration") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(600))


@pytest.fixture
def set_connection(monkeypatch: pytest.MonkeyPatch):
    """Define a connection through the environment, as users do with AIRFLOW_CONN_*."""

    def define(conn_id: str = "moveworks_default", **fields: object) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(**fields))

    return define


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
