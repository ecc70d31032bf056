"""Secrets never reach a message: pasted keys with whitespace or control characters, URLs with
user-info, a token endpoint or a server that echoes what it was sent, and every exception along
the whole ``__cause__``/``__context__`` chain, in every form (as is, percent-encoded, escaped)."""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, quote_plus

import pytest
import requests
import responses

from airflow_provider_moveworks.client.secrets import secret_forms
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksClientError,
    MoveworksConnectionError,
    MoveworksServerError,
    MoveworksTokenError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT, BASE_URL, CLIENT_ID, TOKEN_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION

ANY_URL = re.compile(r".*")
# Characters that percent-encoding, form encoding and JSON escaping each write differently.
ODD_SECRET = 'sEcr3t+/&=%"\\ é!x'
ODD_API_KEY = "key+/=%x-7c1d"


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__]


def everything_said(error: BaseException) -> str:
    """str, repr, args and attributes of every exception in the chain, and the traceback."""
    parts = ["".join(traceback.format_exception(error))]
    for link in exception_chain(error):
        parts += [str(link), repr(link), repr(link.args), repr(vars(link))]
    return "\n".join(parts)


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    said = everything_said(error)
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}:
            assert form not in said, f"a form of a secret leaked: {form!r}"


@pytest.fixture
def hook_warnings(mocker) -> list[str]:
    """The hook's WARNING lines, formatted (its logger is Airflow's, not caplog's)."""
    logger = logging.getLogger("tests.moveworks.hook")
    said: list[str] = []
    mocker.patch.object(logger, "warning", side_effect=lambda msg, *args: said.append(msg % args))
    mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock, return_value=logger)
    return said


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def use_connection(monkeypatch: pytest.MonkeyPatch, **fields: object) -> None:
    extra = fields.pop("extra", {})
    conn = {
        "conn_type": "moveworks",
        "host": BASE_URL,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, "max_retries": 0, **extra},  # type: ignore[dict-item]
        **fields,
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))


# -- pasted secrets ---------------------------------------------------------------------------
@pytest.mark.parametrize("pasted", [f"{API_KEY}\n", f"{API_KEY}\r\n", f"  {API_KEY}\t", f"\n{API_KEY} "])
def test_whitespace_around_a_pasted_api_key_is_removed_with_a_warning(
    monkeypatch, api, hook_warnings, pasted
) -> None:
    use_connection(monkeypatch, password=pasted)
    api.patch(CONV_URL, json=CONVERSATION)
    MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert hook_warnings == [
        "The Moveworks connection password (API key) had whitespace (spaces, tabs or line breaks) "
        "around it; it was removed"
    ]


def test_whitespace_around_the_oauth_client_id_and_secret_is_removed(monkeypatch, api, hook_warnings) -> None:
    use_connection(
        monkeypatch, login=f" {CLIENT_ID}\n", password=f"{ODD_SECRET}\r\n", extra={"token_url": TOKEN_URL}
    )
    api.post(TOKEN_URL, json={"access_token": "tok-1", "expires_in": 3600})
    api.patch(CONV_URL, json=CONVERSATION)
    MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert parse_qs(api.calls[0].request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [ODD_SECRET],
    }
    assert [w.split(" had ")[0] for w in hook_warnings] == [
        "The Moveworks connection login (OAuth client id)",
        "The Moveworks connection password (OAuth client secret)",
    ]


@pytest.mark.parametrize(
    ("fields", "field_name", "reason", "secret"),
    [
        ({"password": f"{API_KEY}\r\nX-Injected: 1"}, "connection password (API key)", "control", API_KEY),
        ({"password": f"{API_KEY}\nX"}, "connection password (API key)", "control", API_KEY),
        ({"password": f"{API_KEY}\x00x"}, "connection password (API key)", "control", API_KEY),
        ({"password": f"{API_KEY}\x7fx"}, "connection password (API key)", "control", API_KEY),
        ({"password": f"{API_KEY}\x85x"}, "connection password (API key)", "control", API_KEY),
        ({"password": "ключ-7f3a9c"}, "connection password (API key)", "cannot carry", "ключ-7f3a9c"),
        ({"password": f"{API_KEY}\u2028x"}, "connection password (API key)", "cannot carry", API_KEY),
        (
            {"login": CLIENT_ID, "password": "sec\r\nret-41b2"},
            "connection password (OAuth client secret)",
            "control",
            "ret-41b2",
        ),
        (
            {"login": "cli\nent", "password": "secret-41b2"},
            "connection login (OAuth client id)",
            "control",
            "secret-41b2",
        ),
    ],
)
def test_a_secret_a_header_cannot_carry_is_refused_naming_the_field_and_nothing_is_sent(
    monkeypatch, api, fields, field_name, reason, secret
) -> None:
    use_connection(monkeypatch, extra={"token_url": TOKEN_URL}, **fields)
    api.add(responses.PATCH, ANY_URL, json=CONVERSATION)
    api.add(responses.POST, ANY_URL, json={"access_token": "tok", "expires_in": 60})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert caught.value.field == field_name
    assert reason in caught.value.reason
    assert len(api.calls) == 0
    assert_no_secret(caught.value, secret, fields["password"])


