"""HTTP behaviour: routing errors, headers, keep-alive and Connection: close, disconnects, TLS, stop."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
import requests
import trustme

from airflow_provider_moveworks.emulator import MoveworksEmulator

from .conftest import API_KEY, ASSISTANT, UUID_RE, EmulatorFactory


def _raw(emu: MoveworksEmulator, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", emu.port), timeout=5) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_unknown_route_is_404_json(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    for url in (
        f"{emulator.base_url}/nothing",
        f"{emulator.url}/elsewhere",
        f"{emulator.base_url}/conversations/a/b",
    ):
        response = session.get(url, headers=headers)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert re.match(UUID_RE, response.headers["x-moveworks-root-uuid"])
        assert response.json() == {"error": {"code": "NOT_FOUND", "message": "No such route"}}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [("DELETE", "/conversations/conv_x", "GET, PATCH"), ("PUT", "/conversations", "GET, POST")],
)
def test_wrong_method_is_405_json_with_allow(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    method: str,
    path: str,
    allow: str,
) -> None:
    response = session.request(method, emulator.base_url + path, headers=headers)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_every_response_gets_a_fresh_root_uuid(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    ids = {
        session.get(f"{emulator.base_url}/conversations", headers=headers).headers["x-moveworks-root-uuid"]
        for _ in range(5)
    }
    assert len(ids) == 5


def test_keep_alive_reuses_one_connection(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    responses = [session.get(f"{emulator.base_url}/conversations", headers=headers) for _ in range(3)]
    assert all("Connection" not in r.headers for r in responses)
    assert emulator.request_count(route="/conversations", status=200) == 3
    assert emulator.connections_accepted == 1


def test_connection_close_is_honoured(emulator: MoveworksEmulator) -> None:
    request = (
        f"GET /rest/v1beta1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
        f"Assistant-Name: {ASSISTANT}\r\nConnection: close\r\n\r\n"
    ).encode()
    raw = _raw(emulator, request)  # returns only because the server closes the connection
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"\r\nConnection: close" in head
    assert int(re.search(rb"Content-Length: (\d+)", head).group(1)) == len(body)  # type: ignore[union-attr]


def test_malformed_request_line_gets_json_400(emulator: MoveworksEmulator) -> None:
    raw = _raw(emulator, b"NONSENSE\r\n\r\n")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"x-moveworks-root-uuid: " in head
    assert body.startswith(b'{"error":{"code":"INVALID_INPUT"')


def test_client_disconnect_mid_request_is_quiet(
    emulator: MoveworksEmulator,
    capfd: pytest.CaptureFixture[str],
    session: requests.Session,
    headers: dict[str, str],
) -> None:
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(
            b"PATCH /rest/v1beta1/conversations/conv_x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        )
    with socket.create_connection(("127.0.0.1", emulator.port)) as sock:
        sock.sendall(b"GET /rest/v1beta1/conv")
    time.sleep(0.2)
    assert session.get(f"{emulator.base_url}/conversations", headers=headers).status_code == 200
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_nothing_is_logged_by_default(
    emulator: MoveworksEmulator,
    capfd: pytest.CaptureFixture[str],
    session: requests.Session,
    headers: dict[str, str],
) -> None:
    session.get(f"{emulator.base_url}/conversations", headers=headers)
    session.get(f"{emulator.base_url}/conversations", headers={"Authorization": "Bearer leaked-secret"})
    assert capfd.readouterr().err == ""


def test_verbose_logs_method_path_status_but_no_secret(
    make_emulator: EmulatorFactory, capfd: pytest.CaptureFixture[str], session: requests.Session
) -> None:
    emu = make_emulator(verbose=True)
    session.get(f"{emu.base_url}/conversations?limit=1", headers={"Authorization": "Bearer leaked-secret"})
    err = capfd.readouterr().err
    assert "GET /rest/v1beta1/conversations 401" in err
    assert "leaked-secret" not in err
    assert API_KEY not in err


def test_stop_is_prompt_and_closes_idle_keep_alive_connections(
    make_emulator: EmulatorFactory, headers: dict[str, str]
) -> None:
    emu = make_emulator()
    url = f"{emu.base_url}/conversations"
    with requests.Session() as s:
        assert s.get(url, headers=headers).status_code == 200  # leaves an idle keep-alive connection
        port = emu.port
        started = time.perf_counter()
        emu.stop()
        assert time.perf_counter() - started < 5.0  # not held up by the idle connection
        with pytest.raises(requests.ConnectionError):
            s.get(url, headers=headers)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_stop_interrupts_a_slow_response(make_emulator: EmulatorFactory, headers: dict[str, str]) -> None:
    emu = make_emulator(latency=60.0)
    delaying = threading.Event()
    sleep = emu.sleep

    def announced_sleep(seconds: float) -> None:
        delaying.set()
        sleep(seconds)

    emu.sleep = announced_sleep  # type: ignore[method-assign]
    outcome: list[object] = []

    def ask() -> None:
        try:  # a client that would wait far longer than the test
            outcome.append(requests.get(f"{emu.base_url}/conversations", headers=headers, timeout=120))
        except requests.RequestException as error:
            outcome.append(error)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    assert delaying.wait(10)  # the handler is inside its 60 s delay
    started = time.perf_counter()
    emu.stop()
    assert time.perf_counter() - started < 10.0
    thread.join(10)
    assert not thread.is_alive()  # released well before the 60 s delay or its own timeout
    # Cut off, or answered early as the delay ended: either way the client was let go.
    assert len(outcome) == 1


def test_https_with_trusted_ca(
    tmp_path: Path, make_emulator: EmulatorFactory, headers: dict[str, str]
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    emu = make_emulator(ssl_context=context)
    assert emu.base_url.startswith("https://127.0.0.1:")
    response = requests.get(f"{emu.base_url}/conversations", headers=headers, verify=str(bundle))
    assert response.status_code == 200
    assert response.json() == {"conversations": [], "metadata": {"next_cursor": None}}
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{emu.base_url}/conversations", headers=headers)


def test_context_manager_exposes_urls() -> None:
    with MoveworksEmulator(base_path="/rest/v1") as emu:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.url)
        assert emu.base_url == emu.url + "/rest/v1"
        assert emu.token_url == emu.url + "/oauth/v1/token"
        assert requests.get(emu.url + "/_emulator/health").json() == {"status": "ok"}


def test_chunked_request_body_is_accepted(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    cid = emulator.add_conversation(title="before")["conversation_id"]
    body = iter([b'{"title":', b' "chunked"}'])  # a generator body makes requests send it chunked
    response = session.patch(f"{emulator.base_url}/conversations/{cid}", headers=headers, data=body)
    assert response.status_code == 200
    assert response.json()["title"] == "chunked"


def test_expect_100_continue_gets_an_interim_response(emulator: MoveworksEmulator) -> None:
    body = b'{"title": "x"}'
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=2) as sock:
        sock.sendall(
            f"POST /rest/v1beta1/conversations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_KEY}\r\n"
            f"Assistant-Name: {ASSISTANT}\r\nContent-Length: {len(body)}\r\n"
            "Expect: 100-continue\r\n\r\n".encode()
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        assert sock.recv(4096).startswith(b"HTTP/1.1 201 Created\r\n")
