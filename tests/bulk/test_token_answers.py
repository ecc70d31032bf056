"""A token endpoint that answers with no usable token stops a bulk run at once: no PATCH leaves,
no row is reported failed for an update that was never sent, and a retry of the task resumes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.exceptions import MoveworksBulkInterruptedError
from tests.conftest import ASSISTANT, CLIENT_ID, CLIENT_SECRET
from tests.reliability.conftest import read_report
from tests.unit.test_secrets_chain import everything_said

SIGN_IN = "https://sso.example.com/login"


class SignInRedirect(BaseHTTPRequestHandler):
    """A token endpoint behind a single-sign-on proxy: every request is sent to a sign-in page."""

    def do_POST(self) -> None:
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(302)
        self.send_header("Location", SIGN_IN)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the tests read what was asked, not a log


@pytest.fixture
def sign_in_proxy() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SignInRedirect)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="test-token-endpoint", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_token_endpoint_that_redirects_stops_the_run_before_any_patch(
    make_operator,
    add_conversations,
    emulator_connection: MoveworksEmulator,
    sign_in_proxy,
    monkeypatch,
    tmp_path,
) -> None:
    ids = add_conversations(20)
    token_url = f"http://127.0.0.1:{sign_in_proxy.server_address[1]}/oauth/v1/token"
    conn = {
        "conn_type": "moveworks",
        "host": emulator_connection.base_url,
        "login": CLIENT_ID,
        "password": CLIENT_SECRET,
        "extra": {"assistant_name": ASSISTANT, "oauth_url": token_url, "max_retries": 2},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", json.dumps(conn))
    report = tmp_path / "report.jsonl"
    operator = make_operator(
        updates=[{"conversation_id": cid, "archived": True} for cid in ids],
        max_concurrency=4,
        report_file=str(report),
    )

    with pytest.raises(MoveworksBulkInterruptedError) as caught:
        operator.execute({})

    assert str(caught.value) == (
        "Bulk update stopped after 0 rows by a failing token endpoint: The OAuth token endpoint gave no "
        f"usable token: Fetching an OAuth token from {token_url}: Moveworks answered 302: the body was "
        f"an empty body, not the documented error JSON; a redirect to {SIGN_IN} is not followed. Every "
        "request of this task needs a token, so none is sent; the task's retries ask again"
    )
    assert sign_in_proxy.requests == ["/oauth/v1/token"]  # type: ignore[attr-defined]
    assert emulator_connection.request_counters.total() == 0  # no PATCH, nor anything else
    assert read_report(report) == []  # no row reported failed: none was sent
    assert CLIENT_SECRET not in everything_said(caught.value)