@pytest.mark.parametrize("issued", ["tok\r\nX-Injected: 1", "tok\x00en", "tökén\u20ac"])
def test_an_issued_token_a_header_cannot_carry_is_a_token_error(monkeypatch, api, issued) -> None:
    use_connection(monkeypatch, login=CLIENT_ID, extra={"token_url": TOKEN_URL})
    api.post(TOKEN_URL, json={"access_token": issued, "expires_in": 3600})
    api.patch(CONV_URL, json=CONVERSATION)
    with pytest.raises(MoveworksTokenError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert "the issued access_token contains" in str(caught.value)
    assert [c.request.method for c in api.calls] == ["POST"]
    assert_no_secret(caught.value, issued)


# -- URLs with user-info ------------------------------------------------------------------------
BAD_URLS_WITH_CREDENTIALS = [
    "ftp://user:PASSWORD-9z@api.moveworks.ai/rest",
    "https://user:PASSWORD-9z@api.moveworks.ai:99999/rest",
    "https://user:PASSWORD-9z@api.moveworks.ai:port/rest",
    "https://user:PASSWORD-9z@[::1/rest",
    "http://user:PASSWORD-9z@remote.example/rest",
    "https://user:PASSWORD-9z@api.moveworks.ai/rest?x=1#y",
    "user:PASSWORD-9z@api.moveworks.ai",
    "https://:PASSWORD-9z@api.moveworks.ai",
    # A password holding "#", "?" or "/" ends the host part early for a URL parser.
    "https://user:PASSWORD-9z#x@api.moveworks.ai/rest",
    "https://user:PASSWORD-9z?x@api.moveworks.ai/rest",
    "https://user:x/PASSWORD-9z@api.moveworks.ai/rest",
    "http://user:PASSWORD-9z/@127.0.0.1:8787/rest",
]


@pytest.mark.parametrize("url", BAD_URLS_WITH_CREDENTIALS)
def test_no_message_quotes_the_user_info_of_the_base_url(monkeypatch, api, url) -> None:
    use_connection(monkeypatch, host=url)
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        "Invalid connection host (base URL): must not carry credentials (user:password@); put them in "
        "the connection's login and password"
    )
    assert_no_secret(caught.value, "PASSWORD-9z")
    assert len(api.calls) == 0


@pytest.mark.parametrize("url", BAD_URLS_WITH_CREDENTIALS)
def test_no_message_quotes_the_user_info_of_the_token_url(monkeypatch, api, url) -> None:
    use_connection(monkeypatch, login=CLIENT_ID, extra={"token_url": url})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert caught.value.field == "connection extra 'token_url'"
    assert_no_secret(caught.value, "PASSWORD-9z")


@pytest.mark.parametrize(
    "proxy",
    [
        "http://user:PROXYPASS-3q@proxy.example:99999",
        "http://user:PROXYPASS-3q@proxy.example:port",
        "http://user:PROXYPASS-3q@[::1:3128",
        "gopher://user:PROXYPASS-3q@proxy.example:3128",
        "user:PROXYPASS-3q@proxy.example:3128",
        "http://user:PROXYPASS-3q@proxy.example:3128/\r\nX: y",
    ],
)
def test_a_bad_proxy_url_is_refused_without_its_password_anywhere_in_the_chain(
    monkeypatch, api, proxy
) -> None:
    use_connection(monkeypatch, extra={"proxies": {"https": proxy}})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert caught.value.field == "connection extra 'proxies' (the 'https' proxy)"
    assert_no_secret(caught.value, "PROXYPASS-3q", proxy)
    assert len(api.calls) == 0


def test_proxies_that_are_not_json_keep_the_password_out_of_the_chain(monkeypatch, api) -> None:
    use_connection(monkeypatch, extra={"proxies": '{"https": "http://user:PROXYPASS-3q@proxy.example:3128"'})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert caught.value.field == "connection extra 'proxies'"
    assert_no_secret(caught.value, "PROXYPASS-3q")


