"""MoveworksHook against a request-level HTTP mock: the exact request that leaves, and what each
documented (and undocumented) answer becomes."""

from __future__ import annotations

import json
import re
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from airflow_provider_moveworks import __version__
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksBadRequestError,
    MoveworksCancelledError,
    MoveworksClientError,
    MoveworksConnectionError,
    MoveworksError,
    MoveworksNotFoundError,
    MoveworksPermissionError,
    MoveworksRateLimitError,
    MoveworksServerError,
    MoveworksTimeoutError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from airflow_provider_moveworks.version_compat import AirflowFailException
from tests.conftest import API_KEY, ASSISTANT, BASE_URL, CLIENT_ID, TOKEN_URL

CONV_ID = "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV"
CONV_URL = f"{BASE_URL}/conversations/{CONV_ID}"
CONVERSATION = {
    "conversation_id": CONV_ID,
    "title": "Quarterly access review",
    "archived": True,
    "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-11-26T07:00:00Z",
}
ROOT_UUID = "2b0c3a4e-8d4f-4f7e-9a53-5b3f3c0d1e2f"


def error_body(code: str, message: str) -> dict[str, object]:
    return {"error": {"code": code, "message": message}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def hook(set_connection, sleeps) -> MoveworksHook:
    set_connection()
    return MoveworksHook().new_client(sleep=sleeps.append)


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_update_sends_exactly_one_patch_with_only_the_given_fields(hook, api) -> None:
    api.patch(CONV_URL, json=CONVERSATION, headers={"x-moveworks-root-uuid": ROOT_UUID})

    result = hook.update_conversation(CONV_ID, title="Quarterly access review", archived="yes")

    assert result == CONVERSATION
    assert len(api.calls) == 1
    sent = api.calls[0].request
    assert (sent.method, sent.url) == ("PATCH", CONV_URL)
    assert json.loads(sent.body) == {"title": "Quarterly access review", "archived": True}
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Assistant-Name"] == ASSISTANT
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"] == f"airflow-provider-moveworks/{__version__}"


@pytest.mark.parametrize(
    ("kwargs", "body"), [({"title": "T"}, {"title": "T"}), ({"archived": False}, {"archived": False})]
)
def test_update_never_sends_null_for_an_absent_field(hook, api, kwargs, body) -> None:
    answer = {**CONVERSATION, **body}
    api.patch(CONV_URL, json=answer, match=[matchers.json_params_matcher(body, strict_match=True)])
    hook.update_conversation(CONV_ID, **kwargs)
    assert json.loads(api.calls[0].request.body) == body


def test_one_client_is_reused_and_every_call_has_a_timeout(set_connection, api, mocker) -> None:
    set_connection()
    api.patch(CONV_URL, json=CONVERSATION)
    hook = MoveworksHook()
    client = hook.get_conn()
    spy = mocker.spy(client._transport._session, "request")
    hook.update_conversation(CONV_ID, archived=True)
    hook.update_conversation(CONV_ID, title="Quarterly access review")
    assert hook.get_conn() is client
    assert [call.kwargs["timeout"] for call in spy.call_args_list] == [30.0, 30.0]
    assert [call.kwargs["allow_redirects"] for call in spy.call_args_list] == [False, False]


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, "INVALID_INPUT", MoveworksBadRequestError),
        (401, "UNAUTHORIZED", MoveworksAuthenticationError),
        (403, "FORBIDDEN", MoveworksPermissionError),
        (404, "NOT_FOUND", MoveworksNotFoundError),
        (409, "CONFLICT", MoveworksClientError),
    ],
)
def test_permanent_errors_raise_typed_errors_at_once(hook, api, sleeps, status, code, error_class) -> None:
    api.patch(
        CONV_URL,
        status=status,
        json=error_body(code, "it went wrong"),
        headers={"x-moveworks-root-uuid": ROOT_UUID},
    )

    with pytest.raises(error_class) as caught:
        hook.update_conversation(CONV_ID, archived=True)

    error = caught.value
    assert (error.status, error.code, error.api_message, error.request_id, error.conversation_id) == (
        status,
        code,
        "it went wrong",
        ROOT_UUID,
        CONV_ID,
    )
    assert str(error).startswith(
        f"Updating conversation {CONV_ID}: Moveworks answered {status} {code}: it went wrong "
        f"(x-moveworks-root-uuid {ROOT_UUID})"
    )
    assert isinstance(error, AirflowFailException)
    assert len(api.calls) == 1
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (429, "RATE_LIMIT_EXCEEDED", MoveworksRateLimitError),
        (500, "INTERNAL_ERROR", MoveworksServerError),
        (503, None, MoveworksServerError),
    ],
)
def test_transient_errors_are_retried_max_retries_times_then_raised(
    hook, api, sleeps, mocker, status, code, error_class
) -> None:
    mocker.patch("airflow_provider_moveworks.client.retry.random.random", return_value=1.0)
    body = error_body(code, "busy") if code else None
    api.patch(CONV_URL, status=status, json=body)

    with pytest.raises(error_class) as caught:
        hook.update_conversation(CONV_ID, archived=True)

    assert not isinstance(caught.value, AirflowFailException)
    assert len(api.calls) == 6  # the attempt and max_retries=5 retries
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert hook.stats.retries == 5


