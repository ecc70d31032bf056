"""The default retry_policy in real task runs (dag.test() on Airflow 3.3): a permanent error
fails without spending retries; a 429 whose Retry-After is longer than the client waits is
retried by Airflow after the server's wait. (A storage error retried: tests/bulk/test_storage.py.)"""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_moveworks.version_compat import load_retry_policy
from tests.conftest import API_KEY, ASSISTANT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(load_retry_policy() is None, reason="retry_policy is Airflow 3.3+"),
]


def patches(emu) -> list[int]:
    """The statuses of the PATCHes the emulator answered, in order."""
    return [
        status for status in (200, 404, 429) for _ in range(emu.request_count(method="PATCH", status=status))
    ]


def test_a_permanent_error_fails_the_task_without_spending_its_retries(load_dag, emulator_connection) -> None:
    emu = emulator_connection
    run = load_dag("moveworks_retry_policy_test").test(
        run_conf={"conversation_id": "conv_0000000000000000000missing"}
    )
    assert str(run.state) == "failed"
    assert patches(emu) == [404]  # one try: the task's 3 retries were not used


def test_a_429_asking_for_a_longer_wait_than_the_client_sleeps_is_retried_after_it(
    load_dag, emulator_connection, monkeypatch
) -> None:
    emu = emulator_connection
    cid = emu.add_conversation(title="t")["conversation_id"]
    # The client sleeps on a Retry-After of at most 1 s here (120 s in use): the 2 s the
    # emulator asks for is left to the task's retry, which the policy delays by those 2 s.
    monkeypatch.setattr("airflow_provider_moveworks.client.retry.MAX_RETRY_AFTER", 1.0)
    emu.configure(rate_limit=0.5)
    spent = requests.patch(
        f"{emu.base_url}/conversations/{cid}",
        json={"title": "spend the one token"},
        headers={"Authorization": f"Bearer {API_KEY}", "Assistant-Name": ASSISTANT},
        timeout=10,
    )
    assert spent.status_code == 200
    emu.reset_counters()
    started = time.monotonic()

    run = load_dag("moveworks_retry_policy_test").test(run_conf={"conversation_id": cid})

    assert str(run.state) == "success"
    assert emu.request_count(method="PATCH", status=429) == 1
    assert emu.request_count(method="PATCH", status=200) == 1
    assert time.monotonic() - started >= 2.0  # the second try came after the server's wait
    assert emu.get(cid)["archived"] is True
