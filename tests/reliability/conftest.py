"""Helpers of the reliability soaks: a bulk operator whose hook never really sleeps, run against
an emulator the test configures itself, and the settling of the emulator's counters."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from tests.bulk.conftest import bulk_operator as fast_bulk_operator


def define_connection(monkeypatch: pytest.MonkeyPatch, **conn: Any) -> None:
    """``moveworks_default`` as users define it: an ``AIRFLOW_CONN_*`` JSON variable."""
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps({"conn_type": "moveworks", **conn}))


def bulk_operator(sleeps: list[float], **kwargs: Any) -> MoveworksBulkUpdateConversationsOperator:
    """The bulk tests' fast operator, logging progress every 10 s."""
    return fast_bulk_operator(sleeps, progress_interval=10.0, **kwargs)


def settle(emu: MoveworksEmulator, expected_total: int, timeout: float) -> int:
    """The emulator's request total once it reaches ``expected_total`` (or ``timeout`` passed).

    A slow reply is counted only when the emulator answers it, ``slow_seconds`` after the client
    gave up on it, so the last ones may still be pending when the operator returns.
    """
    deadline = time.monotonic() + timeout
    while True:
        total = emu.request_count()
        if total >= expected_total or time.monotonic() >= deadline:
            return total
        time.sleep(0.05)


def read_report(path: Any) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]