def test_backoff_is_capped_near_a_minute(set_connection, api, sleeps, mocker) -> None:
    mocker.patch("airflow_provider_moveworks.client.retry.random.random", return_value=1.0)
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 10})
    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "x"))
    with pytest.raises(MoveworksServerError):
        MoveworksHook().new_client(sleep=sleeps.append).update_conversation(CONV_ID, archived=True)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_backoff_has_jitter_between_half_and_all_of_the_step(hook, api, sleeps, mocker) -> None:
    mocker.patch("airflow_provider_moveworks.client.retry.random.random", return_value=0.0)
    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "x"))
    with pytest.raises(MoveworksServerError):
        hook.update_conversation(CONV_ID, archived=True)
    assert sleeps == [0.25, 0.5, 1.0, 2.0, 4.0]


def test_rate_limit_honours_retry_after_seconds_then_succeeds(hook, api, sleeps) -> None:
    api.patch(
        CONV_URL,
        status=429,
        json=error_body("RATE_LIMIT_EXCEEDED", "slow down"),
        headers={"Retry-After": "7"},
    )
    api.patch(CONV_URL, json=CONVERSATION)
    assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert sleeps == [7.0]
    assert (hook.stats.requests, hook.stats.retries, hook.stats.throttled) == (2, 1, 1)


def test_rate_limit_honours_retry_after_as_an_http_date(hook, api, sleeps, mocker) -> None:
    mocker.patch("airflow_provider_moveworks.client.retry.time.time", return_value=1_700_000_000.0)
    api.patch(CONV_URL, status=429, headers={"Retry-After": "Tue, 14 Nov 2023 22:13:32 GMT"})
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    assert sleeps == [12.0]


@pytest.mark.parametrize(
    ("status", "error_class"), [(429, MoveworksRateLimitError), (503, MoveworksServerError)]
)
def test_a_retry_after_above_the_cap_is_raised_at_once_with_the_servers_wait(
    hook, api, sleeps, status, error_class
) -> None:
    api.patch(CONV_URL, status=status, headers={"Retry-After": "86400"}, json=error_body("SLOW", "later"))
    api.patch(CONV_URL, json=CONVERSATION)
    with pytest.raises(error_class) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    assert caught.value.retry_after == 86400.0
    assert sleeps == []
    assert len(api.calls) == 1
    assert str(caught.value).startswith(
        f"Updating conversation {CONV_ID}: Moveworks answered {status} SLOW asking to wait 86400 s, "
        "longer than the 120 s the hook waits, so it is not retried now: later"
    )


def test_a_retry_after_on_a_503_is_honoured(hook, api, sleeps) -> None:
    api.patch(CONV_URL, status=503, headers={"Retry-After": "7"}, body="")
    api.patch(CONV_URL, json=CONVERSATION)
    assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert sleeps == [7.0]


def test_a_retry_after_at_the_cap_is_slept_on(hook, api, sleeps) -> None:
    api.patch(CONV_URL, status=429, headers={"Retry-After": "120"})
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    assert sleeps == [120.0]


