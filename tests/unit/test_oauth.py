"""OAuth client credentials: one token shared by every thread, fetched again before it expires
and once after a 401; refusals from the token endpoint are clear authentication errors."""

from __future__ import annotations

import pickle
import threading
import time
import traceback
from urllib.parse import parse_qs

import pytest
import responses

from airflow_provider_moveworks.client.auth import ClientCredentialsAuth
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksCancelledError,
    MoveworksConnectionError,
    MoveworksTokenError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from airflow_provider_moveworks.version_compat import AirflowFailException
from tests.conftest import ASSISTANT, BASE_URL, CLIENT_ID, CLIENT_SECRET, TOKEN_URL
from tests.unit.test_hook import CONV_ID, CONV_URL, CONVERSATION, error_body


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(mocker) -> FakeClock:
    fake = FakeClock()
    mocker.patch("airflow_provider_moveworks.client.auth.time.monotonic", fake)
    return fake


@pytest.fixture
def masked(mocker) -> list[object]:
    recorded: list[object] = []
    mocker.patch(
        "airflow_provider_moveworks.hooks.moveworks.mask_secret", side_effect=lambda s, *a: recorded.append(s)
    )
    return recorded


@pytest.fixture
def oauth_hook(set_connection, clock) -> MoveworksHook:
    set_connection(
        login=CLIENT_ID, password=CLIENT_SECRET, extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL}
    )
    return MoveworksHook().new_client(sleep=lambda s: None)


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def token(value: str, expires_in: float = 3600, wrapped: bool = False) -> dict[str, object]:
    body = {"access_token": value, "expires_in": expires_in, "token_type": "Bearer"}
    return {"data": body} if wrapped else body


def calls_to(api, url: str) -> list:
    return [c for c in api.calls if c.request.url.startswith(url)]


@pytest.mark.parametrize("wrapped", [False, True], ids=["flat", "wrapped-in-data"])
def test_token_is_fetched_form_encoded_and_used_as_bearer(masked, oauth_hook, api, wrapped) -> None:
    api.post(TOKEN_URL, json=token("tok-1", wrapped=wrapped))
    api.patch(CONV_URL, json=CONVERSATION)

    assert oauth_hook.update_conversation(CONV_ID, archived=True) == CONVERSATION

    token_request = api.calls[0].request
    assert token_request.method == "POST"
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token_request.headers
    assert parse_qs(token_request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    assert api.calls[1].request.headers["Authorization"] == "Bearer tok-1"
    assert masked == [CLIENT_SECRET, "tok-1"]


def test_token_is_cached_until_shortly_before_expiry(oauth_hook, api, clock) -> None:
    api.post(TOKEN_URL, json=token("tok-1", expires_in=3600))
    api.post(TOKEN_URL, json=token("tok-2", expires_in=3600))
    api.patch(CONV_URL, json=CONVERSATION)

    oauth_hook.update_conversation(CONV_ID, archived=True)
    clock.now += 3600 - 61  # more than min(60 s, half the lifetime) left
    oauth_hook.update_conversation(CONV_ID, archived=True)
    clock.now += 2  # now less than 60 s left
    oauth_hook.update_conversation(CONV_ID, archived=True)

    assert len(calls_to(api, TOKEN_URL)) == 2
    bearer = [c.request.headers["Authorization"] for c in calls_to(api, BASE_URL)]
    assert bearer == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_short_lived_token_is_refreshed_at_half_its_lifetime(oauth_hook, api, clock) -> None:
    api.post(TOKEN_URL, json=token("tok-1", expires_in=60))
    api.post(TOKEN_URL, json=token("tok-2", expires_in=60))
    api.patch(CONV_URL, json=CONVERSATION)
    oauth_hook.update_conversation(CONV_ID, archived=True)
    clock.now += 29
    oauth_hook.update_conversation(CONV_ID, archived=True)
    clock.now += 1
    oauth_hook.update_conversation(CONV_ID, archived=True)
    assert [c.request.headers["Authorization"] for c in calls_to(api, BASE_URL)] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_a_401_fetches_a_new_token_once_and_repeats_the_request(oauth_hook, api) -> None:
    api.post(TOKEN_URL, json=token("tok-1"))
    api.post(TOKEN_URL, json=token("tok-2"))
    api.patch(CONV_URL, status=401, json=error_body("UNAUTHORIZED", "Token expired"))
    api.patch(CONV_URL, json=CONVERSATION)

    assert oauth_hook.update_conversation(CONV_ID, archived=True) == CONVERSATION
    assert [(c.request.method, c.request.headers.get("Authorization")) for c in api.calls] == [
        ("POST", None),
        ("PATCH", "Bearer tok-1"),
        ("POST", None),
        ("PATCH", "Bearer tok-2"),
    ]


def test_a_second_401_fails_without_more_attempts(oauth_hook, api) -> None:
    api.post(TOKEN_URL, json=token("tok-1"))
    api.post(TOKEN_URL, json=token("tok-2"))
    api.patch(CONV_URL, status=401, json=error_body("UNAUTHORIZED", "Invalid token"))

    with pytest.raises(MoveworksAuthenticationError, match="answered 401 UNAUTHORIZED: Invalid token"):
        oauth_hook.update_conversation(CONV_ID, archived=True)
    assert [c.request.method for c in api.calls] == ["POST", "PATCH", "POST", "PATCH"]


def test_api_key_mode_does_not_retry_a_401(set_connection, api) -> None:
    set_connection()
    api.patch(CONV_URL, status=401, json=error_body("UNAUTHORIZED", "Invalid token"))
    with pytest.raises(MoveworksAuthenticationError):
        MoveworksHook().update_conversation(CONV_ID, archived=True)
    assert len(api.calls) == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": "invalid_client", "message": "Client authentication failed"}),
        (400, {"code": "unsupported_grant_type", "message": "Client authentication failed"}),
    ],
)
def test_token_endpoint_refusals_are_authentication_errors(oauth_hook, api, status, body) -> None:
    api.post(TOKEN_URL, status=status, json=body, headers={"x-moveworks-root-uuid": "r-1"})
    with pytest.raises(MoveworksAuthenticationError) as caught:
        oauth_hook.update_conversation(CONV_ID, archived=True)
    assert str(caught.value) == (
        f"Fetching an OAuth token from {TOKEN_URL}: Moveworks answered {status} {body['code']}: "
        "Client authentication failed "
        "(x-moveworks-root-uuid r-1). "
        "Check the API key or the OAuth client id and secret of the Moveworks connection"
    )
    assert CLIENT_SECRET not in str(caught.value)
    assert len(calls_to(api, BASE_URL)) == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"token_type": "Bearer"}, "has no access_token"),
        ({"access_token": "t", "expires_in": "soon"}, "expires_in"),
        ({"access_token": "t", "expires_in": 10**400}, "expires_in"),
        ({"access_token": "t", "expires_in": "nan"}, "expires_in"),
        ({"access_token": "t", "expires_in": "1e999"}, "expires_in"),
        ({"access_token": "t", "expires_in": True}, "expires_in"),
        ({"access_token": "t", "expires_in": "0"}, "expires_in"),
        ({"access_token": "t", "expires_in": -1}, "expires_in"),
    ],
)
def test_a_token_answer_without_a_usable_token_is_a_token_error(oauth_hook, api, body, reason) -> None:
    """Not a refusal of the credentials: see test_unusable_token_answers.py."""
    api.post(TOKEN_URL, json=body)
    with pytest.raises(MoveworksTokenError, match=reason):
        oauth_hook.update_conversation(CONV_ID, archived=True)