def test_a_proxy_error_quoting_the_proxy_password_is_redacted(monkeypatch, api) -> None:
    proxy = "http://user:PROXY%2BPASS@proxy.example:3128"
    use_connection(monkeypatch, extra={"proxies": {"https": proxy}})
    api.patch(
        CONV_URL,
        body=requests.exceptions.ProxyError(f"Unable to connect to proxy {proxy} as user:PROXY+PASS"),
    )
    with pytest.raises(MoveworksConnectionError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert_no_secret(caught.value, "PROXY+PASS", "PROXY%2BPASS")


def test_a_proxy_echoing_its_basic_credentials_leaks_no_form_of_the_password(monkeypatch, api) -> None:
    """requests sends the proxy user:password as base64 in Proxy-Authorization."""
    proxy = "http://usr:PROXY%2BPASS-é@proxy.example:3128"
    sent = base64.b64encode("usr:PROXY+PASS-é".encode("latin-1")).decode()
    use_connection(monkeypatch, extra={"proxies": {"https": proxy}})
    api.patch(
        CONV_URL,
        body=requests.exceptions.ProxyError(f"Tunnel connection failed: 407 {sent}"),
    )
    with pytest.raises(MoveworksConnectionError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert sent not in everything_said(caught.value)
    assert_no_secret(caught.value, "PROXY+PASS-é", "PROXY%2BPASS-é")


# -- echoes -------------------------------------------------------------------------------------
def oauth(monkeypatch) -> MoveworksHook:
    use_connection(monkeypatch, login=CLIENT_ID, password=ODD_SECRET, extra={"token_url": TOKEN_URL})
    return MoveworksHook().new_client(sleep=lambda s: None)


def echo_form_as_text(request):
    return 500, {"Content-Type": "text/plain"}, request.body


def echo_form_as_json_message(request):
    return 500, {"Content-Type": "application/json"}, json.dumps({"code": "echo", "message": request.body})


def echo_secret_json_escaped(request):
    secret = parse_qs(request.body)["client_secret"][0]
    return 502, {"Content-Type": "text/html"}, "<p>" + json.dumps({"got": secret}) + "</p>"


def echo_form_as_refusal(request):
    body = {"code": "invalid_client", "message": f"bad secret {parse_qs(request.body)['client_secret'][0]}"}
    return 401, {"x-moveworks-root-uuid": request.body}, json.dumps(body)


def echo_form_as_a_long_body_cut_inside_the_secret(request):
    return 503, {"Content-Type": "text/plain"}, "x" * 70 + request.body.split("client_secret=")[1] * 3


@pytest.mark.parametrize(
    "echo",
    [
        echo_form_as_text,
        echo_form_as_json_message,
        echo_secret_json_escaped,
        echo_form_as_refusal,
        echo_form_as_a_long_body_cut_inside_the_secret,
    ],
)
def test_a_token_endpoint_echoing_the_form_leaks_no_form_of_the_secret(monkeypatch, api, echo) -> None:
    hook = oauth(monkeypatch)
    api.add_callback(responses.POST, TOKEN_URL, callback=echo)
    with pytest.raises((MoveworksTokenError, MoveworksAuthenticationError)) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    assert_no_secret(caught.value, ODD_SECRET)
    assert len(api.calls) == 1  # max_retries 0


def test_a_server_echoing_the_bearer_token_leaks_neither_token_nor_key(monkeypatch, api) -> None:
    hook = oauth(monkeypatch)
    api.post(TOKEN_URL, json={"access_token": "tok+/=%secret-1", "expires_in": 3600})
    api.add_callback(
        responses.PATCH,
        CONV_URL,
        callback=lambda r: (
            500,
            {},
            json.dumps({"error": {"code": "X", "message": r.headers["Authorization"]}}),
        ),
    )
    with pytest.raises(MoveworksServerError) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    assert_no_secret(caught.value, "tok+/=%secret-1", ODD_SECRET)


LATIN_1_KEY = "kéy-Sécret-7c1d"


def test_a_server_echoing_the_latin_1_bytes_of_a_non_ascii_api_key_leaks_none_of_it(monkeypatch, api) -> None:
    """The Authorization header goes out in Latin-1; a body echoing it is read as UTF-8."""
    use_connection(monkeypatch, password=LATIN_1_KEY)
    echoed = b"Authorization: Bearer " + LATIN_1_KEY.encode("latin-1")
    api.patch(CONV_URL, status=500, body=echoed, content_type="text/plain")
    with pytest.raises(MoveworksServerError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    said = everything_said(caught.value)
    assert "Bearer ***" in said
    for fragment in ("cret-7c1d", "k\ufffdy", "y-S"):
        assert fragment not in said


def test_a_header_echoing_the_utf_8_form_of_a_client_secret_leaks_none_of_it(monkeypatch, api) -> None:
    """The form body goes out in UTF-8; a header echoing it is read as Latin-1."""
    hook = oauth(monkeypatch)
    misread = quote_plus(ODD_SECRET).encode().decode("latin-1")  # the form: ASCII either way
    misread_raw = ODD_SECRET.encode("utf-8").decode("latin-1")
    api.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client"},
        headers={"x-moveworks-root-uuid": f"{misread} {misread_raw}"},
    )
    with pytest.raises(MoveworksAuthenticationError) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    said = everything_said(caught.value)
    assert misread_raw not in said
    assert_no_secret(caught.value, ODD_SECRET)


def test_a_connection_error_quoting_the_api_key_is_redacted(monkeypatch, api) -> None:
    use_connection(monkeypatch, password=ODD_API_KEY)
    api.patch(CONV_URL, body=requests.ConnectionError(f"reset while sending {quote(ODD_API_KEY)}"))
    with pytest.raises(MoveworksConnectionError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: could not reach Moveworks "
        "(ConnectionError: reset while sending ***)"
    )
    assert_no_secret(caught.value, ODD_API_KEY)


def test_every_form_of_a_secret_is_known_to_the_redaction() -> None:
    forms = secret_forms(ODD_SECRET)
    assert {
        ODD_SECRET,
        quote(ODD_SECRET, safe=""),
        quote_plus(ODD_SECRET),
        json.dumps(ODD_SECRET)[1:-1],
    } <= forms
    # Lower-case hex (.NET's HttpUtility.UrlEncode), the secret's own letters as they are.
    assert "sEcr3t%2b%2f%26%3d%25%22%5c%20%c3%a9%21x" in forms


def test_a_conversation_echoing_the_bearer_token_reaches_no_xcom(monkeypatch, api) -> None:
    """What the hook returns becomes the task's XCom."""
    use_connection(monkeypatch, password=ODD_API_KEY)
    api.add_callback(
        responses.PATCH,
        CONV_URL,
        callback=lambda r: (
            200,
            {},
            json.dumps(
                {
                    **CONVERSATION,
                    "title": r.headers["Authorization"],
                    "echo": {"headers": [r.headers["Authorization"]], quote(ODD_API_KEY, safe=""): 1},
                }
            ),
        ),
    )
    result = MoveworksHook().update_conversation(CONV_ID, archived=True)
    said = repr(result)
    assert result["title"] == "Bearer ***"
    for form in secret_forms(ODD_API_KEY):
        assert form not in said


@pytest.mark.parametrize(
    "answer",
    [
        {"conversations": "not a list"},
        {**CONVERSATION, "conversation_id": "conv_another1"},
    ],
)
def test_a_request_id_echoing_the_api_key_is_redacted_in_every_answer_check(monkeypatch, api, answer) -> None:
    use_connection(monkeypatch, password=ODD_API_KEY)
    headers = {"x-moveworks-root-uuid": f"echo {ODD_API_KEY}"}
    api.get(re.compile(r".*/conversations(\?.*)?$"), json=answer, headers=headers)
    api.get(CONV_URL, json=answer, headers=headers)
    hook = MoveworksHook()
    read = (
        (lambda: list(hook.list_conversations()))
        if "conversations" in answer
        else (lambda: hook.get_conversation(CONV_ID))
    )
    with pytest.raises(MoveworksClientError) as caught:
        read()
    assert caught.value.request_id == "echo ***"
    assert_no_secret(caught.value, ODD_API_KEY)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.moveworks.ai/rest/v1beta1?api_key=QUERYKEY-5v",
        "https://api.moveworks.ai/rest/v1beta1#QUERYKEY-5v",
    ],
)
def test_no_message_quotes_the_query_of_a_base_url(monkeypatch, api, url) -> None:
    use_connection(monkeypatch, host=url)
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert "must not have a query or fragment" in caught.value.reason
    assert "https://api.moveworks.ai/rest/v1beta1" in caught.value.reason
    assert_no_secret(caught.value, "QUERYKEY-5v")
    assert len(api.calls) == 0


@pytest.mark.parametrize("cut", [6, len(ODD_API_KEY) - 1])
def test_a_body_padded_so_that_the_read_window_cuts_the_echoed_key_leaks_none_of_it(
    monkeypatch, api, cut
) -> None:
    """Whitespace collapses in the snippet: the start of a key at the window's end would show."""
    use_connection(monkeypatch, password=ODD_API_KEY)
    body = " " * (65536 - cut) + ODD_API_KEY + " tail"
    api.patch(CONV_URL, status=500, body=body, content_type="text/plain")
    with pytest.raises(MoveworksServerError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    said = everything_said(caught.value)
    assert ODD_API_KEY[:cut] not in said
