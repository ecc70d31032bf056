"""Plain http reaches a loopback host only: never through a proxy, which would carry the bearer
token over the network in clear text (and cannot reach this machine's loopback anyway)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.exceptions import MoveworksError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

pytestmark = pytest.mark.integration


class RecordingProxy:
    """Accepts connections and records what arrives; answers 502 to anything."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(
                        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                except OSError:
                    pass

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    with RecordingProxy() as recording:
        yield recording


@pytest.mark.parametrize("where", ["environment", "connection"])
def test_plain_http_to_loopback_never_goes_through_a_proxy(monkeypatch, proxy, where) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    extra: dict[str, object] = {}
    if where == "environment":
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
    else:
        extra["proxies"] = {"http": proxy.url}
    with MoveworksEmulator(seed_conversations=1, random_seed=1) as emu:
        conn = {
            "conn_type": "moveworks",
            "host": emu.base_url,
            "password": emu.api_keys[0],
            "extra": {"assistant_name": emu.assistant_name, "max_retries": 0, **extra},
        }
        monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
        conversation_id = next(iter(emu.conversations()))
        with contextlib.suppress(MoveworksError):  # a proxy answers 502: asserted below
            MoveworksHook().update_conversation(conversation_id, archived=True)
        assert proxy.received == []
        assert emu.conversations()[conversation_id]["archived"] is True


def test_a_loopback_call_leaves_the_process_environment_alone(monkeypatch, proxy) -> None:
    # requests applies a per-call no_proxy by writing it into os.environ and deleting it after:
    # a bulk run's other threads, reading the environment meanwhile, then died with KeyError.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url)
    with MoveworksEmulator(seed_conversations=1, random_seed=1) as emu:
        conn = {
            "conn_type": "moveworks",
            "host": emu.base_url,
            "password": emu.api_keys[0],
            "extra": {"assistant_name": emu.assistant_name, "max_retries": 0},
        }
        monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
        conversation_id = next(iter(emu.conversations()))
        environ = type(os.environ)
        writes: list[str] = []
        set_item, del_item = environ.__setitem__, environ.__delitem__
        monkeypatch.setattr(environ, "__setitem__", lambda e, k, v: (writes.append(k), set_item(e, k, v)))
        monkeypatch.setattr(environ, "__delitem__", lambda e, k: (writes.append(k), del_item(e, k)))
        hook = MoveworksHook()
        try:
            updated = hook.update_conversation(conversation_id, archived=True)
        finally:
            hook.close()
        monkeypatch.undo()
        assert writes == []
        assert updated["archived"] is True
        assert proxy.received == []
