"""A server (or a gateway in front of it) that echoes a secret back escaped its own way: JSON with
"/" escaped (PHP), JSON with "+ & < > '" as \\u escapes (.NET upper-case hex, Go lower-case), an
HTML page with entities, a URL percent-encoded with lower-case hex. The hook quotes error bodies
in its messages, which reach task logs, the bulk report_file and XCom: no form may survive."""

from __future__ import annotations

import json

import pytest
import responses

from airflow_provider_moveworks.client.secrets import secret_forms
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksPermissionError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import ASSISTANT, CLIENT_ID, TOKEN_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION
from tests.unit.test_secrets_chain import everything_said

# A base64-like secret with the characters each scheme writes differently.
SECRET = "Zm9v/YmFy+cXV4&<sec>'"

# (content type, the secret as that scheme writes it), each written out by hand.
ECHOES = {
    "php-json": ("application/json", r"Zm9v\/YmFy+cXV4&<sec>'"),
    "dotnet-json": ("application/json", r"Zm9v/YmFy\u002BcXV4\u0026\u003Csec\u003E\u0027"),
    "go-json": ("application/json", r"Zm9v/YmFy+cXV4\u0026\u003csec\u003e'"),
    "html-python": ("text/html", "Zm9v/YmFy+cXV4&amp;&lt;sec&gt;&#x27;"),
    "html-dotnet": ("text/html", "Zm9v/YmFy+cXV4&amp;&lt;sec&gt;&#39;"),
    "html-php": ("text/html", "Zm9v/YmFy+cXV4&amp;&lt;sec&gt;&#039;"),
    "html-go-template": ("text/html", "Zm9v/YmFy&#43;cXV4&amp;&lt;sec&gt;&#39;"),
    "url-lower-hex": ("text/plain", "Zm9v%2fYmFy%2bcXV4%26%3csec%3e%27"),
}


def echo_body(content_type: str, form: str) -> str:
    if content_type == "application/json":
        return '{"detail":"' + form + '"}'
    return "<p>Denied for " + form + "</p>"


def quoted_body_message(content_type: str, body: str, form: str) -> str:
    """How the hook quotes a short body that is not the documented error JSON."""
    return (
        f"the body was a {content_type} body of {len(body)} bytes starting "
        f"{body.replace(form, '***')!r}, not the documented error JSON"
    )


def assert_nothing_said(error: BaseException, form: str) -> None:
    said = everything_said(error)
    assert SECRET not in said
    assert form not in said
    assert form.replace("\\", "\\\\") not in said  # as a repr of the body would write it


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.mark.parametrize(("content_type", "form"), ECHOES.values(), ids=ECHOES.keys())
def test_every_escaping_scheme_is_a_known_form(content_type, form) -> None:
    assert form in secret_forms(SECRET)


@pytest.mark.parametrize(("content_type", "form"), ECHOES.values(), ids=ECHOES.keys())
def test_an_api_key_echoed_escaped_in_a_401_body_is_redacted(set_connection, api, content_type, form) -> None:
    set_connection(password=SECRET)
    body = echo_body(content_type, form)
    api.patch(CONV_URL, status=401, body=body, content_type=content_type)
    with pytest.raises(MoveworksAuthenticationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: Moveworks answered 401: "
        f"{quoted_body_message(content_type, body, form)}. "
        "Check the API key or the OAuth client id and secret of the Moveworks connection"
    )
    assert "***" in str(caught.value)
    assert_nothing_said(caught.value, form)


@pytest.mark.parametrize(("content_type", "form"), ECHOES.values(), ids=ECHOES.keys())
def test_a_client_secret_echoed_escaped_by_the_token_endpoint_is_redacted(
    set_connection, api, content_type, form
) -> None:
    set_connection(
        login=CLIENT_ID, password=SECRET, extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL}
    )
    body = echo_body(content_type, form)
    api.post(TOKEN_URL, status=401, body=body, content_type=content_type)
    with pytest.raises(MoveworksAuthenticationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Fetching an OAuth token from {TOKEN_URL}: Moveworks answered 401: "
        f"{quoted_body_message(content_type, body, form)}. "
        "Check the API key or the OAuth client id and secret of the Moveworks connection"
    )
    assert_nothing_said(caught.value, form)


@pytest.mark.parametrize(("content_type", "form"), ECHOES.values(), ids=ECHOES.keys())
def test_an_access_token_echoed_escaped_in_an_error_body_is_redacted(
    set_connection, api, content_type, form
) -> None:
    set_connection(
        login=CLIENT_ID,
        password="client-secret-3e9a",
        extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL},
    )
    body = echo_body(content_type, form)
    api.post(TOKEN_URL, json={"access_token": SECRET, "expires_in": 3600, "token_type": "Bearer"})
    api.patch(CONV_URL, status=403, body=body, content_type=content_type)
    with pytest.raises(MoveworksPermissionError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: Moveworks answered 403: "
        f"{quoted_body_message(content_type, body, form)}. "
        "Check the assistant_name (it must match the configured assistant exactly)"
    )
    assert api.calls[1].request.headers["Authorization"] == f"Bearer {SECRET}"
    assert_nothing_said(caught.value, form)


