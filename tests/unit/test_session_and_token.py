"""What the hook's session and token handling promise, each at the edge a plausible bug would
cross: the pool and urllib3 retries of the session, the TLS warning, closing, TLS and timeout
errors, the token endpoint's own answers, and pages without a conversations list."""

from __future__ import annotations

import traceback

import pytest
import requests
import responses

from airflow_provider_moveworks.exceptions import (
    MoveworksClientError,
    MoveworksTimeoutError,
    MoveworksTLSError,
    MoveworksTokenError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import ASSISTANT, BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION

PROXY_PASSWORD = "pr0xy-pa55"
PROXY_URL = f"http://svc-airflow:{PROXY_PASSWORD}@proxy.corp.example:3128"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock(mocker) -> FakeClock:
    fake = FakeClock()
    mocker.patch("airflow_provider_moveworks.client.auth.time.monotonic", fake)
    return fake


def oauth_hook(set_connection) -> MoveworksHook:
    set_connection(
        login=CLIENT_ID,
        password=CLIENT_SECRET,
        extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL, "max_retries": 2},
    )
    return MoveworksHook().new_client(sleep=lambda seconds: None)


@pytest.mark.parametrize("url", [BASE_URL, "http://127.0.0.1:8080/rest/v1beta1"])
def test_the_session_pools_as_many_connections_as_asked_and_leaves_retries_to_the_hook(
    set_connection, url
) -> None:
    set_connection(host=url)
    adapter = MoveworksHook().new_client(pool_maxsize=32)._transport._session.get_adapter(url)
    assert adapter._pool_maxsize == 32  # type: ignore[attr-defined]
    assert adapter.max_retries.total == 0  # type: ignore[attr-defined]


def test_turning_tls_verification_off_is_logged_as_a_warning(set_connection, mocker) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "verify": "false"})
    log = mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock).return_value
    MoveworksHook().get_conn()
    log.warning.assert_called_once_with(
        "TLS verification is off for Moveworks connection %r", "moveworks_default"
    )


def test_close_closes_the_session_and_the_next_call_opens_a_new_one(set_connection, api, mocker) -> None:
    set_connection()
    api.patch(CONV_URL, json=CONVERSATION)
    hook = MoveworksHook()
    first = hook.get_conn()
    closed = mocker.spy(first, "close")
    hook.close()
    assert closed.call_count == 1
    hook.update_conversation(CONV_ID, archived=True)
    assert hook.get_conn() is not first
    assert len(api.calls) == 1


def test_a_tls_failure_is_not_retried_and_names_no_proxy_password(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "proxies": {"https": PROXY_URL}})
    api.patch(CONV_URL, body=requests.exceptions.SSLError(f"certificate verify failed via {PROXY_URL}"))
    with pytest.raises(MoveworksTLSError) as caught:
        MoveworksHook().new_client(sleep=lambda seconds: None).update_conversation(CONV_ID, archived=True)
    assert len(api.calls) == 1
    assert "certificate verify failed via ***" in str(caught.value)
    assert PROXY_PASSWORD not in "".join(traceback.format_exception(caught.value))


def test_a_timeout_names_no_proxy_password_anywhere_in_its_traceback(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0, "proxies": {"https": PROXY_URL}})
    api.patch(CONV_URL, body=requests.exceptions.ConnectTimeout(f"timed out connecting to {PROXY_URL}"))
    with pytest.raises(MoveworksTimeoutError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert PROXY_PASSWORD not in "".join(traceback.format_exception(caught.value))


@pytest.mark.parametrize("status", [429, 500])
def test_the_token_endpoint_s_429_and_500_are_retried_like_any_other(set_connection, api, status) -> None:
    hook = oauth_hook(set_connection)
    api.post(TOKEN_URL, status=status, json={"code": "busy", "message": "try later"})
    api.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 3600})
    api.patch(CONV_URL, json=CONVERSATION)
    assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert [c.request.method for c in api.calls] == ["POST", "POST", "PATCH"]


def test_a_token_answer_without_expires_in_lives_60_seconds(set_connection, api, clock) -> None:
    hook = oauth_hook(set_connection)
    api.post(TOKEN_URL, json={"access_token": "tok-1"})
    api.post(TOKEN_URL, json={"access_token": "tok-2"})
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    clock.now += 29.9  # refreshed at half of 60 s
    hook.update_conversation(CONV_ID, archived=True)
    clock.now += 0.1
    hook.update_conversation(CONV_ID, archived=True)
    assert [c.request.headers.get("Authorization") for c in api.calls if c.request.method == "PATCH"] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


@pytest.mark.parametrize(
    "answer",
    [{"access_token": "", "expires_in": 3600}, {"access_token": "tok-1", "expires_in": 0}],
    ids=["empty token", "zero lifetime"],
)
def test_a_token_answer_that_cannot_be_used_is_refused(set_connection, api, answer) -> None:
    hook = oauth_hook(set_connection)
    api.post(TOKEN_URL, json=answer)
    with pytest.raises(MoveworksTokenError):
        hook.update_conversation(CONV_ID, archived=True)
    assert [c.request.method for c in api.calls] == ["POST"]


def test_a_list_page_without_a_conversations_list_is_an_error(set_connection, api) -> None:
    set_connection()
    api.get(f"{BASE_URL}/conversations", json={"metadata": {"next_cursor": None}})
    with pytest.raises(MoveworksClientError, match="no 'conversations' list"):
        list(MoveworksHook().list_conversations())


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"extra": {"assistant_name": "hr\x7fbot"}}, "control character"),
        ({"host": "https://token@api.moveworks.ai/rest/v1beta1"}, "must not carry credentials"),
        ({"host": "https://api.moveworks.ai/rest v1beta1"}, "contains spaces or control characters"),
        ({"host": "https://api.moveworks.ai/rest\x7fv1beta1"}, "contains spaces or control characters"),
    ],
    ids=["DEL in assistant name", "user without password", "space in URL", "DEL in URL"],
)
def test_connection_values_that_could_split_a_request_are_refused(set_connection, api, fields, says) -> None:
    set_connection(**fields)
    with pytest.raises(MoveworksValidationError, match=says):
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert len(api.calls) == 0


def test_a_one_second_token_is_accepted(set_connection, api) -> None:
    hook = oauth_hook(set_connection)
    api.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 1})
    api.patch(CONV_URL, json=CONVERSATION)
    assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert api.calls[1].request.headers["Authorization"] == "Bearer tok-1"


def test_a_429_without_retry_after_asks_the_pacer_for_the_first_backoff_step(
    set_connection, api, mocker
) -> None:
    set_connection()
    mocker.patch("airflow_provider_moveworks.client.retry.random.random", return_value=1.0)
    waits: list[float] = []

    class Pacer:
        def acquire(self) -> None:
            pass

        def throttled(self, delay: float) -> None:
            waits.append(delay)

    api.patch(CONV_URL, status=429, json={"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "x"}})
    api.patch(CONV_URL, json=CONVERSATION)
    MoveworksHook().new_client(sleep=lambda seconds: None, pacer=Pacer()).update_conversation(
        CONV_ID, archived=True
    )
    assert waits == [0.5]
