"""The wrong scheme for the server gets a hint naming the scheme to use and the connection field,
not "check the 'verify' extra" (the fix is the URL, not verification)."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator

import pytest
import trustme

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.exceptions import MoveworksConnectionError, MoveworksTLSError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT

pytestmark = pytest.mark.integration


@pytest.fixture
def https_emulator() -> Iterator[MoveworksEmulator]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    with MoveworksEmulator(api_keys=(API_KEY,), assistant_name=ASSISTANT, ssl_context=context) as emu:
        yield emu


def hook_for(monkeypatch, host: str, login: str | None = None, **extra: object) -> MoveworksHook:
    conn = {
        "conn_type": "moveworks",
        "host": host,
        "login": login,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, "max_retries": 0, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
    return MoveworksHook()


def test_https_to_a_plain_http_server_says_use_http_in_the_base_url(emulator, monkeypatch) -> None:
    conversation = emulator.add_conversation(title="t")
    url = emulator.base_url.replace("http://", "https://")
    with pytest.raises(MoveworksTLSError) as caught:
        hook_for(monkeypatch, url).update_conversation(conversation["conversation_id"], archived=True)
    origin = url.rsplit("/rest", 1)[0]
    assert str(caught.value) == (
        f"Updating conversation {conversation['conversation_id']}: the server at {origin} speaks plain "
        "http, not https; use an http:// URL in the connection's Base URL field (http is allowed to "
        "loopback hosts only)"
    )
    assert "verify" not in str(caught.value)


def test_https_to_a_plain_http_token_endpoint_names_the_token_url_field(emulator, monkeypatch) -> None:
    token_url = emulator.token_url.replace("http://", "https://")
    hook = hook_for(monkeypatch, emulator.base_url, login="client", token_url=token_url)
    with pytest.raises(
        MoveworksTLSError, match="use an http:// URL in the connection's OAuth token URL field"
    ):
        hook.update_conversation("conv_abc", archived=True)


def test_http_to_an_https_server_says_use_https_in_the_base_url(https_emulator, monkeypatch) -> None:
    url = https_emulator.base_url.replace("https://", "http://")
    with pytest.raises(MoveworksConnectionError) as caught:
        hook_for(monkeypatch, url).update_conversation("conv_abc", archived=True)
    origin = url.rsplit("/rest", 1)[0]
    assert str(caught.value).endswith(
        f"; if the server at {origin} speaks https, use an https:// URL in the connection's Base URL field"
    )
    assert "verify" not in str(caught.value)
