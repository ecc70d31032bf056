"""POST /oauth/v1/token: issue (form, JSON, Basic), the wrapped shape, flat errors, expiry."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.emulator import MoveworksEmulator

from .conftest import ASSISTANT, CLIENT_ID, CLIENT_SECRET, UUID_RE, EmulatorFactory, FakeClock

GRANT = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def _use(session: requests.Session, emu: MoveworksEmulator, token: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Assistant-Name": ASSISTANT}
    return session.get(f"{emu.base_url}/conversations", headers=headers)


def _assert_token(response: requests.Response, ttl: Any = 3600) -> str:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert re.match(UUID_RE, response.headers["x-moveworks-root-uuid"])
    body = response.json()
    assert body == {"access_token": body["access_token"], "expires_in": ttl, "token_type": "Bearer"}
    assert len(body["access_token"]) >= 32
    return str(body["access_token"])


def test_form_encoded_request_issues_a_working_token(
    session: requests.Session, emulator: MoveworksEmulator
) -> None:
    token = _assert_token(session.post(emulator.token_url, data=GRANT))
    assert _use(session, emulator, token).status_code == 200


def test_json_request_issues_a_working_token(session: requests.Session, emulator: MoveworksEmulator) -> None:
    token = _assert_token(session.post(emulator.token_url, json=GRANT))
    assert _use(session, emulator, token).status_code == 200


def test_basic_client_auth_issues_a_token(session: requests.Session, emulator: MoveworksEmulator) -> None:
    response = session.post(
        emulator.token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    _assert_token(response)


def test_each_request_issues_a_distinct_token(session: requests.Session, emulator: MoveworksEmulator) -> None:
    tokens = {_assert_token(session.post(emulator.token_url, data=GRANT)) for _ in range(3)}
    assert len(tokens) == 3
    assert emulator.tokens_issued == 3
    assert emulator.token_requests == 3


def test_wrapped_response_shape(session: requests.Session, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(token_response_shape="wrapped")
    body = session.post(emu.token_url, data=GRANT).json()
    assert body == {
        "data": {"access_token": body["data"]["access_token"], "expires_in": 3600, "token_type": "Bearer"}
    }


def test_fractional_ttl_is_reported_as_is(session: requests.Session, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(token_ttl=0.5)
    _assert_token(session.post(emu.token_url, data=GRANT), ttl=0.5)


def test_token_expires_after_its_ttl(
    session: requests.Session, make_emulator: EmulatorFactory, clock: FakeClock
) -> None:
    emu = make_emulator(token_ttl=0.2, clock=clock)
    token = _assert_token(session.post(emu.token_url, data=GRANT), ttl=0.2)
    clock.now = 0.19
    assert _use(session, emu, token).status_code == 200
    clock.now = 0.2
    response = _use(session, emu, token)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "UNAUTHORIZED", "message": "Access token expired"}}


def test_expire_tokens_invalidates_issued_tokens_but_not_api_keys(
    session: requests.Session, emulator: MoveworksEmulator
) -> None:
    token = _assert_token(session.post(emulator.token_url, data=GRANT))
    emulator.expire_tokens()
    assert _use(session, emulator, token).status_code == 401
    assert _use(session, emulator, "test-api-key").status_code == 200


@pytest.mark.parametrize(
    ("data", "status", "code", "message"),
    [
        ({**GRANT, "client_secret": "wrong"}, 401, "UNAUTHORIZED", "Invalid client credentials"),
        ({**GRANT, "client_id": "other"}, 401, "UNAUTHORIZED", "Invalid client credentials"),
        (
            {**GRANT, "grant_type": "password"},
            400,
            "INVALID_INPUT",
            "Unsupported grant_type; only client_credentials is supported",
        ),
        (
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            400,
            "INVALID_INPUT",
            "grant_type is required",
        ),
        (
            {"grant_type": "client_credentials"},
            400,
            "INVALID_INPUT",
            "client_id and client_secret are required",
        ),
    ],
    ids=["wrong_secret", "unknown_client", "wrong_grant", "no_grant", "no_client"],
)
def test_token_errors_are_flat(
    session: requests.Session,
    emulator: MoveworksEmulator,
    data: dict[str, str],
    status: int,
    code: str,
    message: str,
) -> None:
    response = session.post(emulator.token_url, data=data)
    assert response.status_code == status
    assert response.json() == {"code": code, "message": message}
    assert re.match(UUID_RE, response.headers["x-moveworks-root-uuid"])
    assert emulator.tokens_issued == 0


def test_token_endpoint_rejects_get_with_405(session: requests.Session, emulator: MoveworksEmulator) -> None:
    response = session.get(emulator.token_url)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json() == {"code": "METHOD_NOT_ALLOWED", "message": "Use POST"}


def test_json_token_body_must_be_an_object(session: requests.Session, emulator: MoveworksEmulator) -> None:
    response = session.post(emulator.token_url, json=["client_credentials"])
    assert response.status_code == 400
    assert response.json() == {"code": "INVALID_INPUT", "message": "The request body must be a JSON object"}
