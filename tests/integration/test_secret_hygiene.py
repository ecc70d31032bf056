"""No secret anywhere: the example DAGs and auth failures run under ``airflow dags test`` (which
masks nothing), and the API key, the client secret and every issued access token are looked
for in stdout, stderr, every task log file and the metadata database, where XCom values and
rendered template fields live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from tests.conftest import ASSISTANT

pytestmark = pytest.mark.integration

API_KEY = "hygiene-api-key-5d1f0c9e"
WRONG_API_KEY = "hygiene-wrong-key-88a1b2"
CLIENT_ID = "hygiene-client"
CLIENT_SECRET = "hygiene-client-secret-c4e7"
WRONG_CLIENT_SECRET = "hygiene-wrong-secret-19f3"
# Pasted keys: a trailing newline (the key works once stripped), a header injection, and a key
# that is not Latin-1; http.client's errors used to quote each whole.
INJECTED_KEY = "hygiene-injected-key-7b2e"
UNICODE_KEY = "hygiene-ключ-key-3a0d"


def airflow_dags_test(dag_id: str, conf: dict, connection: dict) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_CONN_MOVEWORKS_DEFAULT": json.dumps(connection)}
    return subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def connection(emu: MoveworksEmulator, password: str, login: str | None = None) -> dict:
    conn = {
        "conn_type": "moveworks",
        "host": emu.base_url,
        "password": password,
        "extra": {"assistant_name": ASSISTANT, "token_url": emu.token_url, "max_retries": 1},
    }
    if login:
        conn["login"] = login
    return conn


def everything_written(outputs: list[subprocess.CompletedProcess[str]]) -> dict[str, bytes]:
    home = Path(os.environ["AIRFLOW_HOME"])
    written = {f"output of run {n}": (o.stdout + o.stderr).encode() for n, o in enumerate(outputs)}
    for path in home.rglob("*"):
        if path.is_file() and (path.suffix in (".log", ".json", ".db", ".db-wal") or "logs" in path.parts):
            written[str(path)] = path.read_bytes()
    return written


def test_no_secret_reaches_output_logs_xcom_or_rendered_fields(dags_folder, tmp_path) -> None:
    with MoveworksEmulator(
        api_keys=(API_KEY,),
        clients={CLIENT_ID: CLIENT_SECRET},
        assistant_name=ASSISTANT,
        seed_conversations=5,
        random_seed=3,
    ) as emu:
        ids = list(emu.conversations())
        csv_path = tmp_path / "titles.csv"
        csv_path.write_text(f"conversation_id,title\n{ids[1]},Hygiene check\n")
        runs = [
            airflow_dags_test(
                "example_moveworks_update_conversation",
                {"conversation_id": ids[0], "title": "OAuth run"},
                connection(emu, CLIENT_SECRET, login=CLIENT_ID),
            ),
            airflow_dags_test(
                "example_moveworks_retitle_from_csv", {"csv_path": str(csv_path)}, connection(emu, API_KEY)
            ),
            airflow_dags_test(
                "example_moveworks_update_conversation",
                {"conversation_id": ids[2], "archived": True},
                connection(emu, WRONG_API_KEY),
            ),
            airflow_dags_test(
                "example_moveworks_update_conversation",
                {"conversation_id": ids[3], "archived": True},
                connection(emu, WRONG_CLIENT_SECRET, login=CLIENT_ID),
            ),
            airflow_dags_test(
                "example_moveworks_update_conversation",
                {"conversation_id": ids[4], "archived": True},
                connection(emu, API_KEY + "\n"),
            ),
            airflow_dags_test(
                "example_moveworks_update_conversation",
                {"conversation_id": ids[2], "title": "Injected"},
                connection(emu, INJECTED_KEY + "\r\nX-Injected: 1"),
            ),
            airflow_dags_test(
                "example_moveworks_update_conversation",
                {"conversation_id": ids[2], "title": "Unicode"},
                connection(emu, UNICODE_KEY),
            ),
        ]
        tokens = emu.issued_tokens()
        state = emu.conversations()

    assert [run.returncode == 0 for run in runs] == [True, True, False, False, True, False, False]
    assert state[ids[4]]["archived"] is True
    assert "connection password (API key) had whitespace" in runs[4].stdout + runs[4].stderr
    for run in runs[5:]:
        assert "Invalid connection password (API key): contains" in run.stdout + run.stderr
    assert state[ids[2]]["title"] not in ("Injected", "Unicode")
    assert state[ids[0]]["title"] == "OAuth run"
    assert state[ids[1]]["title"] == "Hygiene check"
    assert "UNAUTHORIZED" in runs[2].stdout + runs[2].stderr
    assert "Fetching an OAuth token" in runs[3].stdout + runs[3].stderr
    assert len(tokens) >= 1
    secrets = [API_KEY, WRONG_API_KEY, CLIENT_SECRET, WRONG_CLIENT_SECRET, INJECTED_KEY, *tokens]
    leaks = [
        (where, secret[:6] + "...")
        for where, content in everything_written(runs).items()
        for secret in secrets
        if secret.encode() in content
    ]
    # The non-Latin-1 key, also as Python and JSON escape it and as UTF-8 bytes.
    unicode_forms = {
        UNICODE_KEY.encode(),
        UNICODE_KEY.encode("unicode_escape"),
        json.dumps(UNICODE_KEY).encode(),
    }
    leaks += [
        (where, "unicode key")
        for where, content in everything_written(runs).items()
        if any(f in content for f in unicode_forms)
    ]
    assert leaks == []