@pytest.mark.parametrize(
    "retry_after",
    ["0", "-5", "Tue, 14 Nov 2023 22:13:32 GMT", "nan", "soon", "0.001", "1e-9", "0.9"],
)
def test_a_retry_after_of_no_wait_gets_the_normal_backoff(hook, api, sleeps, mocker, retry_after) -> None:
    mocker.patch("airflow_provider_moveworks.client.retry.random.random", return_value=0.0)
    api.patch(CONV_URL, status=429, headers={"Retry-After": retry_after})
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    assert sleeps == [0.25]


@pytest.mark.parametrize("retry_after", ["1_000", "\uff17", "\u0663"])
def test_a_retry_after_python_reads_as_a_number_but_a_header_does_not_gets_the_backoff(
    hook, api, sleeps, mocker, retry_after
) -> None:
    mocker.patch("airflow_provider_moveworks.client.retry.random.random", return_value=0.0)
    api.patch(CONV_URL, status=429, headers={"Retry-After": retry_after})
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    assert sleeps == [0.25]


def test_connection_errors_and_timeouts_are_retried(hook, api, sleeps) -> None:
    api.patch(CONV_URL, body=requests.ConnectionError("connection reset"))
    api.patch(CONV_URL, body=requests.ReadTimeout("read timed out"))
    api.patch(CONV_URL, json=CONVERSATION)
    assert hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert len(sleeps) == 2


def test_timeouts_that_outlive_the_retries_raise_a_timeout_error(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0, "timeout": 2})
    api.patch(CONV_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(MoveworksTimeoutError, match=f"Updating conversation {CONV_ID}: no answer within 2 s"):
        MoveworksHook().update_conversation(CONV_ID, archived=True)


def test_connection_error_message_names_the_cause(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    api.patch(CONV_URL, body=requests.ConnectionError("Connection refused"))
    with pytest.raises(MoveworksConnectionError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert (
        str(caught.value)
        == f"Updating conversation {CONV_ID}: could not reach Moveworks (ConnectionError: Connection refused)"
    )
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error_class", "described"),
    [
        (
            200,
            b"<html><body>Login</body></html>",
            "text/html",
            MoveworksClientError,
            "a text/html body of 31 bytes starting '<html><body>Login</body></html>'",
        ),
        (200, b"", "application/json", MoveworksClientError, "an empty body"),
        (
            200,
            b'{"conversation_id": "conv_1", "archi',
            "application/json",
            MoveworksClientError,
            'starting \'{"conversation_id": "conv_1", "archi\'',
        ),
        (
            502,
            b"<html>Bad gateway</html>",
            "text/html",
            MoveworksServerError,
            "a text/html body of 24 bytes starting '<html>Bad gateway</html>'",
        ),
        (404, b"", "text/plain", MoveworksNotFoundError, "an empty body"),
    ],
)
def test_bodies_that_are_not_the_documented_json_give_a_clear_error(
    set_connection, api, status, body, content_type, error_class, described
) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    api.patch(CONV_URL, status=status, body=body, content_type=content_type)
    with pytest.raises(error_class) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert f"Moveworks answered {status}" in str(caught.value)
    assert described in str(caught.value)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"title": "x"}, "without the required field 'conversation_id'"),
        ({**CONVERSATION, "archived": "true"}, "whose 'archived' is a str"),
        ({**CONVERSATION, "title": 5}, "whose 'title' is a int"),
    ],
)
def test_a_200_without_a_valid_conversation_is_an_error(hook, api, body, problem) -> None:
    api.patch(CONV_URL, json=body)
    with pytest.raises(MoveworksClientError, match=f"answered 200 with a conversation {problem}"):
        hook.update_conversation(CONV_ID, archived=True)


