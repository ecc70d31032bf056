"""Counters and state snapshots, from Python and from the admin endpoints."""

from __future__ import annotations

import time
from typing import Any

import requests

from airflow_provider_moveworks.emulator import MoveworksEmulator
from airflow_provider_moveworks.emulator.counters import RequestCounters

from .conftest import API_KEY_2, ASSISTANT, CLIENT_ID, CLIENT_SECRET


def test_counters_record_exactly_what_was_sent(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    item = f"{emulator.base_url}/conversations/{conversation['conversation_id']}"
    session.patch(item, headers=headers, json={"title": "a"})
    session.patch(item, headers=headers, json={"title": "b"})
    session.patch(item, headers={**headers, "Authorization": f"Bearer {API_KEY_2}"}, json={"title": 1})
    session.get(f"{emulator.base_url}/conversations", headers={"Assistant-Name": ASSISTANT})
    session.get(f"{emulator.base_url}/conversations", headers={"Authorization": "Bearer bogus"})
    token = session.post(
        emulator.token_url,
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    ).json()["access_token"]
    session.get(item, headers={**headers, "Authorization": f"Bearer {token}"})
    session.get(f"{emulator.url}/nope")
    session.get(f"{emulator.url}/_emulator/state")  # admin traffic is not counted
    assert emulator.counters() == {
        ("PATCH", "/conversations/{id}", 200, "api_key:1"): 2,
        ("PATCH", "/conversations/{id}", 400, "api_key:2"): 1,
        ("GET", "/conversations", 401, "none"): 1,
        ("GET", "/conversations", 401, "unknown"): 1,
        ("POST", "/oauth/v1/token", 200, "client:test-client"): 1,
        ("GET", "/conversations/{id}", 200, "client:test-client"): 1,
        ("GET", "<unmatched>", 404, "none"): 1,
    }
    assert emulator.request_count(method="PATCH") == 3
    assert emulator.request_count(method="PATCH", status=200) == 2
    assert emulator.request_count(credential="client:test-client") == 2
    assert emulator.token_requests == 1
    emulator.reset_counters()
    assert emulator.counters() == {}
    assert emulator.token_requests == 0


def test_counters_endpoint_returns_rows(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    before = time.time()
    session.get(f"{emulator.base_url}/conversations", headers=headers)
    after = time.time()
    body = session.get(f"{emulator.url}/_emulator/counters").json()
    row = body["counters"][0]
    assert before <= row["first"] == row["last"] <= after
    assert body == {
        "counters": [
            {
                **{"method": "GET", "route": "/conversations", "status": 200, "credential": "api_key:1"},
                **{"count": 1, "first": row["first"], "last": row["last"]},
            }
        ],
        "total": 1,
    }
    assert session.post(f"{emulator.url}/_emulator/reset-counters").json() == {"reset": True}
    assert emulator.counters() == {}


def test_state_endpoint_matches_python_snapshot(
    session: requests.Session, emulator: MoveworksEmulator, conversation: dict[str, Any]
) -> None:
    response = session.get(f"{emulator.url}/_emulator/state")
    assert response.status_code == 200
    assert response.json() == {"conversations": {conversation["conversation_id"]: conversation}}


def test_snapshots_are_copies(emulator: MoveworksEmulator, conversation: dict[str, Any]) -> None:
    snapshot = emulator.conversations()
    snapshot[conversation["conversation_id"]]["title"] = "mutated"
    got = emulator.get(conversation["conversation_id"])
    assert got is not None
    got["archived"] = True
    assert emulator.get(conversation["conversation_id"]) == conversation


def test_add_conversation_defaults(emulator: MoveworksEmulator) -> None:
    added = emulator.add_conversation()
    assert added["title"] is None
    assert added["archived"] is False
    assert added["created_at"] == added["updated_at"]
    assert emulator.get(added["conversation_id"]) == added


def test_counters_keep_each_keys_first_and_last_request_time() -> None:
    ticks = iter([10.0, 11.5, 12.0, 14.25, 20.0])
    counters = RequestCounters(clock=lambda: next(ticks))
    counters.record("PATCH", "/conversations/{id}", 200, "api_key:1")  # 10.0
    counters.record("PATCH", "/conversations/{id}", 429, "api_key:1")  # 11.5
    counters.record("PATCH", "/conversations/{id}", 200, "api_key:1")  # 12.0
    counters.record("PATCH", "/conversations/{id}", 200, "api_key:1")  # 14.25
    assert counters.times() == {
        ("PATCH", "/conversations/{id}", 200, "api_key:1"): (10.0, 14.25),
        ("PATCH", "/conversations/{id}", 429, "api_key:1"): (11.5, 11.5),
    }
    assert [(row["status"], row["count"], row["first"], row["last"]) for row in counters.as_json()] == [
        (200, 3, 10.0, 14.25),
        (429, 1, 11.5, 11.5),
    ]
    counters.reset()
    assert counters.times() == {}
    assert counters.as_json() == []
    counters.record("PATCH", "/conversations/{id}", 200, "api_key:1")  # 20.0: a fresh first time
    assert counters.times() == {("PATCH", "/conversations/{id}", 200, "api_key:1"): (20.0, 20.0)}
