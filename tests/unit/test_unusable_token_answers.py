"""A token endpoint answer that carries no usable token (a redirect to a sign-in page, an HTML page
from a proxy, JSON without an access_token or with another token_type) is a
:class:`MoveworksTokenError` from the token fetch: it names the token URL, quotes no secret, and is
not retried at once. A bulk run stops on it rather than report every row failed."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import responses

from airflow_provider_moveworks.exceptions import MoveworksTokenError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import ASSISTANT, CLIENT_ID, TOKEN_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION
from tests.unit.test_secrets_chain import everything_said

CLIENT_SECRET = "client/secret+9&<x>"
NO_TOKEN = "The OAuth token endpoint gave no usable token: "
THEN = ". Every request of this task needs a token, so none is sent; the task's retries ask again"


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def hook(set_connection) -> MoveworksHook:
    set_connection(
        login=CLIENT_ID,
        password=CLIENT_SECRET,
        extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL, "max_retries": 3},
    )
    return MoveworksHook().new_client(sleep=lambda seconds: None)


def fetch_fails(hook: MoveworksHook, api) -> MoveworksTokenError:
    """Update a conversation; the token fetch must fail once, with no retry and no PATCH sent."""
    api.patch(CONV_URL, json=CONVERSATION)
    with pytest.raises(MoveworksTokenError) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    assert [(c.request.method, c.request.url) for c in api.calls] == [("POST", TOKEN_URL)]
    said = everything_said(caught.value)
    assert CLIENT_SECRET not in said
    assert quote(CLIENT_SECRET, safe="") not in said
    return caught.value


def test_a_redirect_to_a_sign_in_page_is_a_token_error(hook, api) -> None:
    # The sign-in page's URL echoes the client secret it was sent.
    location = f"https://sso.example.com/login?client_secret={quote(CLIENT_SECRET, safe='')}"
    api.post(TOKEN_URL, status=302, body="", headers={"Location": location})
    error = fetch_fails(hook, api)
    assert str(error) == (
        f"{NO_TOKEN}Fetching an OAuth token from {TOKEN_URL}: Moveworks answered 302: the body was an "
        "empty body, not the documented error JSON; a redirect to "
        f"https://sso.example.com/login?client_secret=*** is not followed{THEN}"
    )


def test_an_html_page_with_status_200_is_a_token_error(hook, api) -> None:
    api.post(TOKEN_URL, status=200, body="<html>SSO</html>", content_type="text/html")
    error = fetch_fails(hook, api)
    assert str(error) == (
        f"{NO_TOKEN}Fetching an OAuth token from {TOKEN_URL}: Moveworks answered 200 with a text/html "
        "body of 16 bytes (not quoted: it may hold a token) instead of a JSON object; check that the "
        f"OAuth token URL points at the Moveworks API{THEN}"
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"token_type": "Bearer", "expires_in": 60}, "the answer has no access_token"),
        ({"access_token": 12345, "expires_in": 60}, "the answer has no access_token"),
        ({"access_token": "tok-1", "token_type": "mac"}, "the answer's token_type is 'mac', not Bearer"),
        ({"access_token": "tok-1", "token_type": 7}, "the answer's token_type is an int, not Bearer"),
        (
            {"access_token": "tok-1", "expires_in": "soon"},
            "the answer's expires_in is not a positive number of seconds",
        ),
        # Expired before it could be used: every request would fetch another.
        (
            {"access_token": "tok-1", "expires_in": 0.001},
            "the answer's expires_in of 0.001 s is too short to use",
        ),
        (
            {"access_token": "tok\r\nX: 1"},
            "the issued access_token contains a control character (such as a line break or tab), so it "
            "cannot be sent",
        ),
    ],
)
def test_a_json_answer_without_a_usable_token_is_a_token_error(hook, api, body, problem) -> None:
    api.post(TOKEN_URL, json=body)
    error = fetch_fails(hook, api)
    assert str(error) == f"{NO_TOKEN}Fetching an OAuth token from {TOKEN_URL}: {problem}{THEN}"


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "BEARER"])
def test_a_bearer_token_type_in_any_case_is_accepted(hook, api, token_type) -> None:
    api.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 60, "token_type": token_type})
    api.patch(CONV_URL, json=CONVERSATION)
    assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert api.calls[1].request.headers["Authorization"] == "Bearer tok-1"


def test_the_failed_fetch_is_remembered_for_every_later_request(hook, api) -> None:
    api.post(TOKEN_URL, status=302, body="", headers={"Location": "https://sso.example.com/login"})
    first = fetch_fails(hook, api)
    with pytest.raises(MoveworksTokenError) as again:
        hook.update_conversation(CONV_ID, archived=True)
    assert str(again.value) == str(first)
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    "body",
    [
        [{"access_token": "tok-list-5f2a9c71", "expires_in": 60}],
        {"result": {"access_token": "tok-list-5f2a9c71"}},
        {"data": [{"access_token": "tok-list-5f2a9c71", "refresh_token": "rt-list-8c3e1d90"}]},
    ],
)
def test_a_token_in_an_answer_of_another_shape_is_never_quoted(hook, api, body) -> None:
    # The answer is not usable, and the message quotes its start: any token in it is a secret.
    api.post(TOKEN_URL, json=body)

    error = fetch_fails(hook, api)

    assert "tok-list-5f2a9c71" not in everything_said(error)
    assert "rt-list-8c3e1d90" not in everything_said(error)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (
            "application/x-www-form-urlencoded",
            "access_token=eyJhbGciOiJub25lIn0.tok-form-7d1c&token_type=bearer",
        ),
        ("application/json", '{"access_token": "eyJhbGciOiJub25lIn0.tok-form-7d1c"} trailing'),
        ("application/xml", "<token><access>eyJhbGciOiJub25lIn0.tok-form-7d1c</access></token>"),
    ],
)
def test_a_token_answer_that_is_not_json_is_described_not_quoted(hook, api, content_type, body) -> None:
    # A 2xx from the token endpoint is meant to hold a token, in whatever shape it came.
    api.post(TOKEN_URL, body=body, content_type=content_type)

    error = fetch_fails(hook, api)

    assert "tok-form-7d1c" not in everything_said(error)
    assert f"a {content_type} body of {len(body)} bytes (not quoted: it may hold a token)" in str(error)