def test_token_endpoint_server_errors_are_retried(oauth_hook, api) -> None:
    api.post(TOKEN_URL, status=503, body="")
    api.post(TOKEN_URL, json=token("tok-1"))
    api.patch(CONV_URL, json=CONVERSATION)
    oauth_hook.update_conversation(CONV_ID, archived=True)
    assert [c.request.method for c in api.calls] == ["POST", "POST", "PATCH"]


def test_threads_share_one_token_fetch() -> None:
    fetches: list[int] = []

    def slow_fetch() -> tuple[str, float]:
        fetches.append(1)
        time.sleep(0.05)
        return f"tok-{len(fetches)}", 3600.0

    auth = ClientCredentialsAuth(slow_fetch)
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(auth.token())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert fetches == [1]
    assert seen == ["tok-1"] * 16


def test_a_burst_of_401s_with_the_same_token_leads_to_one_fetch() -> None:
    fetched = iter(["tok-1", "tok-2", "tok-3"])
    auth = ClientCredentialsAuth(lambda: (next(fetched), 3600.0))
    first = auth.token()
    for _ in range(5):
        auth.invalidate(f"Bearer {first}")
    assert auth.token() == "tok-2"
    auth.invalidate("Bearer tok-1")  # a late 401 for the old token changes nothing
    assert auth.token() == "tok-2"


def test_auth_reprs_hide_tokens() -> None:
    auth = ClientCredentialsAuth(lambda: ("secret-token", 3600.0))
    auth.token()
    assert repr(auth) == "ClientCredentialsAuth(<hidden>)"


def test_a_token_endpoint_that_always_fails_costs_one_ladder_per_update(oauth_hook, api) -> None:
    api.post(TOKEN_URL, status=500, json={"code": "server_error", "message": "down"})
    with pytest.raises(MoveworksTokenError) as caught:
        oauth_hook.update_conversation(CONV_ID, archived=True)
    assert len(calls_to(api, TOKEN_URL)) == 6  # max_retries (5) + 1, not 6 x 6
    assert len(calls_to(api, BASE_URL)) == 0
    assert isinstance(caught.value, MoveworksConnectionError)  # transient: the task's retries act
    assert not isinstance(caught.value, AirflowFailException)
    assert str(caught.value).startswith(
        f"The OAuth token endpoint failed through its retries: Fetching an OAuth token from {TOKEN_URL}: "
        "Moveworks answered 500 server_error: down"
    )