def test_a_redirect_is_not_followed_and_says_where_it_pointed(hook, api) -> None:
    api.patch(CONV_URL, status=301, headers={"Location": "https://elsewhere.example/x"})
    with pytest.raises(
        MoveworksClientError, match=r"a redirect to https://elsewhere\.example/x is not followed"
    ):
        hook.update_conversation(CONV_ID, archived=True)
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    ("kwargs", "field_name"),
    [
        ({"conversation_id": "conv_x/../../admin", "archived": True}, "conversation_id"),
        ({"conversation_id": CONV_ID, "title": ""}, "title"),
        ({"conversation_id": CONV_ID, "title": "x" * 257}, "title"),
        ({"conversation_id": CONV_ID, "archived": "perhaps"}, "archived"),
        ({"conversation_id": CONV_ID}, "title/archived"),
    ],
)
def test_invalid_input_sends_no_request(hook, api, kwargs, field_name) -> None:
    with pytest.raises(MoveworksValidationError) as caught:
        hook.update_conversation(**kwargs)
    assert caught.value.field == field_name
    assert len(api.calls) == 0


def test_get_conversation_reads_one(hook, api) -> None:
    api.get(CONV_URL, json=CONVERSATION)
    assert hook.get_conversation(CONV_ID) == CONVERSATION
    assert api.calls[0].request.method == "GET"


def conv(number: int, archived: bool = False) -> dict[str, object]:
    return {**CONVERSATION, "conversation_id": f"conv_{number}", "archived": archived}


def test_list_follows_next_cursor_until_it_is_null(hook, api) -> None:
    api.get(
        f"{BASE_URL}/conversations",
        json={"conversations": [conv(1), conv(2)], "metadata": {"next_cursor": "c2"}},
        match=[matchers.query_param_matcher({"limit": "2", "archived": "false"})],
    )
    api.get(
        f"{BASE_URL}/conversations",
        json={"conversations": [conv(3)], "metadata": {"next_cursor": None}},
        match=[matchers.query_param_matcher({"limit": "2", "archived": "false", "cursor": "c2"})],
    )
    assert [c["conversation_id"] for c in hook.list_conversations(page_size=2)] == [
        "conv_1",
        "conv_2",
        "conv_3",
    ]
    assert len(api.calls) == 2


def test_list_sends_the_archived_filter(hook, api) -> None:
    api.get(
        f"{BASE_URL}/conversations",
        json={"conversations": [conv(9, archived=True)], "metadata": {"next_cursor": None}},
        match=[matchers.query_param_matcher({"limit": "100", "archived": "true"})],
    )
    assert list(hook.list_conversations(archived=True)) == [conv(9, archived=True)]


def test_list_stops_when_the_api_repeats_a_cursor(hook, api) -> None:
    api.get(
        f"{BASE_URL}/conversations", json={"conversations": [conv(1)], "metadata": {"next_cursor": "same"}}
    )
    with pytest.raises(MoveworksClientError, match="cursor of an earlier page again"):
        list(hook.list_conversations())
    assert len(api.calls) == 2


@pytest.mark.parametrize("page_size", [0, 101, "10", True])
def test_list_rejects_a_page_size_outside_1_to_100(hook, api, page_size) -> None:
    with pytest.raises(MoveworksValidationError, match="page_size"):
        list(hook.list_conversations(page_size=page_size))
    assert len(api.calls) == 0


def test_test_connection_lists_one_conversation_and_changes_nothing(set_connection, api) -> None:
    set_connection()
    api.get(f"{BASE_URL}/conversations", json={"conversations": [conv(1)], "metadata": {"next_cursor": "c"}})
    assert MoveworksHook().test_connection() == (True, f"Connected to {BASE_URL} as assistant '{ASSISTANT}'")
    assert [(c.request.method, c.request.url) for c in api.calls] == [
        ("GET", f"{BASE_URL}/conversations?limit=1&archived=false")
    ]


def test_test_connection_reports_the_failure(set_connection, api) -> None:
    set_connection()
    api.get(f"{BASE_URL}/conversations", status=403, json=error_body("FORBIDDEN", "Invalid assistant"))
    ok, message = MoveworksHook().test_connection()
    assert not ok
    assert message.startswith(
        "The assistant name was refused: Listing conversations: Moveworks answered 403 FORBIDDEN: "
        "Invalid assistant"
    )


