"""client/transport.py exactly: a body of exactly the size limit is read, one byte more is not, an
endless body is cut at the limit (not read until the deadline), and the proxies chosen for a URL
from the configuration and the environment."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import responses

from airflow_provider_moveworks.client.client import MoveworksClient
from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.transport import MAX_BODY_BYTES, _proxies_for
from airflow_provider_moveworks.exceptions import MoveworksClientError

BASE = "https://moveworks.test/rest/v1beta1"
CONV = f"{BASE}/conversations/conv_a1"
ENV_PROXY = "http://envproxy.example.com:3128"


def client(base: str = BASE, timeout: float = 30.0) -> MoveworksClient:
    config = ClientConfig(base_url=base, api_key="k" * 20, assistant_name="test-assistant", timeout=timeout)
    return MoveworksClient(config, sleep=lambda seconds: None)


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not() -> None:
    with responses.RequestsMock() as api, client() as moveworks:
        api.add("GET", CONV, body=b" " * MAX_BODY_BYTES, status=200)
        with pytest.raises(MoveworksClientError) as read:
            moveworks.get_conversation("conv_a1")
        assert "larger than" not in str(read.value)  # read whole: not JSON, but read
        assert f"body of {MAX_BODY_BYTES} bytes" in str(read.value)
        api.replace("GET", CONV, body=b" " * (MAX_BODY_BYTES + 1), status=200)
        with pytest.raises(MoveworksClientError, match=f"with a body larger than {MAX_BODY_BYTES} bytes"):
            moveworks.get_conversation("conv_a1")


CUT = threading.Event()  # set by the endless server when the client cut its connection


@pytest.fixture
def endless_server() -> Iterator[str]:
    """A loopback server answering 200 with a chunked body that never ends."""
    CUT.clear()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = threading.Event()

    def serve() -> None:
        try:
            connection, _ = server.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
            try:
                while not stop.is_set():
                    connection.sendall(chunk)
            except OSError:
                CUT.set()
                return

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/rest/v1"
    stop.set()
    server.close()


def test_an_endless_body_is_cut_at_the_limit_not_read_until_the_deadline(endless_server: str) -> None:
    started = time.monotonic()
    with client(endless_server, timeout=20.0) as moveworks:
        with pytest.raises(MoveworksClientError) as raised:
            moveworks.get_conversation("conv_a1")
        assert f"with a body larger than {MAX_BODY_BYTES} bytes" in str(raised.value)
        assert time.monotonic() - started < 15.0  # not the 20 s deadline
        assert CUT.wait(5)  # its connection closed at once, while the client is still open


def test_plain_http_gets_no_proxy_even_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", ENV_PROXY)
    monkeypatch.setenv("HTTPS_PROXY", ENV_PROXY)
    assert _proxies_for("http://127.0.0.1:8080/rest", None) == {}
    assert _proxies_for("https://api.example.com/rest", None) == {"https": ENV_PROXY, "http": ENV_PROXY}


def test_the_configured_no_proxy_applies_to_the_environments_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", ENV_PROXY)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _proxies_for("https://api.example.com/rest", {"no_proxy": "api.example.com"}) == {}


def test_the_environments_no_proxy_list_is_no_proxy_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", ENV_PROXY)
    monkeypatch.setenv("NO_PROXY", "localhost,internal.example.com")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    assert _proxies_for("https://api.example.com/rest", None) == {"https": ENV_PROXY}


def test_closing_the_client_closes_its_kept_alive_connection() -> None:
    """A conversation answered with keep-alive: the pooled connection is closed by close(), which
    the server sees as the end of its stream."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    closed = threading.Event()

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            body = (
                b'{"conversation_id": "conv_a1", "title": "T", "archived": false, '
                b'"created_at": "x", "updated_at": "y"}'
            )
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body) + body
            )
            connection.settimeout(10)
            try:
                if connection.recv(1) == b"":
                    closed.set()
            except OSError:
                closed.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    moveworks = client(f"http://127.0.0.1:{server.getsockname()[1]}/rest/v1")
    try:
        assert moveworks.get_conversation("conv_a1")["title"] == "T"
        assert not closed.wait(0.2)  # kept alive while the client is open
        moveworks.close()
        assert closed.wait(5)
    finally:
        server.close()
