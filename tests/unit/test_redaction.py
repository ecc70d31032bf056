"""The hook's own redaction: a secret it knows (API key, client secret, proxy URL, every access
token it was issued) never appears in an error message or its traceback, even where Airflow's
masker is not running (tests, a user's script, a log handler that does not mask). Airflow's masker
is replaced by a recorder in every test here, so only the hook's redaction can pass them."""

from __future__ import annotations

import traceback

import pytest
import requests
import responses

from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksClientError,
    MoveworksConnectionError,
    MoveworksError,
    MoveworksServerError,
    MoveworksTokenError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT, CLIENT_ID, CLIENT_SECRET, TOKEN_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, error_body

PROXY_PASSWORD = "pr0xy-pa55"
PROXY_URL = f"http://svc-airflow:{PROXY_PASSWORD}@proxy.corp.example:3128"
TOKEN_1 = "eyJ-issued-token-one-9c1f"
TOKEN_2 = "eyJ-issued-token-two-5d7e"


@pytest.fixture(autouse=True)
def masked(mocker) -> list[str]:
    """Airflow's masker out of the picture: what the hook hands it is only recorded."""
    recorded: list[str] = []
    mocker.patch("airflow_provider_moveworks.hooks.moveworks.mask_secret", side_effect=recorded.append)
    return recorded


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def everything_shown(error: BaseException) -> str:
    """The message and the whole traceback as Python prints it (causes and contexts included)."""
    return str(error) + "".join(traceback.format_exception(error))


def oauth_connection(set_connection, **extra: object) -> None:
    set_connection(
        login=CLIENT_ID,
        password=CLIENT_SECRET,
        extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL, "max_retries": 0, **extra},
    )


def test_access_tokens_echoed_in_a_401_body_are_redacted(set_connection, api, masked) -> None:
    oauth_connection(set_connection)
    api.post(TOKEN_URL, json={"access_token": TOKEN_1, "expires_in": 3600})
    api.post(TOKEN_URL, json={"access_token": TOKEN_2, "expires_in": 3600})
    api.patch(
        CONV_URL,
        status=401,
        json=error_body("UNAUTHORIZED", f"token {TOKEN_1} is not valid for assistant {ASSISTANT}"),
    )
    api.patch(
        CONV_URL,
        status=401,
        json=error_body("UNAUTHORIZED", f"token {TOKEN_2} is not valid (earlier: {TOKEN_1})"),
    )

    with pytest.raises(MoveworksAuthenticationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert [c.request.headers.get("Authorization") for c in api.calls] == [
        None,
        f"Bearer {TOKEN_1}",
        None,
        f"Bearer {TOKEN_2}",
    ]
    assert caught.value.api_message == "token *** is not valid (earlier: ***)"
    assert "answered 401 UNAUTHORIZED: token *** is not valid (earlier: ***)" in str(caught.value)
    shown = everything_shown(caught.value)
    assert TOKEN_1 not in shown
    assert TOKEN_2 not in shown
    assert masked == [CLIENT_SECRET, TOKEN_1, TOKEN_2]


@pytest.mark.parametrize("status", [200, 400])
def test_a_token_endpoint_page_echoing_the_posted_form_is_redacted(set_connection, api, status) -> None:
    oauth_connection(set_connection)
    page = f"<p>bad form client_secret={CLIENT_SECRET}</p>"
    api.post(TOKEN_URL, status=status, body=page, content_type="text/html")

    with pytest.raises((MoveworksTokenError, MoveworksAuthenticationError)) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    if status == 200:  # a 2xx is meant to hold a token: described, never quoted
        assert f"answered 200 with a text/html body of {len(page)} bytes (not quoted" in str(caught.value)
    else:
        assert "'<p>bad form client_secret=***</p>'" in str(caught.value)
    assert CLIENT_SECRET not in everything_shown(caught.value)


def test_a_non_json_200_quoting_the_api_key_is_redacted(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    page = f"<html>Bearer {API_KEY} accepted</html>"
    api.patch(CONV_URL, body=page, content_type="text/html")

    with pytest.raises(MoveworksClientError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert (
        f"Updating conversation {CONV_ID}: Moveworks answered 200 with a text/html body of "
        f"{len(page)} bytes starting '<html>Bearer *** accepted</html>' instead of a JSON object"
    ) in str(caught.value)
    assert API_KEY not in everything_shown(caught.value)


def test_a_non_json_error_body_quoting_the_api_key_is_redacted(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    page = f"<h1>502</h1> upstream refused Bearer {API_KEY}"
    api.patch(CONV_URL, status=502, body=page, content_type="text/html")

    with pytest.raises(MoveworksServerError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert caught.value.api_message == (
        f"the body was a text/html body of {len(page)} bytes starting "
        "'<h1>502</h1> upstream refused Bearer ***', not the documented error JSON"
    )
    assert API_KEY not in everything_shown(caught.value)


def test_a_secret_cut_by_the_body_snippet_leaves_none_of_it(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    page = "<html>" + "." * 66 + API_KEY + "</html>"  # the key starts 8 bytes before the cut
    api.patch(CONV_URL, body=page, content_type="text/html")

    with pytest.raises(MoveworksClientError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert API_KEY[:8] not in str(caught.value)


def test_a_connection_error_quoting_the_proxy_url_is_redacted(set_connection, api, mocker) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 1, "proxies": {"https": PROXY_URL}})
    failure = requests.exceptions.ProxyError(f"Cannot connect to proxy {PROXY_URL}: connection refused")
    api.patch(CONV_URL, body=failure)
    log = mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock).return_value
    hook = MoveworksHook().new_client(sleep=lambda seconds: None)

    with pytest.raises(MoveworksConnectionError) as caught:
        hook.update_conversation(CONV_ID, archived=True)

    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: could not reach Moveworks "
        "(ProxyError: Cannot connect to proxy ***: connection refused)"
    )
    assert caught.value.__cause__ is None
    assert PROXY_PASSWORD not in everything_shown(caught.value)
    assert len(api.calls) == 2
    (retry_log,) = log.warning.call_args_list
    assert PROXY_PASSWORD not in retry_log.args[0] % retry_log.args[1:]


def test_every_error_names_no_secret_even_with_every_secret_in_the_body(set_connection, api) -> None:
    oauth_connection(set_connection, proxies={"https": PROXY_URL})
    api.post(TOKEN_URL, json={"access_token": TOKEN_1, "expires_in": 3600})
    everything = f"{CLIENT_SECRET} {TOKEN_1} {PROXY_URL}"
    api.patch(CONV_URL, status=403, json=error_body("FORBIDDEN", everything))

    with pytest.raises(MoveworksError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert caught.value.api_message == "*** *** ***"


def test_a_redirect_location_carrying_a_secret_is_redacted(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    api.patch(CONV_URL, status=302, headers={"Location": f"https://sso.example/login?key={API_KEY}"})

    with pytest.raises(MoveworksClientError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert caught.value.api_message is not None
    assert caught.value.api_message.endswith(
        "; a redirect to https://sso.example/login?key=*** is not followed"
    )
    assert API_KEY not in everything_shown(caught.value)
