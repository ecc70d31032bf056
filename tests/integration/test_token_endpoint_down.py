"""A token endpoint that is down costs one retry ladder in all: a bulk run of any size sends at
most ``max_retries + 1`` token requests (it sent (max_retries + 1)^2 per row before), and no
update without a token."""

from __future__ import annotations

import json

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from airflow_provider_moveworks.version_compat import AirflowException
from tests.conftest import ASSISTANT

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("rows", "max_retries"), [(20, 5), (300, 2)])
def test_a_bulk_run_against_a_token_endpoint_that_always_fails(monkeypatch, rows, max_retries) -> None:
    with MoveworksEmulator(
        clients={"client": "client-secret-9d"},
        assistant_name=ASSISTANT,
        seed_conversations=rows,
        random_seed=5,
    ) as emu:
        monkeypatch.setenv(
            "AIRFLOW_CONN_MOVEWORKS_DEFAULT",
            json.dumps(
                {
                    "conn_type": "moveworks",
                    "host": emu.base_url,
                    "login": "client",
                    "password": "client-secret-9d",
                    "extra": {
                        "assistant_name": ASSISTANT,
                        "token_url": emu.token_url,
                        "max_retries": max_retries,
                    },
                }
            ),
        )
        emu.configure(error_rate=1.0, fault_token_endpoint=True)
        operator = MoveworksBulkUpdateConversationsOperator(
            task_id="bulk", updates=[{"conversation_id": c, "archived": True} for c in emu.conversations()]
        )
        operator.retry_pass_delay = 0.0
        operator._client_sleep = lambda seconds: None  # type: ignore[assignment]
        with pytest.raises(AirflowException):  # how the run ends is the bulk engine's to say
            operator.execute({})
        assert emu.token_requests == max_retries + 1
        assert emu.request_count(method="PATCH") == 0
