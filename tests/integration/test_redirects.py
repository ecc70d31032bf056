"""Redirects are never followed, nor even read: a 3xx is an answer like any other, whatever bytes
its Location holds (requests decoded it as UTF-8 before we saw the response, and a Latin-1
"réseau" escaped as a bare UnicodeDecodeError)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_moveworks.exceptions import MoveworksClientError, MoveworksTokenError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import ASSISTANT, CLIENT_ID, CLIENT_SECRET

pytestmark = pytest.mark.integration

CONV_ID = "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV"
REDIRECT = b"HTTP/1.1 302 Found\r\nLocation: https://sso.example/r\xe9seau\r\nContent-Length: 0\r\n\r\n"


class Redirecting(BaseHTTPRequestHandler):
    def _redirect(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append((self.command, self.path))  # type: ignore[attr-defined]
        self.wfile.write(REDIRECT)

    do_PATCH = do_POST = _redirect

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def base(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/rest/v1beta1"


def test_an_api_redirect_with_a_latin1_location_is_a_client_error(set_connection, server) -> None:
    set_connection(host=base(server), extra={"assistant_name": ASSISTANT, "max_retries": 0})

    with pytest.raises(MoveworksClientError) as raised:
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert raised.value.status == 302
    assert "a redirect to https://sso.example/r\xe9seau is not followed" in str(raised.value)
    assert server.seen == [("PATCH", f"/rest/v1beta1/conversations/{CONV_ID}")]  # type: ignore[attr-defined]


def test_a_token_redirect_with_a_latin1_location_is_a_token_error(set_connection, server) -> None:
    set_connection(
        host=base(server),
        login=CLIENT_ID,
        password=CLIENT_SECRET,
        extra={"assistant_name": ASSISTANT, "oauth_url": f"{base(server)}/oauth/v1/token"},
    )

    with pytest.raises(MoveworksTokenError):
        MoveworksHook().update_conversation(CONV_ID, archived=True)

    assert server.seen == [("POST", "/rest/v1beta1/oauth/v1/token")]  # type: ignore[attr-defined]
