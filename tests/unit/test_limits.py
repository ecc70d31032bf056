"""The documented limits, at their edges: the last value accepted is sent as given, the first one
past it is refused before anything leaves (a 128-character conversation id, ``max_retries`` 20,
``timeout`` 600 s)."""

from __future__ import annotations

import pytest
import responses

from airflow_provider_moveworks.exceptions import MoveworksServerError, MoveworksValidationError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import ASSISTANT, BASE_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION, error_body

ID_128 = "conv_" + "A1" * 61 + "B"  # 5 + 122 + 1 characters


def no_wait(seconds: float) -> None:
    """Where a limit is broken the request leaves and fails: fail fast rather than back off."""


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_a_128_character_conversation_id_is_sent(set_connection, api) -> None:
    set_connection()
    assert len(ID_128) == 128
    url = f"{BASE_URL}/conversations/{ID_128}"
    api.patch(url, json={**CONVERSATION, "conversation_id": ID_128})

    result = MoveworksHook().update_conversation(ID_128, archived=True)

    assert result["conversation_id"] == ID_128
    assert [(c.request.method, c.request.url) for c in api.calls] == [("PATCH", url)]


def test_a_129_character_conversation_id_is_refused_before_sending(set_connection, api) -> None:
    set_connection()
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().new_client(sleep=no_wait).update_conversation(ID_128 + "C", archived=True)
    assert (caught.value.field, caught.value.reason) == (
        "conversation_id",
        "is 129 characters long, at most 128",
    )
    assert len(api.calls) == 0


@pytest.mark.parametrize("given", ["extra", "hook"])
def test_max_retries_20_retries_twenty_times(set_connection, api, given) -> None:
    extra = {"assistant_name": ASSISTANT, **({"max_retries": "20"} if given == "extra" else {})}
    set_connection(extra=extra)
    sleeps: list[float] = []
    hook = MoveworksHook(**({"max_retries": 20} if given == "hook" else {})).new_client(sleep=sleeps.append)
    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "boom"))

    with pytest.raises(MoveworksServerError):
        hook.update_conversation(CONV_ID, archived=True)

    assert hook.config.max_retries == 20
    assert len(api.calls) == 21
    assert len(sleeps) == 20


@pytest.mark.parametrize("given", ["extra", "hook"])
def test_max_retries_21_is_refused(set_connection, api, given) -> None:
    extra = {"assistant_name": ASSISTANT, **({"max_retries": 21} if given == "extra" else {})}
    set_connection(extra=extra)
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook(**({"max_retries": 21} if given == "hook" else {})).update_conversation(
            CONV_ID, archived=True
        )
    field = (
        "max_retries (the hook's argument)"
        if given == "hook"
        else "Max retries (connection extra 'max_retries')"
    )
    assert (caught.value.field, caught.value.reason) == (field, "21 is not a whole number from 0 to 20")
    assert len(api.calls) == 0


@pytest.mark.parametrize("given", ["extra", "hook"])
def test_a_600_second_timeout_is_passed_to_every_request(set_connection, api, mocker, given) -> None:
    extra = {"assistant_name": ASSISTANT, **({"timeout": "600"} if given == "extra" else {})}
    set_connection(extra=extra)
    hook = MoveworksHook(**({"timeout": 600} if given == "hook" else {}))
    api.patch(CONV_URL, json=CONVERSATION)
    spy = mocker.spy(hook.get_conn()._transport._session, "request")

    hook.update_conversation(CONV_ID, archived=True)

    assert [call.kwargs["timeout"] for call in spy.call_args_list] == [600.0]
    assert len(api.calls) == 1


@pytest.mark.parametrize("timeout", [600.001, "601"])
def test_a_timeout_over_600_seconds_is_refused(set_connection, api, timeout) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "timeout": timeout})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().new_client(sleep=no_wait).update_conversation(CONV_ID, archived=True)
    assert (caught.value.field, caught.value.reason) == (
        "Timeout (seconds) (connection extra 'timeout')",
        f"{timeout!r} is not a number of seconds in (0, 600]",
    )
    assert len(api.calls) == 0