@pytest.mark.parametrize(
    ("status", "code", "culprit"),
    [
        (401, "UNAUTHORIZED", "The credentials were refused"),
        (404, "NOT_FOUND", "The base URL could not be used"),
        (503, "UNAVAILABLE", "Moveworks is unavailable or busy now"),
    ],
)
def test_test_connection_makes_one_short_attempt_and_names_what_failed(
    set_connection, api, mocker, status, code, culprit
) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "timeout": 60, "max_retries": 5})
    api.get(f"{BASE_URL}/conversations", status=status, json=error_body(code, "no"))
    request = mocker.spy(requests.Session, "request")
    ok, message = MoveworksHook().test_connection()
    assert (ok, message.split(": ")[0]) == (False, culprit)
    assert len(api.calls) == 1  # no retry, even of a 503
    assert request.call_args.kwargs["timeout"] == 10.0


@pytest.mark.parametrize(
    ("verify", "expected"),
    # The default (verify on) keeps honouring a corporate REQUESTS_CA_BUNDLE; an explicit setting wins.
    [("false", False), (None, "bundle")],
)
def test_the_connection_verify_wins_over_requests_ca_bundle(
    set_connection, api, monkeypatch, tmp_path, verify, expected
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("")
    expected = str(bundle) if expected == "bundle" else expected
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    set_connection(extra={"assistant_name": ASSISTANT, "verify": verify})
    api.patch(CONV_URL, json=CONVERSATION)
    MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert api.calls[0].request.req_kwargs["verify"] == expected


def test_the_connection_proxies_win_over_proxy_environment_variables(
    set_connection, api, monkeypatch, mocker
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:1")
    set_connection(extra={"assistant_name": ASSISTANT, "proxies": {"https": "http://conn-proxy:3128"}})
    hook = MoveworksHook()
    send = mocker.spy(hook.get_conn()._transport._session, "send")
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    assert send.call_args.kwargs["proxies"]["https"] == "http://conn-proxy:3128"


def test_retries_are_logged_as_warnings_unless_turned_off(hook, api, sleeps, mocker) -> None:
    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "boom"))
    api.patch(CONV_URL, json=CONVERSATION)
    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "boom"))
    api.patch(CONV_URL, json=CONVERSATION)
    log = mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock).return_value
    MoveworksHook().new_client(sleep=sleeps.append).update_conversation(CONV_ID, archived=True)
    MoveworksHook().new_client(sleep=sleeps.append, quiet_retries=True).update_conversation(
        CONV_ID, archived=True
    )
    assert log.warning.call_args.args[0] == "%s; retry %d of %d in %.1f s"
    assert log.warning.call_count == 1
    assert log.debug.call_count == 1


def test_a_set_stop_event_ends_the_retry_wait_and_sends_nothing_more(set_connection, api) -> None:
    set_connection()
    stop = threading.Event()
    waits: list[float] = []

    def wait_then_stop(seconds: float) -> None:
        waits.append(seconds)
        stop.set()

    api.patch(CONV_URL, status=500, json=error_body("INTERNAL_ERROR", "boom"))
    hook = MoveworksHook().new_client(sleep=wait_then_stop, stop=stop)
    with pytest.raises(MoveworksCancelledError, match=f"Updating conversation {CONV_ID}: not sent"):
        hook.update_conversation(CONV_ID, archived=True)
    assert len(api.calls) == 1
    assert len(waits) == 1


def test_the_pacer_is_asked_before_each_request_and_told_of_each_429(set_connection, api) -> None:
    set_connection()
    events: list[tuple[str, float | None]] = []

    class Recorder:
        def acquire(self) -> None:
            events.append(("acquire", None))

        def throttled(self, delay: float) -> None:
            events.append(("throttled", delay))

    api.patch(CONV_URL, status=429, headers={"Retry-After": "7"}, json=error_body("RATE_LIMIT_EXCEEDED", "x"))
    api.patch(CONV_URL, json=CONVERSATION)
    MoveworksHook().new_client(sleep=lambda s: None, pacer=Recorder()).update_conversation(
        CONV_ID, archived=True
    )
    assert events == [("acquire", None), ("throttled", 7.0), ("acquire", None)]


