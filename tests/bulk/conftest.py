"""Fixtures of the bulk operator's tests: the shared emulator fixtures, and an operator whose
hook never really sleeps between retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from tests.conftest import API_KEY, ASSISTANT


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the hook asked for (it never really waits in these tests)."""
    return []


@pytest.fixture
def make_operator(emulator_connection: MoveworksEmulator, sleeps: list[float]) -> Callable[..., Any]:
    """A bulk operator against the emulator: progress logged only at the end, no wait before a
    retry pass, and a hook that records its retry waits instead of sleeping."""

    def make(**kwargs: Any) -> MoveworksBulkUpdateConversationsOperator:
        return bulk_operator(sleeps, progress_interval=3600.0, **kwargs)

    return make


def bulk_operator(
    sleeps: list[float], progress_interval: float, **kwargs: Any
) -> MoveworksBulkUpdateConversationsOperator:
    """The bulk operator with no wait before a retry pass and a hook that records the retry waits
    it asks for instead of sleeping. The limiter's own pauses (Retry-After, pacing) stay real."""
    kwargs.setdefault("task_id", "bulk")
    operator = MoveworksBulkUpdateConversationsOperator(**kwargs)
    operator.progress_interval = progress_interval
    operator.retry_pass_delay = 0.0
    operator._client_sleep = sleeps.append  # type: ignore[assignment]
    return operator


@pytest.fixture
def add_conversations(emulator_connection: MoveworksEmulator) -> Callable[[int], list[str]]:
    """Create ``n`` conversations titled ``Old n``, not archived; returns their ids in order."""

    def add(count: int) -> list[str]:
        return [
            emulator_connection.add_conversation(title=f"Old {n}", archived=False)["conversation_id"]
            for n in range(count)
        ]

    return add


def state(emu: MoveworksEmulator) -> dict[str, tuple[str | None, bool]]:
    """id -> (title, archived) of every conversation."""
    return {cid: (conv["title"], conv["archived"]) for cid, conv in emu.conversations().items()}


def counters(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without its timing (the only figure a test cannot predict)."""
    return {key: value for key, value in summary.items() if key != "duration_seconds"}


def write_jsonl(path: Any, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def wrong_key_connection(monkeypatch: pytest.MonkeyPatch, emu: MoveworksEmulator) -> None:
    conn = {
        "conn_type": "moveworks",
        "host": emu.base_url,
        "password": "wrong-key-5d1e",
        "extra": {"assistant_name": ASSISTANT, "max_retries": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))


__all__ = ["API_KEY", "ASSISTANT", "counters", "state", "write_jsonl", "wrong_key_connection"]
