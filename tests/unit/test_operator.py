"""MoveworksUpdateConversationOperator.execute against a request-level HTTP mock."""

from __future__ import annotations

import json

import pytest
import responses

from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksNotFoundError,
    MoveworksServerError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator
from airflow_provider_moveworks.version_compat import AirflowFailException, AirflowSkipException
from tests.conftest import API_KEY, ASSISTANT
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION, error_body


@pytest.fixture
def api(set_connection):
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def task_log(capfd, caplog):
    """What the task logger wrote: structlog prints on Airflow 3, std logging on 2.11."""
    caplog.set_level("INFO")
    return lambda: capfd.readouterr().out + caplog.text


def operator(**kwargs: object) -> MoveworksUpdateConversationOperator:
    return MoveworksUpdateConversationOperator(task_id="update", **{"conversation_id": CONV_ID, **kwargs})


def test_template_fields_are_the_documented_ones() -> None:
    assert MoveworksUpdateConversationOperator.template_fields == (
        "conversation_id",
        "title",
        "archived",
        "assistant_name",
        "moveworks_conn_id",
        "dry_run",
    )


def test_execute_patches_and_returns_the_conversation(api, task_log) -> None:
    api.patch(CONV_URL, json=CONVERSATION)
    assert operator(title="Quarterly access review", archived="True").execute({}) == CONVERSATION
    assert json.loads(api.calls[0].request.body) == {"title": "Quarterly access review", "archived": True}
    log = task_log()
    assert f"Conversation {CONV_ID}: title, archived updated, 200 in " in log
    assert API_KEY not in log


def test_assistant_name_on_the_operator_wins(api) -> None:
    api.patch(CONV_URL, json=CONVERSATION)
    operator(archived=True, assistant_name="other-bot").execute({})
    assert api.calls[0].request.headers["Assistant-Name"] == "other-bot"


def test_invalid_input_fails_even_without_a_usable_connection() -> None:
    with pytest.raises(MoveworksValidationError, match="Invalid archived: 'sometimes' is not a boolean"):
        operator(archived="sometimes", moveworks_conn_id="not_defined_anywhere").execute({})
    with pytest.raises(MoveworksValidationError, match="give at least one of title and archived"):
        operator(moveworks_conn_id="not_defined_anywhere").execute({})


@pytest.mark.parametrize("field", ["archived", "conversation_id", "title"])
@pytest.mark.parametrize("value", [f"x{API_KEY}", "y" * 40 + API_KEY + "z" * 300])
def test_input_holding_the_connections_key_is_refused_without_quoting_it(api, field, value) -> None:
    # {{ conn.moveworks_default.password }} rendered into a field: the message names the field and
    # prints no part of the key (dag.test() masks nothing; a quoted value is cut short first).
    with pytest.raises(MoveworksValidationError) as raised:
        operator(**{"archived": True, field: value}).execute({})

    assert str(raised.value) == (
        f"Invalid {field}: holds this connection's API key, client secret or access token; not sent "
        "(a template such as {{ conn.<id>.password }} rendered into it?)"
    )
    assert raised.value.__context__ is None
    assert len(api.calls) == 0


def test_unknown_if_not_found_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="if_not_found must be one of"):
        operator(archived=True, if_not_found="retry")


def test_not_found_fails_the_task_by_default(api, task_log) -> None:
    api.patch(CONV_URL, status=404, json=error_body("NOT_FOUND", "Conversation not found"))
    with pytest.raises(MoveworksNotFoundError) as caught:
        operator(archived=True).execute({})
    assert isinstance(caught.value, AirflowFailException)
    assert f"Conversation {CONV_ID}: archived not updated, 404 after " in task_log()


def test_not_found_can_skip_the_task(api) -> None:
    api.patch(CONV_URL, status=404, json=error_body("NOT_FOUND", "Conversation not found"))
    with pytest.raises(AirflowSkipException, match="Moveworks answered 404 NOT_FOUND"):
        operator(archived=True, if_not_found="skip").execute({})


def test_not_found_can_be_ignored_with_a_warning(api, task_log) -> None:
    api.patch(CONV_URL, status=404, json=error_body("NOT_FOUND", "Conversation not found"))
    assert operator(archived=True, if_not_found="ignore").execute({}) is None
    assert "Ignoring (if_not_found='ignore'): Updating conversation" in task_log()


def test_transient_errors_leave_the_task_retries_to_act(api) -> None:
    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "boom"))
    with pytest.raises(MoveworksServerError) as caught:
        operator(archived=True).execute({})
    assert not isinstance(caught.value, AirflowFailException)


def test_an_auth_failure_quotes_no_secret(api, task_log) -> None:
    api.patch(CONV_URL, status=401, json=error_body("UNAUTHORIZED", f"Unknown token {API_KEY}"))
    with pytest.raises(MoveworksAuthenticationError) as caught:
        operator(archived=True).execute({})
    assert API_KEY not in str(caught.value)
    assert "Unknown token ***" in str(caught.value)
    assert API_KEY not in task_log()


def test_constructing_the_operator_reads_no_connection(mocker) -> None:
    get_connection = mocker.patch("airflow_provider_moveworks.hooks.moveworks.MoveworksHook.get_connection")
    operator(archived=True)
    get_connection.assert_not_called()