# -- answers that lie -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            {**CONVERSATION, "conversation_id": "conv_01OTHER"},
            "a conversation that is about another conversation",
        ),
        (
            {**CONVERSATION, "archived": False},
            "a conversation that has archived=False although True was sent",
        ),
    ],
    ids=["another-conversation", "other-archived"],
)
def test_a_200_that_contradicts_the_update_is_a_client_error_and_not_retried(
    hook, api, sleeps, answer, says
) -> None:
    api.patch(CONV_URL, json=answer, headers={"x-moveworks-root-uuid": ROOT_UUID})
    with pytest.raises(MoveworksClientError) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: Moveworks answered 200 with {says}; the update cannot be "
        f"confirmed (x-moveworks-root-uuid {ROOT_UUID})"
    )
    assert isinstance(caught.value, AirflowFailException)
    assert caught.value.conversation_id == CONV_ID
    assert len(api.calls) == 1
    assert sleeps == []


def test_a_different_title_in_the_answer_only_warns(hook, api, mocker) -> None:
    warning = mocker.patch.object(type(hook.log), "warning", create=True)
    api.patch(CONV_URL, json={**CONVERSATION, "title": "quarterly access review"})
    result = hook.update_conversation(CONV_ID, title="Quarterly access review", archived=True)
    assert result["title"] == "quarterly access review"
    assert [c.args for c in warning.call_args_list] == [
        ("%s: Moveworks answered with a different title than was sent", f"Updating conversation {CONV_ID}")
    ]


# -- listing that never ends or makes no sense ----------------------------------------------------
@pytest.mark.parametrize(
    ("page", "says"),
    [
        (
            {"conversations": [], "metadata": [1]},
            "a page that has a 'metadata' that is a list, not an object",
        ),
        (
            {"conversations": [], "metadata": {"next_cursor": {"a": 1}}},
            "a page that has a 'next_cursor' that is a dict, not a string",
        ),
        ({"conversations": [], "metadata": {"next_cursor": 7}}, "a 'next_cursor' that is a int"),
        ({"conversations": {"a": 1}}, "a page that has no 'conversations' list"),
        ({"conversations": [1]}, "a conversation that is a int, not an object"),
    ],
)
def test_a_malformed_page_is_a_client_error(hook, api, page, says) -> None:
    api.get(f"{BASE_URL}/conversations", json=page)
    with pytest.raises(MoveworksClientError, match=re.escape(says)):
        list(hook.list_conversations())
    assert len(api.calls) == 1


def every_page_with_a_fresh_cursor(api, conversations: list[dict[str, object]]) -> None:
    """Answer every list request with ``conversations`` and a cursor never seen before."""
    cursors = (f"c{n}" for n in range(1000))
    api.add_callback(
        responses.GET,
        f"{BASE_URL}/conversations",
        callback=lambda r: (
            200,
            {},
            json.dumps({"conversations": conversations, "metadata": {"next_cursor": next(cursors)}}),
        ),
    )


def test_empty_pages_with_a_fresh_cursor_each_end_after_three(hook, api) -> None:
    every_page_with_a_fresh_cursor(api, [])
    with pytest.raises(MoveworksClientError) as caught:
        list(hook.list_conversations())
    assert str(caught.value) == (
        "Listing conversations: the API returned 4 pages in a row that were empty or held only "
        "conversations already listed, each with a further cursor; stopped rather than follow it "
        "without end"
    )
    assert len(api.calls) == 4


def test_the_same_conversations_under_a_fresh_cursor_each_end_after_three_pages(hook, api) -> None:
    every_page_with_a_fresh_cursor(api, [conv(1), conv(2)])
    listed: list[dict[str, object]] = []
    with pytest.raises(MoveworksClientError, match="held only conversations already listed"):
        listed.extend(hook.list_conversations())
    assert listed == [conv(1), conv(2)]
    assert len(api.calls) == 1 + 4


def test_a_conversation_repeated_on_the_next_page_is_listed_once(hook, api) -> None:
    pages = iter(
        [
            {"conversations": [conv(1), conv(2)], "metadata": {"next_cursor": "c1"}},
            {"conversations": [conv(2), conv(3)], "metadata": {}},
        ]
    )
    api.add_callback(
        responses.GET, f"{BASE_URL}/conversations", callback=lambda r: (200, {}, json.dumps(next(pages)))
    )
    assert list(hook.list_conversations()) == [conv(1), conv(2), conv(3)]


