"""TLS against the emulator served over HTTPS with a test CA: verification is on by default, a CA
bundle path works, ``verify=false`` warns, and a bearer token never follows a redirect."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import trustme

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.exceptions import MoveworksClientError, MoveworksTLSError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_emulator(test_ca: trustme.CA) -> Iterator[MoveworksEmulator]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    test_ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with MoveworksEmulator(api_keys=(API_KEY,), assistant_name=ASSISTANT, ssl_context=context) as emu:
        yield emu


def use(emu_url: str, monkeypatch, **extra: object) -> MoveworksHook:
    conn = {
        "conn_type": "moveworks",
        "host": emu_url,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, "max_retries": 1, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
    return MoveworksHook().new_client(sleep=lambda s: None)


def test_verification_is_on_by_default_and_an_unknown_ca_fails_without_retries(
    https_emulator, monkeypatch
) -> None:
    conversation = https_emulator.add_conversation(title="t")
    hook = use(https_emulator.base_url, monkeypatch)
    with pytest.raises(
        MoveworksTLSError, match=r"CERTIFICATE_VERIFY_FAILED.*check the connection's 'verify' extra"
    ):
        hook.update_conversation(conversation["conversation_id"], archived=True)
    assert hook.stats.requests == 1
    assert https_emulator.get(conversation["conversation_id"])["archived"] is False


def test_a_ca_bundle_path_in_verify_is_trusted(https_emulator, test_ca, monkeypatch, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(bundle))
    conversation = https_emulator.add_conversation(title="t")
    hook = use(https_emulator.base_url, monkeypatch, verify=str(bundle))
    assert https_emulator.base_url.startswith("https://127.0.0.1:")
    assert hook.update_conversation(conversation["conversation_id"], archived=True)["archived"] is True


def test_verify_false_works_and_warns(https_emulator, monkeypatch, capfd, caplog) -> None:
    caplog.set_level("WARNING")
    conversation = https_emulator.add_conversation(title="t")
    hook = use(https_emulator.base_url, monkeypatch, verify="false")
    hook.update_conversation(conversation["conversation_id"], archived=True)
    logged = capfd.readouterr().out + caplog.text
    assert "TLS verification is off for Moveworks connection 'moveworks_default'" in logged


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with ``answer`` and remembers the headers it was sent."""

    answer: tuple[int, dict[str, str]] = (200, {})
    seen: list[dict[str, str]]

    def do_PATCH(self) -> None:
        self.seen.append(dict(self.headers))
        status, headers = self.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def serve(answer: tuple[int, dict[str, str]]) -> tuple[HTTPServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (Recorder,), {"answer": answer, "seen": seen})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_never_carries_the_bearer_token_to_another_host(status, monkeypatch) -> None:
    elsewhere, elsewhere_saw = serve((200, {}))
    target = f"http://localhost:{elsewhere.server_port}/steal"
    origin, origin_saw = serve((status, {"Location": target}))
    try:
        hook = use(f"http://127.0.0.1:{origin.server_port}/rest/v1beta1", monkeypatch)
        with pytest.raises(MoveworksClientError, match=f"a redirect to {target} is not followed"):
            hook.update_conversation("conv_abc", archived=True)
    finally:
        origin.shutdown()
        elsewhere.shutdown()
    assert [h["Authorization"] for h in origin_saw] == [f"Bearer {API_KEY}"]
    assert elsewhere_saw == []
