"""Hostile input, table-driven: every bad value ends in a clear error naming the field or the
status, invalid input sends no request, and nothing hangs. A property test then shows that no
conversation id can make a request leave for any other path or host."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_moveworks.exceptions import (
    MoveworksClientError,
    MoveworksConnectionError,
    MoveworksError,
    MoveworksRateLimitError,
    MoveworksServerError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT, BASE_URL, connection_json
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION

ANY_URL = re.compile(r".*")
URL_PASSWORD = "url-pass-6c0e"


@dataclass
class Case:
    name: str
    error: type[MoveworksError]
    says: str
    call: dict[str, Any] = field(default_factory=lambda: {"conversation_id": CONV_ID, "archived": True})
    extra: dict[str, Any] = field(default_factory=dict)
    conn: dict[str, Any] = field(default_factory=dict)
    answer: dict[str, Any] | None = None  # None: the input is invalid and no request may leave

    def __str__(self) -> str:
        return self.name


def bad_id(value: object, says: str = "Invalid conversation_id") -> Case:
    return Case(
        f"conversation_id={value!r}"[:50],
        MoveworksValidationError,
        says,
        call={"conversation_id": value, "archived": True},
    )


def bad_update(name: str, says: str, **call: object) -> Case:
    return Case(name, MoveworksValidationError, says, call={"conversation_id": CONV_ID, **call})


def bad_extra(name: str, says: str, **extra: object) -> Case:
    return Case(name, MoveworksValidationError, says, extra=extra)


def answer(name: str, error: type[MoveworksError], says: str, **response: Any) -> Case:
    return Case(name, error, says, answer=response)


CASES = [
    bad_id("conv_a/../../admin"),
    bad_id("conv_a?archived=true"),
    bad_id("conv_a#x"),
    bad_id("conv_a%2e%2e"),
    bad_id("conv_a b"),
    bad_id("conv_a\r\nHost: evil"),
    bad_id("../conv_a"),
    bad_id("conv_\u0430bc"),  # Cyrillic a
    bad_id(""),
    bad_id(None, "must be a string"),
    bad_id(["conv_a"], "must be a string"),
    bad_id("conv_" + "a" * 1000, "at most 128"),
    bad_update(
        "title empty",
        "Invalid title: must not be empty (if it comes from a template such as {{ params.<name> }} or "
        "{{ dag_run.conf['<name>'] }}, the run's params or conf may be missing the value)",
        title="",
    ),
    bad_update("title blank", "Invalid title: must not be empty or blank", title=" \n\t "),
    bad_update("title 257 chars", "Invalid title: is 257 characters long, at most 256", title="t" * 257),
    bad_update("title not a string", "Invalid title: must be a string, got dict", title={"x": 1}),
    bad_update("archived word", "Invalid archived: 'archive' is not a boolean", archived="archive"),
    bad_update("archived 2", "Invalid archived: 2 is not a boolean", archived=2),
    bad_update("archived None string", "Invalid archived: 'None' is not a boolean", archived="None"),
    bad_update("no fields", "give at least one of title and archived"),
    bad_extra("assistant empty", "Invalid Assistant name: is required", assistant_name=""),
    bad_extra(
        "assistant CRLF",
        "Invalid Assistant name: contains a control character (such as a line break or tab)",
        assistant_name="a\r\nX: y",
    ),
    bad_extra("assistant unicode", "that HTTP headers cannot carry", assistant_name="助手"),
    Case(
        "base URL http remote",
        MoveworksValidationError,
        "connection host (base URL)",
        conn={"host": "http://api.moveworks.ai/rest"},
    ),
    Case(
        "base URL javascript",
        MoveworksValidationError,
        "not an absolute http(s) URL",
        conn={"host": "javascript://x"},
    ),
    Case(
        "base URL credentials",
        MoveworksValidationError,
        "must not carry credentials",
        conn={"host": "https://u:p@api.moveworks.ai"},
    ),
    bad_extra(
        "timeout zero",
        "Invalid Timeout (seconds) (connection extra 'timeout'): 0 is not a number of seconds",
        timeout=0,
    ),
    bad_extra(
        "timeout text",
        "Invalid Timeout (seconds) (connection extra 'timeout'): 'thirty' is not a number",
        timeout="thirty",
    ),
    bad_extra(
        "timeout inf",
        "Invalid Timeout (seconds) (connection extra 'timeout'): 'inf' is not a finite number",
        timeout="inf",
    ),
    bad_extra(
        "verify missing file",
        "Invalid Verify TLS certificates (connection extra 'verify')",
        verify="/nonexistent/ca.pem",
    ),
    bad_extra(
        "token_url http remote", "Invalid connection extra 'token_url'", token_url="http://auth.example.com/t"
    ),
    bad_extra(
        "max_retries negative", "Invalid Max retries (connection extra 'max_retries')", max_retries="-1"
    ),
    bad_extra("max_retries huge", "Invalid Max retries (connection extra 'max_retries')", max_retries=1000),
    answer(
        "HTML 200",
        MoveworksClientError,
        "answered 200 with a text/html body",
        body="<html>login</html>",
        content_type="text/html",
    ),
    answer("empty 200", MoveworksClientError, "answered 200 with an empty body", body=""),
    answer(
        "truncated JSON",
        MoveworksClientError,
        "answered 200 with a text/plain body of 22 bytes",
        body='{"conversation_id": "c',
    ),
    answer(
        "wrong types",
        MoveworksClientError,
        "whose 'archived' is a str",
        json={**CONVERSATION, "archived": "yes"},
    ),
    answer(
        "missing fields",
        MoveworksClientError,
        "without the required field 'updated_at'",
        json={"conversation_id": CONV_ID, "archived": True, "created_at": "x"},
    ),
    answer("10 MB body", MoveworksClientError, "body of 10485760 bytes", body=b"x" * (10 * 1024 * 1024)),
    answer(
        "33 MB body",
        MoveworksClientError,
        "answered 200 with a body larger than 33554432 bytes; it was not read further",
        body=b"x" * (33 * 1024 * 1024),
    ),
    answer(
        "redirect elsewhere",
        MoveworksClientError,
        "answered 307",
        status=307,
        headers={"Location": "https://evil.example/steal"},
    ),
    answer(
        "HTML 502",
        MoveworksServerError,
        "answered 502: the body was a text/html body",
        status=502,
        body="<h1>Bad Gateway</h1>",
        content_type="text/html",
    ),
    answer("JSON null error", MoveworksClientError, "answered 418", status=418, json=None),
    # Pasted secrets and URLs carrying credentials: refused naming the field, never the value.
    Case(
        "API key CRLF injection",
        MoveworksValidationError,
        "Invalid connection password (API key): contains a control character",
        conn={"password": f"{API_KEY}\r\nX-Injected: 1"},
    ),
    Case(
        "API key not Latin-1",
        MoveworksValidationError,
        "Invalid connection password (API key): contains a character that HTTP headers cannot carry",
        conn={"password": f"{API_KEY}\u2603"},
    ),
    Case(
        "client id with a tab",
        MoveworksValidationError,
        "Invalid connection login (OAuth client id): contains a control character",
        conn={"login": "client\tid"},
    ),
    Case(
        "base URL ftp with credentials",
        MoveworksValidationError,
        "must not carry credentials",
        conn={"host": f"ftp://user:{URL_PASSWORD}@api.moveworks.ai"},
    ),
    Case(
        "base URL credentials and a bad port",
        MoveworksValidationError,
        "must not carry credentials",
        conn={"host": f"https://user:{URL_PASSWORD}@api.moveworks.ai:99999/rest"},
    ),
    Case(
        "base URL credentials and a port that is no number",
        MoveworksValidationError,
        "must not carry credentials",
        conn={"host": f"https://user:{URL_PASSWORD}@api.moveworks.ai:abc/rest"},
    ),
    bad_extra(
        "token_url credentials and a bad port",
        "Invalid connection extra 'token_url': must not carry credentials",
        token_url=f"https://user:{URL_PASSWORD}@auth.example.com:99999/t",
    ),
    bad_extra(
        "proxy with a bad port",
        "Invalid connection extra 'proxies' (the 'https' proxy): has a malformed host or a port",
        proxies={"https": f"http://user:{URL_PASSWORD}@proxy.example:99999"},
    ),
    bad_update("title with a newline", "contains the control character U+000A", title="a\nb"),
    bad_update("title with a C1 control", "contains the control character U+009B", title="a\x9b31m"),
    bad_update("title with a bidi override", "bidi control character U+202E", title="cv\u202efdp.exe"),
    bad_update("title zero-width only", "must not be empty or blank", title="\u200b\u2060"),
    # Answers that lie, and a wait longer than the hook sleeps.
    answer(
        "200 about another conversation",
        MoveworksClientError,
        "a conversation that is about another conversation",
        json={**CONVERSATION, "conversation_id": "conv_01OTHER"},
    ),
    answer(
        "200 with another archived",
        MoveworksClientError,
        "has archived=False although True was sent",
        json={**CONVERSATION, "archived": False},
    ),
    answer(
        "429 asking for a day",
        MoveworksRateLimitError,
        "answered 429 asking to wait 86400 s, longer than the 120 s the hook waits",
        status=429,
        headers={"Retry-After": "86400"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_hostile_input_fails_clearly_and_sends_nothing_it_should_not(case: Case, monkeypatch) -> None:
    extra = {"assistant_name": ASSISTANT, "max_retries": 0, **case.extra}
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", connection_json(extra=extra, **case.conn))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        for method in ("GET", "PATCH", "POST"):
            api.add(method, ANY_URL, **(case.answer or {"status": 599}))
        with pytest.raises(case.error) as caught:
            MoveworksHook().new_client(sleep=lambda s: None).update_conversation(**case.call)
        if case.answer is None:
            assert len(api.calls) == 0, "invalid input must not send a request"
        else:
            assert [(c.request.method, c.request.url) for c in api.calls] == [("PATCH", CONV_URL)]
    message = str(caught.value)
    assert case.says in message
    assert API_KEY not in message
    assert URL_PASSWORD not in message
    assert len(message) < 1000


def test_a_truncated_body_on_the_wire_is_a_connection_error(set_connection) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    with responses.RequestsMock() as api:
        api.patch(CONV_URL, body=requests.exceptions.ChunkedEncodingError("IncompleteRead(10 bytes read)"))
        with pytest.raises(MoveworksConnectionError, match="ChunkedEncodingError"):
            MoveworksHook().update_conversation(CONV_ID, archived=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    conversation_id=st.one_of(
        st.text(), st.text().map(lambda s: "conv_" + s), st.from_regex(r"conv_[ -~]{1,12}")
    )
)
def test_no_conversation_id_can_send_a_request_anywhere_but_its_own_path(
    conversation_id: str, monkeypatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", connection_json())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.add("PATCH", ANY_URL, json={**CONVERSATION, "conversation_id": "conv_x"})
        try:
            MoveworksHook().update_conversation(conversation_id, archived=True)
        except MoveworksValidationError:
            assert len(api.calls) == 0
            return
        except MoveworksClientError:  # the answer is about conv_x, not the one sent
            pass
        (call,) = api.calls  # inside the block: leaving it clears the recorded calls
    sent = urlsplit(call.request.url)
    configured = urlsplit(BASE_URL)
    assert (sent.scheme, sent.netloc) == (configured.scheme, configured.netloc)
    assert sent.path == f"{configured.path}/conversations/{conversation_id}"
    assert not sent.query
    assert not sent.fragment
