"""client/oauth.py, responses.py and retry.py exactly: the tokens of a token answer kept out of
messages wherever they are (within the node budget), a token_type quoted cut and redacted, the
redirect target, code and request id of an error redacted, the wait asked at its limits, and a
body's description at the redaction window's edge."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.oauth import MAX_TOKEN_ANSWER_NODES, TokenEndpoint
from airflow_provider_moveworks.client.responses import (
    REDACT_TAIL,
    REDACT_WINDOW,
    _describe_body,
    api_error,
    positive_seconds,
)
from airflow_provider_moveworks.client.retry import MAX_RETRY_AFTER, parse_retry_after
from airflow_provider_moveworks.client.secrets import SecretRegistry
from airflow_provider_moveworks.exceptions import MoveworksTokenError

TOKEN_URL = "https://auth.example.com/oauth/token"
CLIENT_SECRET = "client-secret-0d9f3e"


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer.headers.update({"Content-Type": "application/json", **(headers or {})})
    answer.url = TOKEN_URL
    return answer


def endpoint(body: Any) -> tuple[TokenEndpoint, SecretRegistry]:
    secrets = SecretRegistry()
    secrets.keep(CLIENT_SECRET)
    config = ClientConfig(
        client_id="client", client_secret=CLIENT_SECRET, assistant_name="test-assistant", token_url=TOKEN_URL
    )
    return TokenEndpoint(config, lambda call: response(body), secrets), secrets


# -- tokens kept out of messages --------------------------------------------------------------------
def test_every_token_of_the_answer_is_kept_out_of_messages_wherever_it_is() -> None:
    body = {
        "data": {
            "access_token": "access-aaaaaaaa",
            "token_type": "bearer",
            "expires_in": 3600,
            "extra": [{"Refresh_Token": "refresh-bbbbbbbb"}, ["x", {"id_token": "idtok-cccccccc"}]],
        },
        "note": "not-a-secret-dddd",
    }
    tokens, secrets = endpoint(body)
    assert tokens.fetch() == ("access-aaaaaaaa", 3600.0)
    assert secrets.redact("access-aaaaaaaa refresh-bbbbbbbb idtok-cccccccc not-a-secret-dddd") == (
        "*** *** *** not-a-secret-dddd"
    )


def test_the_access_token_is_kept_even_past_the_node_budget() -> None:
    body = {
        "data": {"access_token": "access-eeeeeeee", "expires_in": 60},
        "padding": [0] * MAX_TOKEN_ANSWER_NODES,
    }
    tokens, secrets = endpoint(body)
    assert tokens.fetch() == ("access-eeeeeeee", 60.0)
    assert secrets.redact("access-eeeeeeee") == "***"


@pytest.mark.parametrize(
    ("padding", "kept"), [(MAX_TOKEN_ANSWER_NODES - 3, True), (MAX_TOKEN_ANSWER_NODES - 2, False)]
)
def test_the_answer_is_looked_through_up_to_its_node_budget(padding: int, kept: bool) -> None:
    """The root, the padding list, each padding value, then the object holding the token: the
    budget is exactly MAX_TOKEN_ANSWER_NODES values."""
    body = {
        "data": {"access_token": "access-ffffffff", "id_token": "idtok-gggggggg"},
        "padding": [0] * padding,
    }
    tokens, secrets = endpoint(body)
    tokens.fetch()
    assert MAX_TOKEN_ANSWER_NODES == 10_000
    assert (secrets.redact("idtok-gggggggg") == "***") is kept


def test_a_token_type_that_is_not_bearer_is_quoted_cut_to_40_characters_and_redacted() -> None:
    token_type = CLIENT_SECRET + "-" + "m" * 60
    tokens, _ = endpoint({"access_token": "access-hhhhhhhh", "token_type": token_type})
    with pytest.raises(MoveworksTokenError) as raised:
        tokens.fetch()
    shown = ("***-" + "m" * 60)[:40]
    assert f"the answer's token_type is {shown!r}, not Bearer" in str(raised.value)
    tokens, _ = endpoint({"access_token": "access-hhhhhhhh", "token_type": 5})
    with pytest.raises(MoveworksTokenError, match="the answer's token_type is an int, not Bearer"):
        tokens.fetch()
    tokens, _ = endpoint({"access_token": "access-hhhhhhhh", "token_type": ["mac"]})
    with pytest.raises(MoveworksTokenError, match="the answer's token_type is a list, not Bearer"):
        tokens.fetch()


# -- error answers --------------------------------------------------------------------------------
def redact(text: str) -> str:
    return text.replace("secret", "***")


def test_a_redirect_target_an_error_code_and_the_request_id_are_redacted() -> None:
    error = api_error(response(b"", 302, {"Location": "https://elsewhere/secret"}), "Updating", redact)
    assert error.api_message == (
        "the body was an empty body, not the documented error JSON; a redirect to https://elsewhere/*** "
        "is not followed"
    )
    assert str(error) == f"Updating: Moveworks answered 302: {error.api_message}"
    nowhere = api_error(response(b"", 307), "Updating", redact)
    assert nowhere.api_message == (
        "the body was an empty body, not the documented error JSON; a redirect to ? is not followed"
    )
    error = api_error(
        response(
            {"error": {"code": "BAD_secret", "message": "no secret here"}},
            400,
            {"x-moveworks-root-uuid": "id-secret"},
        ),
        "Updating",
        redact,
    )
    assert str(error).startswith("Updating: Moveworks answered 400 BAD_***: no *** here")
    assert (error.code, error.api_message, error.request_id) == ("BAD_***", "no *** here", "id-***")


def test_a_wait_of_exactly_the_limit_is_retried_and_a_longer_one_is_not() -> None:
    at_limit = api_error(response(b"", 429, {"Retry-After": f"{MAX_RETRY_AFTER:g}"}), "Updating", redact)
    assert at_limit.retry_after == MAX_RETRY_AFTER
    assert str(at_limit).startswith("Updating: Moveworks answered 429: the body was an empty body")
    longer = api_error(response(b"", 429, {"Retry-After": f"{MAX_RETRY_AFTER + 1:g}"}), "Updating", redact)
    assert str(longer).startswith(
        f"Updating: Moveworks answered 429 asking to wait {MAX_RETRY_AFTER + 1:g} s, longer than the "
        f"{MAX_RETRY_AFTER:g} s the hook waits, so it is not retried now: "
    )


def test_seconds_must_be_positive_and_finite() -> None:
    assert positive_seconds(0) is None
    assert positive_seconds("0") is None
    assert positive_seconds(0.5) == 0.5
    assert positive_seconds(float("inf")) is None
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after("0.5") is None
    assert parse_retry_after("1" + "0" * 400) is None  # a float of infinity


# -- a body described at the redaction window's edge --------------------------------------------
def test_a_body_of_exactly_the_window_is_redacted_whole() -> None:
    assert (REDACT_WINDOW, REDACT_TAIL) == (65536, 4096)
    body = b" " * (REDACT_WINDOW - 6) + b"secret"
    described = _describe_body(response(body, headers={"Content-Type": "text/plain"}), redact)
    assert described == f"a text/plain body of {REDACT_WINDOW} bytes starting '***'..."
    longer = b" " * (REDACT_WINDOW - 6) + b"secret!"
    described = _describe_body(response(longer, headers={"Content-Type": "text/plain"}), redact)
    assert described == f"a text/plain body of {REDACT_WINDOW + 1} bytes starting ''..."
    # The last REDACT_TAIL characters of a cut window are dropped, not one more.
    edge = b" " * (REDACT_WINDOW - REDACT_TAIL - 1) + b"Z" + b" " * REDACT_TAIL + b"!"
    described = _describe_body(response(edge, headers={"Content-Type": "text/plain"}), redact)
    assert described == f"a text/plain body of {REDACT_WINDOW + 1} bytes starting 'Z'..."
