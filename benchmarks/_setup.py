"""What every bulk benchmark sets up: a throwaway AIRFLOW_HOME, a connection to the emulator, and
a logger that keeps per-row noise out of the figures. Imported first by each script."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from typing import Any

API_KEY = "bench-api-key-3c9d"
ASSISTANT = "bench-assistant"


def airflow_home() -> str:
    """Point Airflow at a temporary home (call before importing airflow)."""
    home = tempfile.mkdtemp(prefix="moveworks-bench-home-")
    os.environ.setdefault("AIRFLOW_HOME", home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home}/airflow.db")
    return os.environ["AIRFLOW_HOME"]


def use_emulator(base_url: str, max_retries: int = 5) -> None:
    """Define ``moveworks_default`` for the emulator at ``base_url``."""
    conn = {
        "conn_type": "moveworks",
        "host": base_url,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, "max_retries": max_retries},
    }
    os.environ["AIRFLOW_CONN_MOVEWORKS_DEFAULT"] = json.dumps(conn)


def quiet_logger(name: str = "moveworks-bench") -> logging.Logger:
    """A logger that drops the per-row log noise (the hook's retry warnings stay out of the figures)."""
    logger = logging.getLogger(name)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def bare_patches(session: Any, base_url: str, ids: list[str], calls: int) -> None:
    """``calls`` PATCHes with a bare ``requests.Session``, status checked and body parsed as the
    hook does: the baseline the hook is measured against."""
    for n in range(calls):
        response = session.patch(
            f"{base_url}/conversations/{ids[n % len(ids)]}", json={"archived": bool(n % 2)}, timeout=30
        )
        if response.status_code != 200:
            raise SystemExit(f"unexpected status {response.status_code}")
        response.json()


def hook_patches(hook: Any, ids: list[str], calls: int) -> None:
    """The same PATCHes through the hook."""
    for n in range(calls):
        hook.update_conversation(ids[n % len(ids)], archived=bool(n % 2))