def test_a_failed_token_fetch_is_remembered_for_the_hook(oauth_hook, api) -> None:
    api.post(TOKEN_URL, status=503, body="")
    for _ in range(3):
        with pytest.raises(MoveworksTokenError):
            oauth_hook.update_conversation(CONV_ID, archived=True)
    assert len(calls_to(api, TOKEN_URL)) == 6


def test_threads_waiting_for_a_failing_fetch_share_its_failure(set_connection, clock, api) -> None:
    set_connection(
        login=CLIENT_ID, password=CLIENT_SECRET, extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL}
    )
    api.post(TOKEN_URL, status=500, body="")
    lock_held_while_sleeping: list[bool] = []
    hook: MoveworksHook

    def sleep(seconds: float) -> None:
        auth = hook._auth
        assert isinstance(auth, ClientCredentialsAuth)
        lock_held_while_sleeping.append(auth._lock.locked())
        time.sleep(0.01)  # let the other threads arrive and wait

    hook = MoveworksHook().new_client(sleep=sleep)
    errors: list[BaseException] = []

    def update() -> None:
        try:
            hook.update_conversation(CONV_ID, archived=True)
        except MoveworksTokenError as error:
            errors.append(error)

    threads = [threading.Thread(target=update) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 20
    assert len(calls_to(api, TOKEN_URL)) == 6
    assert lock_held_while_sleeping == [False] * 5


@pytest.mark.parametrize("expires_in", ["3600", " 3600 ", 3600, 3600.5])
def test_expires_in_may_be_a_number_or_a_numeric_string(oauth_hook, api, clock, expires_in) -> None:
    api.post(TOKEN_URL, json=token("tok-1", expires_in=expires_in))  # type: ignore[arg-type]
    api.post(TOKEN_URL, json=token("tok-2"))
    api.patch(CONV_URL, json=CONVERSATION)
    oauth_hook.update_conversation(CONV_ID, archived=True)
    clock.now += 3000
    oauth_hook.update_conversation(CONV_ID, archived=True)
    assert len(calls_to(api, TOKEN_URL)) == 1


def test_a_stop_during_the_token_retries_ends_the_wait_and_is_not_remembered(
    set_connection, clock, api
) -> None:
    set_connection(
        login=CLIENT_ID, password=CLIENT_SECRET, extra={"assistant_name": ASSISTANT, "token_url": TOKEN_URL}
    )
    api.post(TOKEN_URL, status=500, body="")
    stop = threading.Event()
    hook = MoveworksHook().new_client(stop=stop, sleep=lambda seconds: stop.set())
    with pytest.raises(MoveworksCancelledError):
        hook.update_conversation(CONV_ID, archived=True)
    assert len(calls_to(api, TOKEN_URL)) == 1
    auth = hook._auth
    assert isinstance(auth, ClientCredentialsAuth)
    assert auth._failure is None


def test_a_thread_waiting_for_another_threads_fetch_stops_waiting_on_stop() -> None:
    stop, started, release = threading.Event(), threading.Event(), threading.Event()

    def slow_fetch() -> tuple[str, float]:
        started.set()
        release.wait(5)
        return "tok-1", 3600.0

    auth = ClientCredentialsAuth(slow_fetch, stop=stop)
    fetcher = threading.Thread(target=auth.token)
    fetcher.start()
    assert started.wait(5)
    stop.set()
    with pytest.raises(MoveworksCancelledError, match="Waiting for an OAuth token: the run was stopped"):
        auth.token()
    release.set()
    fetcher.join(5)
    assert auth.token() == "tok-1"  # the fetch in progress still completed for everyone


def test_a_token_endpoint_asking_for_a_day_stops_at_once_and_carries_the_wait(oauth_hook, api) -> None:
    api.post(TOKEN_URL, status=429, headers={"Retry-After": "86400"}, body="")
    with pytest.raises(MoveworksTokenError) as caught:
        oauth_hook.update_conversation(CONV_ID, archived=True)
    assert caught.value.retry_after == 86400.0
    assert "asking to wait 86400 s" in str(caught.value)
    assert len(calls_to(api, TOKEN_URL)) == 1
    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - our own bytes
    assert (type(copy), str(copy), copy.retry_after) == (MoveworksTokenError, str(caught.value), 86400.0)


def test_later_callers_get_the_remembered_failure_each_as_an_error_of_its_own(oauth_hook, api) -> None:
    api.post(TOKEN_URL, status=503, body="")
    errors = []
    for _ in range(4):
        with pytest.raises(MoveworksTokenError) as caught:
            oauth_hook.update_conversation(CONV_ID, archived=True)
        errors.append(caught.value)
    assert len({id(error) for error in errors}) == 4
    assert {str(error) for error in errors} == {str(errors[0])}
    depths = [len(traceback.extract_tb(error.__traceback__)) for error in errors[1:]]
    assert depths == [depths[0]] * 3  # a shared object's traceback would grow with every raise