def test_a_json_escaped_form_quoted_again_by_a_repr_is_a_known_form() -> None:
    """A body's text quoted with repr() before redaction doubles each backslash."""
    forms = secret_forms(SECRET)
    assert r"Zm9v\\/YmFy+cXV4&<sec>'" in forms
    assert r"Zm9v/YmFy\\u002BcXV4\\u0026\\u003Csec\\u003E\\u0027" in forms


def test_the_forms_stay_few() -> None:
    """One form per escaping scheme (and its repr), not every mix of them."""
    assert len(secret_forms(SECRET)) <= 40
    assert secret_forms("plainalnum0123") == {"plainalnum0123"}


def test_the_forms_are_worked_out_once_per_secret_not_per_message(set_connection, api, mocker) -> None:
    """Every string of every answer is redacted: the forms must not be rebuilt for each one."""
    set_connection(password=SECRET)
    counted = mocker.patch("airflow_provider_moveworks.client.secrets.secret_forms", side_effect=secret_forms)
    api.patch(CONV_URL, json=CONVERSATION)
    hook = MoveworksHook()
    for _ in range(5):
        assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert [call.args for call in counted.call_args_list] == [(SECRET,)]


# Encoders no form foresees: each decodes back to the secret, so the text is withheld whole.
AZURE_SECRET = "Xy78Q~AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab"
UNFORESEEN = {
    # (secret, content type, the secret as that encoder writes it)
    "java-urlencoder": (AZURE_SECRET, "text/plain", AZURE_SECRET.replace("~", "%7E")),
    "js-encodeuricomponent": (SECRET, "text/plain", "Zm9v%2FYmFy%2BcXV4%26%3Csec%3E'"),
    "rack-html": (SECRET, "text/html", "Zm9v&#x2F;YmFy+cXV4&amp;&lt;sec&gt;&#x27;"),
    "xml-apos": (SECRET, "text/html", "Zm9v/YmFy+cXV4&amp;&lt;sec&gt;&apos;"),
    "json-in-html": (SECRET, "text/html", r"Zm9v\/YmFy+cXV4&amp;&lt;sec&gt;'"),
    "js-hex": (SECRET, "text/plain", r"Zm9v\x2FYmFy+cXV4\x26\x3Csec\x3E\x27"),
    "js-code-point": (SECRET, "text/plain", r"Zm9v\u{2F}YmFy+cXV4\u{26}<sec>'"),
    "form-plus-in-html": ("spaced secret 0a9f3b", "text/html", "spaced&#43;secret&#43;0a9f3b"),
}


@pytest.mark.parametrize(("secret", "content_type", "form"), UNFORESEEN.values(), ids=UNFORESEEN.keys())
def test_a_secret_echoed_by_an_unforeseen_encoder_is_withheld(
    set_connection, api, secret, content_type, form
) -> None:
    assert form not in secret_forms(secret)  # else this test proves nothing new
    set_connection(password=secret)
    api.patch(CONV_URL, status=401, body=echo_body(content_type, form), content_type=content_type)

    with pytest.raises(MoveworksAuthenticationError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert "*** (withheld: it holds a secret in an encoded form)" in str(caught.value)
    said = everything_said(caught.value)
    assert secret not in said
    assert form not in said
    assert form.replace("\\", "\\\\") not in said


def test_a_title_holding_the_key_in_an_encoded_form_is_never_sent(set_connection, api) -> None:
    # {{ conn.moveworks_default.password | tojson }} renders the key JSON-escaped, lower-case hex.
    set_connection(password=SECRET)
    api.patch(CONV_URL, json=CONVERSATION)

    with pytest.raises(MoveworksValidationError, match="holds this connection's API key"):
        MoveworksHook().update_conversation(CONV_ID, title=r"Zm9v/YmFy+cXV4\u0026\u003csec\u003e\u0027")

    assert len(api.calls) == 0


def test_a_title_holding_the_proxy_url_or_its_password_is_sent(set_connection, api) -> None:
    # The proxy's password stays out of messages, but it is no credential of Moveworks': a title
    # that happens to hold it (or the proxy's address) is the user's business.
    proxy = "http://relay:Winter2026@proxy.corp.example:8080"
    set_connection(extra={"assistant_name": ASSISTANT, "proxies": {"https": proxy}})
    title = "VPN fails for Winter2026 cohort via http://proxy.corp.example:8080"
    api.patch(CONV_URL, json={**CONVERSATION, "title": title})

    MoveworksHook().update_conversation(CONV_ID, title=title)

    assert [json.loads(call.request.body) for call in api.calls] == [{"title": title}]


@pytest.mark.parametrize("password", ["01", "%30%31"])
def test_a_short_proxy_password_does_not_mangle_answers(set_connection, api, password) -> None:
    # Every "01" in every answer became "***": ids no longer matched and every update failed.
    proxy = f"http://svc:{password}@proxy.corp.example:3128"
    set_connection(extra={"assistant_name": ASSISTANT, "proxies": {"https": proxy}})
    api.patch(CONV_URL, json={**CONVERSATION, "title": "Printer jam at site 01"})

    result = MoveworksHook().update_conversation(CONV_ID, title="Printer jam at site 01")

    assert result == {**CONVERSATION, "title": "Printer jam at site 01"}
