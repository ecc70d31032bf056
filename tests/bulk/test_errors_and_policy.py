"""Honest errors and summaries, the default retry_policy (Airflow 3.3+), a throttle longer than
the hook waits, and the hook the bulk operator builds (assistant_name, session closed)."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta
from types import SimpleNamespace

import pytest

from airflow_provider_moveworks.bulk import runner
from airflow_provider_moveworks.client import MoveworksClient
from airflow_provider_moveworks.exceptions import (
    MoveworksBulkInterruptedError,
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksBulkUpdateError,
    MoveworksError,
    MoveworksRateLimitError,
    MoveworksServerError,
)
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator
from airflow_provider_moveworks.retry_policy import default_retry_policy
from airflow_provider_moveworks.version_compat import load_retry_policy
from tests.conftest import API_KEY, ASSISTANT

MISSING = "conv_000000000000000000000"
needs_retry_policy = pytest.mark.skipif(load_retry_policy() is None, reason="retry_policy is Airflow 3.3+")


def test_the_bulk_errors_are_moveworks_errors_importable_from_both_places():
    for error in (MoveworksBulkInvalidRowsError, MoveworksBulkUpdateError, MoveworksBulkStoppedError):
        assert issubclass(error, MoveworksError)
        assert getattr(runner, error.__name__) is error  # the old import path still works
    restored = pickle.loads(pickle.dumps(MoveworksBulkUpdateError("m", {"total": 1})))  # noqa: S301
    assert (str(restored), restored.summary) == ("m", {"total": 1})


@pytest.mark.integration
def test_the_failure_headline_adds_up_to_the_total(make_operator, add_conversations):
    (cid,) = add_conversations(1)
    updates = [
        {"conversation_id": MISSING, "title": "x"},
        {"conversation_id": cid},  # invalid: no change
        {"conversation_id": cid, "title": "y"},
    ]

    with pytest.raises(MoveworksBulkUpdateError) as raised:
        make_operator(updates=updates, on_invalid="skip", if_not_found="fail").execute({})

    assert str(raised.value).startswith(
        "Bulk update of 3 rows: 0 failed, 1 not found, 1 invalid, 0 duplicates, 1 updated "
        "(if_not_found='fail')."
    )


@pytest.mark.integration
def test_rows_not_found_are_reported_with_a_warning_naming_the_count(make_operator, capfd):
    updates = [{"conversation_id": MISSING[:-1] + str(n), "archived": True} for n in range(3)]

    summary = make_operator(updates=updates).execute({})

    assert summary["not_found"] == 3
    assert "3 of 3 rows were not found (404)" in capfd.readouterr().out


@pytest.mark.integration
def test_a_retry_after_above_the_hooks_cap_stops_the_run_as_transient(
    make_operator, add_conversations, emulator_connection
):
    emu = emulator_connection
    ids = add_conversations(20)
    emu.configure(rate_limit=0.004)  # after the first PATCH: 429 with Retry-After: 250

    with pytest.raises(MoveworksBulkInterruptedError) as raised:
        make_operator(updates=[{"conversation_id": c, "archived": True} for c in ids]).execute({})

    assert raised.value.retry_after == 250
    assert "Retry-After of 250 s (above the 120 s the hook waits)" in str(raised.value)
    assert emu.request_count(method="PATCH", status=429) <= 8  # the requests in flight, no more


@needs_retry_policy
def test_the_default_retry_policy_waits_for_the_server():
    # Permanent errors never reach the policy (AirflowFailException fails first): a real run
    # shows it in tests/integration/test_retry_policy_runs.py.
    actions = load_retry_policy()
    policy = default_retry_policy()

    throttled = policy.evaluate(MoveworksBulkInterruptedError("stopped", retry_after=250), 1, 3)
    single = policy.evaluate(MoveworksRateLimitError("429", status=429, retry_after=300.0), 1, 3)
    transient = policy.evaluate(MoveworksServerError("500", status=500), 1, 3)

    assert (throttled.action, throttled.retry_delay) == (actions.RetryAction.RETRY, timedelta(seconds=250))
    assert (single.action, single.retry_delay) == (actions.RetryAction.RETRY, timedelta(seconds=300))
    assert transient.action == actions.RetryAction.DEFAULT


def _operator(operator_class: type, **kwargs: object) -> object:
    if operator_class is MoveworksBulkUpdateConversationsOperator:
        return operator_class(task_id="t", updates=[], **kwargs)
    return operator_class(task_id="t", conversation_id=MISSING, archived=True, **kwargs)


@needs_retry_policy
@pytest.mark.parametrize(
    "operator_class", [MoveworksBulkUpdateConversationsOperator, MoveworksUpdateConversationOperator]
)
def test_both_operators_carry_the_default_policy_and_the_authors_own_wins(operator_class):
    own = load_retry_policy().ExceptionRetryPolicy(rules=[])

    assert type(_operator(operator_class).retry_policy).__name__ == "MoveworksRetryPolicy"
    assert _operator(operator_class, retry_policy=own).retry_policy is own


@pytest.mark.skipif(load_retry_policy() is not None, reason="Airflow versions before retry_policy")
def test_older_airflow_gets_no_retry_policy():
    assert default_retry_policy() is None
    operator = MoveworksBulkUpdateConversationsOperator(task_id="t", updates=[])
    assert getattr(operator, "retry_policy", None) is None


@pytest.mark.integration
def test_the_bulk_hook_sends_the_operators_assistant_name(
    make_operator, add_conversations, emulator_connection, monkeypatch
):
    (cid,) = add_conversations(1)
    conn = {
        "conn_type": "moveworks",
        "host": emulator_connection.base_url,
        "password": API_KEY,
        "extra": {"assistant_name": "wrong-one"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))

    summary = make_operator(
        updates=[{"conversation_id": cid, "title": "n"}], assistant_name=ASSISTANT
    ).execute({})

    assert summary["updated"] == 1  # the emulator answers 403 to any other Assistant-Name
    assert emulator_connection.get(cid)["title"] == "n"


@pytest.mark.integration
def test_the_run_closes_its_clients_session(make_operator, add_conversations, monkeypatch):
    (cid,) = add_conversations(1)
    closed: list[MoveworksClient] = []
    original = MoveworksClient.close

    def close(self: MoveworksClient) -> None:
        closed.append(self)
        original(self)

    monkeypatch.setattr(MoveworksClient, "close", close)

    make_operator(updates=[{"conversation_id": cid, "title": "n"}]).execute({})

    assert closed
    for client in closed:
        pools = client._transport._session.get_adapter(client.config.base_url).poolmanager.pools
        assert len(pools) == 0


@needs_retry_policy
@pytest.mark.parametrize("retry_after", [10**9, 251_600_401_339.0, 10.0**23])
def test_the_default_retry_policy_never_waits_longer_than_airflows_longest_retry_delay(retry_after):
    # A Retry-After of 10**9 s or an HTTP date in the year 9999 parked the task for good (the
    # policy's delay bypassed Airflow's max_task_retry_delay); 10**23 s made the policy itself fail.
    actions = load_retry_policy()
    policy = default_retry_policy()

    decision = policy.evaluate(MoveworksBulkInterruptedError("stopped", retry_after=retry_after), 1, 3)
    own = policy.evaluate(
        MoveworksBulkInterruptedError("stopped", retry_after=retry_after),
        1,
        3,
        context={"task": SimpleNamespace(max_retry_delay=timedelta(hours=2))},
    )

    assert (decision.action, decision.retry_delay) == (actions.RetryAction.RETRY, timedelta(days=1))
    assert "longest retry delay" in decision.reason
    assert own.retry_delay == timedelta(hours=2)
