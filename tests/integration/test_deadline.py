"""One deadline per attempt: a server on 127.0.0.1 that trickles its answer a byte at a time never
lets a socket read time out, yet the attempt fails with MoveworksTimeoutError once ``timeout``
is spent (the old per-read timeout returned after 20 s with ``timeout=2``)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_provider_moveworks.exceptions import MoveworksTimeoutError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT

pytestmark = pytest.mark.integration

CONV_ID = "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV"
BODY = json.dumps(
    {
        "conversation_id": CONV_ID,
        "title": "t",
        "archived": True,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
).encode()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)
BYTE_EVERY = 0.2  # seconds: each read gets a byte well within any timeout


class TrickleServer:
    """Reads a request, then answers one byte every ``BYTE_EVERY`` seconds; ``trickle`` says
    which part: the headers, only the body after headers sent at once, the headers after the
    status line sent at once, or (``"second"``) only the answer to the second request on a
    kept-alive connection, the first answered at once."""

    def __init__(self, trickle: str) -> None:
        self.trickle = trickle
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/rest/v1beta1"

    def __enter__(self) -> TrickleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            while self._answer_one(conn):
                pass

    def _answer_one(self, conn: socket.socket) -> bool:
        """Answer one request on ``conn``; whether to wait for another on it."""
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            received += chunk
        self.requests += 1
        if self.trickle == "second" and self.requests == 1:
            conn.sendall(HEAD + BODY)
            return True
        status_line = HEAD.split(b"\r\n", 1)[0] + b"\r\n"
        fast, slow = {
            "headers": (b"", HEAD + BODY),
            "after-status": (status_line, HEAD[len(status_line) :] + BODY),
        }.get(self.trickle, (HEAD, BODY))
        self._send(conn, fast, slow)
        return False

    def _send(self, conn: socket.socket, fast: bytes, slow: bytes) -> None:
        try:
            conn.sendall(fast)
            for byte in slow:
                if self._stop.wait(BYTE_EVERY):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return  # the client gave up: that is the point


@pytest.fixture(params=["headers", "body", "after-status"])
def trickle(request) -> Iterator[TrickleServer]:
    with TrickleServer(request.param) as server:
        yield server


def hook_for(url: str, monkeypatch, **extra: object) -> MoveworksHook:
    conn = {
        "conn_type": "moveworks",
        "host": url,
        "password": API_KEY,
        "extra": {"assistant_name": ASSISTANT, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
    return MoveworksHook().new_client(sleep=lambda s: None)


def test_a_trickling_server_fails_the_attempt_within_timeout_plus_one_second(trickle, monkeypatch) -> None:
    hook = hook_for(trickle.url, monkeypatch, timeout=1, max_retries=0)
    started = time.monotonic()
    with pytest.raises(MoveworksTimeoutError) as caught:
        hook.update_conversation(CONV_ID, archived=True)
    elapsed = time.monotonic() - started
    assert elapsed < 1 + 1, f"took {elapsed:.1f} s"
    assert str(caught.value) == (
        f"Updating conversation {CONV_ID}: no answer within 1 s after the request was sent; Moveworks may "
        "have applied it; it is retried because the PATCH is idempotent (it sets absolute values)"
    )
    assert trickle.requests == 1


def test_the_deadline_holds_for_a_second_request_on_a_kept_alive_connection(monkeypatch) -> None:
    with TrickleServer("second") as server:
        hook = hook_for(server.url, monkeypatch, timeout=1, max_retries=0)
        hook.update_conversation(CONV_ID, archived=True)
        started = time.monotonic()
        with pytest.raises(MoveworksTimeoutError, match="no answer within 1 s after the request was sent"):
            hook.update_conversation(CONV_ID, archived=True)
        elapsed = time.monotonic() - started
        assert server.requests == 2
    assert elapsed < 1 + 1, f"took {elapsed:.1f} s"


def test_each_retry_gets_its_own_deadline(monkeypatch) -> None:
    with TrickleServer("headers") as server:
        hook = hook_for(server.url, monkeypatch, timeout=1, max_retries=1)
        started = time.monotonic()
        with pytest.raises(MoveworksTimeoutError):
            hook.update_conversation(CONV_ID, archived=True)
        elapsed = time.monotonic() - started
        assert server.requests == 2
    assert elapsed < 2 * 1 + 1, f"took {elapsed:.1f} s"


def test_a_proxy_trickling_its_answer_to_connect_fails_the_attempt_within_timeout_plus_one_second(
    monkeypatch,
) -> None:
    """The CONNECT tunnel is part of the attempt; nothing of the request has left during it."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with TrickleServer("headers") as proxy:
        proxy_url = proxy.url.rsplit("/rest/", 1)[0]
        # Reached only through the proxy, whose tunnel never opens.
        hook = hook_for(
            "https://127.0.0.1:9/rest/v1beta1",
            monkeypatch,
            timeout=1,
            max_retries=0,
            proxies={"https": proxy_url},
        )
        started = time.monotonic()
        with pytest.raises(MoveworksTimeoutError) as caught:
            hook.update_conversation(CONV_ID, archived=True)
        elapsed = time.monotonic() - started
        assert proxy.requests == 1  # the CONNECT
    assert elapsed < 1 + 1, f"took {elapsed:.1f} s"
    assert str(caught.value) == f"Updating conversation {CONV_ID}: no answer within 1 s (not sent)"


def test_a_server_trickling_its_tls_handshake_fails_the_attempt_as_not_sent(monkeypatch) -> None:
    """A TLS record header, then a byte at a time: the handshake never ends, nothing was sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    stop = threading.Event()

    def answer() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)  # the ClientHello
            try:
                for byte in b"\x16\x03\x03\x40\x00" + b"\x02" * 100:
                    conn.sendall(bytes([byte]))
                    if stop.wait(BYTE_EVERY):
                        return
            except OSError:
                return

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        hook = hook_for(f"https://127.0.0.1:{port}/rest/v1beta1", monkeypatch, timeout=1, max_retries=0)
        started = time.monotonic()
        with pytest.raises(MoveworksTimeoutError) as caught:
            hook.update_conversation(CONV_ID, archived=True)
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        listener.close()
        thread.join(timeout=5)
    assert elapsed < 1 + 1, f"took {elapsed:.1f} s"
    assert str(caught.value) == f"Updating conversation {CONV_ID}: no answer within 1 s (not sent)"