def test_an_empty_page_between_full_ones_is_followed(hook, api) -> None:
    pages = iter(
        [
            {"conversations": [conv(1)], "metadata": {"next_cursor": "c1"}},
            {"conversations": [], "metadata": {"next_cursor": "c2"}},
            {"conversations": [], "metadata": {"next_cursor": "c3"}},
            {"conversations": [], "metadata": {"next_cursor": "c4"}},
            {"conversations": [conv(2)], "metadata": {"next_cursor": "c5"}},
            {"conversations": [], "metadata": {"next_cursor": ""}},
        ]
    )
    api.add_callback(
        responses.GET, f"{BASE_URL}/conversations", callback=lambda r: (200, {}, json.dumps(next(pages)))
    )
    assert [c["conversation_id"] for c in hook.list_conversations()] == ["conv_1", "conv_2"]
    assert [parse_qs(urlsplit(c.request.url).query).get("cursor") for c in api.calls] == [
        None,
        ["c1"],
        ["c2"],
        ["c3"],
        ["c4"],
        ["c5"],
    ]


# -- timeouts: before or after the request was sent -----------------------------------------------
def test_a_read_timeout_says_moveworks_may_have_applied_the_update(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0, "timeout": 2})
    api.patch(CONV_URL, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(MoveworksTimeoutError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: no answer within 2 s after the request was sent; Moveworks may "
        "have applied it; it is retried because the PATCH is idempotent (it sets absolute values)"
    )
    assert "could not reach" not in str(caught.value)


def test_a_connect_timeout_says_the_request_was_not_sent(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0, "timeout": 2})
    api.patch(CONV_URL, body=requests.ConnectTimeout("connect timed out"))
    with pytest.raises(MoveworksTimeoutError) as caught:
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == f"Updating conversation {CONV_ID}: no answer within 2 s (not sent)"


def test_a_stop_during_a_retry_wait_ends_it_and_sends_nothing_more(set_connection, api) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 5})
    stop = threading.Event()

    def unavailable(request: object) -> tuple[int, dict[str, str], str]:
        # The stop comes 0.2 s after the first request left, however long reaching it took.
        if not stop_timer.is_alive() and not stop.is_set():
            stop_timer.start()
        return 503, {}, ""

    stop_timer = threading.Timer(0.2, stop.set)
    api.add_callback(responses.PATCH, CONV_URL, callback=unavailable)
    hook = MoveworksHook().new_client(stop=stop)  # the default wait: stop.wait, ended by the stop
    with pytest.raises(MoveworksCancelledError):
        hook.update_conversation(CONV_ID, archived=True)
    assert 1 <= len(api.calls) <= 3  # backoff 0.25-0.5 s, then 0.5-1 s: the stop at 0.2 s ends it


def test_a_read_answered_with_another_conversation_is_a_client_error(hook, api) -> None:
    api.get(CONV_URL, json={**CONVERSATION, "conversation_id": "conv_01OTHER"})
    with pytest.raises(MoveworksClientError) as caught:
        hook.get_conversation(CONV_ID)
    assert str(caught.value) == (
        f"Reading conversation {CONV_ID}: Moveworks answered 200 with a conversation that is about "
        "another conversation; it was not asked for"
    )


@pytest.mark.parametrize("title", [f"Key {API_KEY}", API_KEY, f"x{API_KEY}x"])
def test_a_title_holding_the_connections_own_key_is_never_sent(hook, api, title) -> None:
    # How it gets there: Airflow renders mapped rows as Jinja, and a row's title of
    # {{ conn.moveworks_default.password }} becomes the key. Moveworks would store it for all to see.
    api.patch(CONV_URL, json=CONVERSATION)

    with pytest.raises(MoveworksValidationError) as raised:
        hook.update_conversation(CONV_ID, title=title)

    assert str(raised.value) == (
        "Invalid title: holds this connection's API key, client secret or access token; not sent "
        "(a template such as {{ conn.<id>.password }} rendered into it?)"
    )
    assert API_KEY not in repr(raised.value)
    assert len(api.calls) == 0


