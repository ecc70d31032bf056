"""client/call.py exactly: what a call that got no (complete) answer becomes, for each way it
ended (stopped, timed out, TLS, plain http, a hang-up) before and after the request was sent."""

from __future__ import annotations

import requests

from airflow_provider_moveworks.client.call import ApiCall, transport_error
from airflow_provider_moveworks.client.deadline import AttemptDeadline
from airflow_provider_moveworks.exceptions import (
    MoveworksCancelledError,
    MoveworksConnectionError,
    MoveworksTimeoutError,
    MoveworksTLSError,
)

HTTPS = ApiCall(
    "PATCH", "https://moveworks.test/rest/v1/conversations/conv_a", "Updating conversation conv_a"
)
HTTP = ApiCall("GET", "http://127.0.0.1:8080/rest/v1/conversations", "Listing conversations")
TOKEN = ApiCall("POST", "http://127.0.0.1:8080/oauth/token", "Fetching a token", authorized=False)
PATCH_AFTER = (
    "; Moveworks may have applied it; it is retried because the PATCH is idempotent (it sets absolute values)"
)


def deadline(
    *, sent: bool = False, aborted: bool = False, expired: bool = False, connect_failed: bool = False
):
    attempt = AttemptDeadline(5.0)
    attempt.sent, attempt.aborted, attempt.expired, attempt.connect_failed = (
        sent,
        aborted,
        expired,
        connect_failed,
    )
    return attempt


def error_of(call: ApiCall, error: requests.RequestException, **state: bool):
    return transport_error(call, error, deadline(**state), 5.0, lambda text: text.replace("secret", "***"))


def test_a_stopped_call_says_whether_it_was_sent() -> None:
    error = error_of(HTTPS, requests.ConnectionError("x"), aborted=True)
    assert isinstance(error, MoveworksCancelledError)
    assert str(error) == "Updating conversation conv_a: cut short, the run was stopped (not sent)"
    error = error_of(HTTPS, requests.ConnectionError("x"), aborted=True, sent=True)
    assert str(error) == (
        "Updating conversation conv_a: cut short after the request was sent, the run was stopped; "
        "Moveworks may have applied it"
    )


def test_a_timeout_says_whether_it_was_sent_and_what_sending_again_means() -> None:
    error = error_of(HTTPS, requests.ConnectTimeout("x"))
    assert isinstance(error, MoveworksTimeoutError)
    assert str(error) == "Updating conversation conv_a: no answer within 5 s (not sent)"
    error = error_of(HTTPS, requests.ConnectionError("x"), expired=True, sent=True)
    assert (
        str(error)
        == f"Updating conversation conv_a: no answer within 5 s after the request was sent{PATCH_AFTER}"
    )
    # A read timeout means the request went out, unless opening the connection failed.
    error = error_of(HTTP, requests.ReadTimeout("x"))
    assert str(error) == (
        "Listing conversations: no answer within 5 s after the request was sent; "
        "it is retried because reading changes nothing"
    )
    error = error_of(HTTP, requests.ReadTimeout("x"), connect_failed=True)
    assert str(error) == "Listing conversations: no answer within 5 s (not sent)"
    error = error_of(TOKEN, requests.ReadTimeout("x"))
    assert str(error) == "Fetching a token: no answer within 5 s after the request was sent"


def test_plain_http_answering_https_names_the_fix() -> None:
    for words in (
        "[SSL: WRONG_VERSION_NUMBER] wrong version number",
        "record layer failure",
        "[SSL: HTTP_REQUEST] http request",
    ):
        error = error_of(HTTPS, requests.exceptions.SSLError(words))
        assert isinstance(error, MoveworksTLSError)
        assert str(error) == (
            "Updating conversation conv_a: the server at https://moveworks.test speaks plain http, "
            "not https; use an http:// URL in the connection's Base URL field (http is allowed to "
            "loopback hosts only)"
        )


def test_another_tls_failure_is_quoted_redacted() -> None:
    error = error_of(HTTPS, requests.exceptions.SSLError("certificate verify failed for secret"))
    assert isinstance(error, MoveworksTLSError)
    assert str(error) == (
        "Updating conversation conv_a: TLS failed (SSLError: certificate verify failed for ***); "
        "check the connection's 'verify' extra"
    )


def test_a_broken_connection_says_whether_it_was_sent() -> None:
    error = error_of(HTTPS, requests.ConnectionError("reset by secret peer"))
    assert isinstance(error, MoveworksConnectionError)
    assert (
        str(error)
        == "Updating conversation conv_a: could not reach Moveworks (ConnectionError: reset by *** peer)"
    )
    error = error_of(HTTPS, requests.ConnectionError("reset"), sent=True)
    assert str(error) == (
        "Updating conversation conv_a: the connection broke after the request was sent "
        f"(ConnectionError: reset){PATCH_AFTER}"
    )


def test_a_hang_up_on_plain_http_suggests_https_in_the_right_field() -> None:
    for words in (
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
        "BadStatusLine('\\x15\\x03\\x03')",
    ):
        error = error_of(HTTP, requests.ConnectionError(words))
        assert str(error).endswith(
            "; if the server at http://127.0.0.1:8080 speaks https, use an https:// URL in the connection's "
            "Base URL field"
        ), str(error)
    error = error_of(TOKEN, requests.ConnectionError("Connection aborted."))
    assert str(error).endswith("use an https:// URL in the connection's OAuth token URL field")
    # No hang-up, or https already: no suggestion.
    assert "https://" not in str(error_of(HTTP, requests.ConnectionError("Connection refused")))
    assert "speaks https" not in str(error_of(HTTPS, requests.ConnectionError("Connection aborted.")))
