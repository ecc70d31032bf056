"""client/client.py and client/auth.py exactly: the short-credential warning from its threshold,
closing (by ``with`` or ``close()``) ending a call in flight at once, a remembered token failure
raised again with its attributes, and a thread waiting for another's token fetch stopping soon
after a stop."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_moveworks.client.auth import ClientCredentialsAuth
from airflow_provider_moveworks.client.client import MoveworksClient
from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.secrets import MIN_SECRET_LENGTH
from airflow_provider_moveworks.exceptions import MoveworksAuthenticationError, MoveworksCancelledError

ASSISTANT = "test-assistant"
SHORT = "The Moveworks credential is shorter than"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/rest/v1"
    server.close()
    for connection in accepted:
        connection.close()


def test_a_credential_shorter_than_the_minimum_is_warned_about_not_one_of_the_minimum(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("moveworks-test-short")
    with caplog.at_level(logging.WARNING, logger=log.name):
        MoveworksClient(
            ClientConfig(api_key="k" * MIN_SECRET_LENGTH, assistant_name=ASSISTANT), log=log
        ).close()
        assert SHORT not in caplog.text
        MoveworksClient(
            ClientConfig(api_key="k" * (MIN_SECRET_LENGTH - 1), assistant_name=ASSISTANT), log=log
        ).close()
    assert f"{SHORT} {MIN_SECRET_LENGTH} characters" in caplog.text


def call_in_flight(client: MoveworksClient, end: object) -> tuple[BaseException | None, float]:
    """Start a GET that the server never answers, end the client 0.3 s later (``end`` is
    ``"close"`` or ``"exit"``); the GET's error and how long it waited after the end."""
    outcome: list[BaseException] = []

    def get() -> None:
        try:
            client.get_conversation("conv_a1")
        except BaseException as error:  # handed to the test
            outcome.append(error)

    caller = threading.Thread(target=get)
    caller.start()
    time.sleep(0.3)
    ended = time.monotonic()
    if end == "close":
        client.close()
    else:
        client.__exit__(None, None, None)
    caller.join(10)
    return (outcome[0] if outcome else None), time.monotonic() - ended


@pytest.mark.parametrize("end", ["close", "exit"])
def test_ending_the_client_ends_a_call_in_flight_at_once(silent_server: str, end: str) -> None:
    config = ClientConfig(base_url=silent_server, api_key="k" * 20, assistant_name=ASSISTANT, timeout=8.0)
    client = MoveworksClient(config, sleep=lambda seconds: None)
    error, waited = call_in_flight(client, end)
    assert isinstance(error, MoveworksCancelledError), error
    assert str(error) == (
        "Reading conversation conv_a1: cut short after the request was sent, the run was stopped; "
        "Moveworks may have applied it"
    )
    assert waited < 2.0  # not the 8 s timeout


def test_a_remembered_token_failure_is_raised_again_as_a_copy_with_its_attributes() -> None:
    fetches = 0

    def fetch() -> tuple[str, float]:
        nonlocal fetches
        fetches += 1
        raise MoveworksAuthenticationError(
            "Fetching a token: 401 invalid_client", status=401, code="invalid_client"
        )

    auth = ClientCredentialsAuth(fetch)
    with pytest.raises(MoveworksAuthenticationError) as first:
        auth.token()
    with pytest.raises(MoveworksAuthenticationError) as second:
        auth.token()
    assert fetches == 1
    assert second.value is not first.value
    assert (str(second.value), second.value.status, second.value.code) == (
        str(first.value),
        401,
        "invalid_client",
    )
    assert str(second.value).startswith("Fetching a token: 401 invalid_client")


def test_a_thread_waiting_for_anothers_token_fetch_stops_within_a_tenth_of_a_second() -> None:
    release = threading.Event()

    def fetch() -> tuple[str, float]:
        release.wait(10)
        return "token", 3600.0

    stop = threading.Event()
    auth = ClientCredentialsAuth(fetch, stop=stop)
    fetcher = threading.Thread(target=auth.token)
    fetcher.start()
    time.sleep(0.1)  # the fetch is under way
    waited: list[float] = []
    errors: list[BaseException] = []

    def wait_for_token() -> None:
        try:
            auth.token()
        except MoveworksCancelledError as error:
            waited.append(time.monotonic() - stopped_at[0])
            errors.append(error)

    stopped_at = [0.0]
    waiter = threading.Thread(target=wait_for_token)
    waiter.start()
    time.sleep(0.15)  # the waiter is in its wait
    stopped_at[0] = time.monotonic()
    stop.set()
    waiter.join(5)
    release.set()
    fetcher.join(5)
    assert [str(error) for error in errors] == ["Waiting for an OAuth token: the run was stopped"]
    assert waited[0] < 0.7  # one poll of 0.1 s, with room for a busy machine


def test_a_refused_token_counts_only_the_token_request_not_the_call_it_was_for() -> None:
    import responses

    base, token_url = "https://moveworks.test/rest/v1beta1", "https://moveworks.test/oauth/v1/token"
    config = ClientConfig(
        base_url=base,
        token_url=token_url,
        client_id="client",
        client_secret="s" * 20,
        assistant_name=ASSISTANT,
        max_retries=0,
    )
    with responses.RequestsMock() as api, MoveworksClient(config, sleep=lambda seconds: None) as client:
        api.add("POST", token_url, status=401, json={"error": "invalid_client"})
        with pytest.raises(MoveworksAuthenticationError):
            client.get_conversation("conv_a1")
        assert [call.request.url for call in api.calls] == [token_url]
        assert client.stats.requests == 1  # the GET was never sent