def test_a_title_that_only_shares_a_short_piece_with_the_key_is_sent(hook, api) -> None:
    api.patch(CONV_URL, json={**CONVERSATION, "title": "test-api review"})

    assert hook.update_conversation(CONV_ID, title="test-api review")["title"] == "test-api review"
    assert len(api.calls) == 1


@pytest.mark.parametrize("field", ["conversation_id", "archived"])
def test_the_hook_called_directly_never_quotes_its_own_key_from_a_bad_value(hook, api, field) -> None:
    # A user's own task calling the hook: the values are checked before the connection is read,
    # when its key is not known yet; a value holding it must not be quoted.
    arguments = {"conversation_id": CONV_ID, "archived": True, field: f"x {API_KEY}"}

    with pytest.raises(MoveworksValidationError) as raised:
        hook.update_conversation(arguments.pop("conversation_id"), **arguments)

    assert API_KEY not in repr(raised.value)
    assert raised.value.field == field
    assert len(api.calls) == 0


def test_a_retry_after_of_exactly_one_second_is_honoured(hook, api, sleeps) -> None:
    # The shortest wait taken from the server; anything shorter gets the backoff.
    api.patch(CONV_URL, status=429, headers={"Retry-After": "1"})
    api.patch(CONV_URL, json=CONVERSATION)
    hook.update_conversation(CONV_ID, archived=True)
    assert sleeps == [1.0]


@pytest.mark.parametrize(
    ("status", "headers", "body", "content_type"),
    [
        (400, {}, json.dumps(error_body(API_KEY, "bad")), "application/json"),  # the error code
        (302, {"Location": f"https://sso.example/login?key={API_KEY}"}, "", "text/plain"),  # a redirect
        (200, {}, "<p>hi</p>", f"text/x-{API_KEY}"),  # the content type
    ],
)
def test_every_part_of_an_answer_quoted_in_an_error_is_redacted(
    hook, api, status, headers, body, content_type
) -> None:
    api.patch(CONV_URL, status=status, headers=headers, body=body, content_type=content_type)

    with pytest.raises(MoveworksError) as raised:
        hook.update_conversation(CONV_ID, archived=True)

    assert "***" in str(raised.value)
    assert API_KEY not in repr(raised.value)


def test_a_token_url_answering_404_is_named_as_the_token_url_not_the_credentials(set_connection, api) -> None:
    set_connection(
        login=CLIENT_ID,
        password="client-secret-1234",
        extra={"assistant_name": ASSISTANT, "oauth_url": TOKEN_URL},
    )
    api.post(TOKEN_URL, status=404, json=error_body("NOT_FOUND", "no such path"))
    ok, message = MoveworksHook().test_connection()
    assert (ok, message.split(": ")[0]) == (False, "The OAuth token URL gave no token")


def test_test_connection_with_oauth_gives_each_of_its_two_requests_half_of_10_seconds(
    set_connection, api, mocker
) -> None:
    set_connection(
        login=CLIENT_ID,
        password="client-secret-1234",
        extra={"assistant_name": ASSISTANT, "oauth_url": TOKEN_URL},
    )
    api.post(TOKEN_URL, json={"access_token": "tok-12345", "expires_in": 3600, "token_type": "Bearer"})
    api.get(f"{BASE_URL}/conversations", json={"conversations": [], "metadata": {}})
    request = mocker.spy(requests.Session, "request")
    assert MoveworksHook().test_connection()[0] is True
    assert [call.kwargs["timeout"] for call in request.call_args_list] == [5.0, 5.0]


def test_a_bad_hook_argument_is_named_as_the_hook_s_not_the_connection_s(set_connection) -> None:
    set_connection()
    with pytest.raises(MoveworksValidationError) as raised:
        MoveworksHook(timeout=True).settings  # type: ignore[arg-type]  # noqa: B018
    assert (raised.value.field, raised.value.reason) == (
        "timeout (the hook's argument)",
        "True is not a number",
    )
