"""PATCH /conversations/{id}: success, every error status, the check order and the spec choices."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.emulator import MoveworksEmulator

from .conftest import ASSISTANT, UUID_RE


def _patch(
    session: requests.Session, emu: MoveworksEmulator, cid: str, headers: dict[str, str], **kwargs: Any
) -> requests.Response:
    return session.patch(f"{emu.base_url}/conversations/{cid}", headers=headers, **kwargs)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def test_patch_title_changes_only_title_and_moves_updated_at(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    response = _patch(
        session, emulator, conversation["conversation_id"], headers, json={"title": "New title"}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert re.match(UUID_RE, response.headers["x-moveworks-root-uuid"])
    body = response.json()
    assert body == {**conversation, "title": "New title", "updated_at": body["updated_at"]}
    assert body["updated_at"] > conversation["updated_at"]
    assert body["updated_at"].endswith("Z")
    assert emulator.get(conversation["conversation_id"]) == body


def test_patch_archived_changes_only_archived(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    body = _patch(session, emulator, conversation["conversation_id"], headers, json={"archived": True}).json()
    assert body == {**conversation, "archived": True, "updated_at": body["updated_at"]}


def test_patch_both_fields(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    response = _patch(
        session, emulator, conversation["conversation_id"], headers, json={"title": "T", "archived": True}
    )
    assert response.status_code == 200
    assert response.json()["title"] == "T"
    assert response.json()["archived"] is True


def test_repeated_patch_keeps_state_but_updated_at_strictly_increases(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    stamps = [
        _patch(session, emulator, conversation["conversation_id"], headers, json={"archived": True}).json()
        for _ in range(20)
    ]
    assert all(s["archived"] is True and s["created_at"] == conversation["created_at"] for s in stamps)
    updated = [s["updated_at"] for s in stamps]
    assert updated == sorted(set(updated))  # strictly increasing, no duplicates


def test_title_of_256_characters_is_accepted(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    response = _patch(session, emulator, conversation["conversation_id"], headers, json={"title": "x" * 256})
    assert response.status_code == 200
    assert response.json()["title"] == "x" * 256


def test_title_keeps_surrounding_whitespace_and_unicode(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    response = _patch(
        session, emulator, conversation["conversation_id"], headers, json={"title": " Ünïcødé ✓ "}
    )
    assert response.json()["title"] == " Ünïcødé ✓ "


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "x" * 257}, "title must be at most 256 characters"),
        ({"title": 5}, "title must be a string"),
        ({"title": None}, "title must be a string"),
        ({"archived": "true"}, "archived must be a boolean"),
        ({"archived": 1}, "archived must be a boolean"),
        ({"archived": None}, "archived must be a boolean"),
        ([{"title": "x"}], "The request body must be a JSON object"),
        ("title", "The request body must be a JSON object"),
        ({}, "Provide at least one of: title, archived"),
        ({"title": ""}, "title must not be empty or only whitespace"),
        ({"title": " \t\n "}, "title must not be empty or only whitespace"),
        ({"archive": True}, "Unknown field(s): 'archive'; allowed: title, archived"),
        ({"title": "ok", "extra": 1}, "Unknown field(s): 'extra'; allowed: title, archived"),
    ],
    ids=[
        "title_too_long",
        "title_number",
        "title_null",
        "archived_string",
        "archived_int",
        "archived_null",
        "body_array",
        "body_string",
        "empty_object",
        "empty_title",
        "whitespace_title",
        "unknown_field",
        "unknown_field_beside_valid",
    ],
)
def test_invalid_patch_body_is_400_invalid_input_and_changes_nothing(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
    body: Any,
    message: str,
) -> None:
    response = _patch(session, emulator, conversation["conversation_id"], headers, json=body)
    assert response.status_code == 400
    assert response.json() == _error("INVALID_INPUT", message)
    assert emulator.get(conversation["conversation_id"]) == conversation


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"\xff\xfe", b'{"title": NaN}'], ids=["empty", "garbage", "utf8", "nan"]
)
def test_unparseable_patch_body_is_400(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
    raw: bytes,
) -> None:
    response = _patch(session, emulator, conversation["conversation_id"], headers, data=raw)
    assert response.status_code == 400
    assert response.json() == _error("INVALID_INPUT", "The request body must be a JSON object")


def test_missing_authorization_is_401(
    session: requests.Session, emulator: MoveworksEmulator, conversation: dict[str, Any]
) -> None:
    response = _patch(
        session, emulator, conversation["conversation_id"], {"Assistant-Name": ASSISTANT}, json={"title": "x"}
    )
    assert response.status_code == 401
    assert response.json() == _error("UNAUTHORIZED", "Missing or malformed Authorization header")
    assert re.match(UUID_RE, response.headers["x-moveworks-root-uuid"])


@pytest.mark.parametrize("auth", ["Basic dGVzdC1hcGkta2V5", "Bearer", "test-api-key"])
def test_malformed_authorization_is_401(
    session: requests.Session, emulator: MoveworksEmulator, conversation: dict[str, Any], auth: str
) -> None:
    headers = {"Authorization": auth, "Assistant-Name": ASSISTANT}
    response = _patch(session, emulator, conversation["conversation_id"], headers, json={"title": "x"})
    assert response.status_code == 401
    assert response.json() == _error("UNAUTHORIZED", "Missing or malformed Authorization header")


def test_unknown_token_is_401(
    session: requests.Session, emulator: MoveworksEmulator, conversation: dict[str, Any]
) -> None:
    headers = {"Authorization": "Bearer nope", "Assistant-Name": ASSISTANT}
    response = _patch(session, emulator, conversation["conversation_id"], headers, json={"title": "x"})
    assert response.status_code == 401
    assert response.json() == _error("UNAUTHORIZED", "Invalid access token")
    assert emulator.get(conversation["conversation_id"]) == conversation


def test_bearer_scheme_is_case_insensitive(
    session: requests.Session, emulator: MoveworksEmulator, conversation: dict[str, Any]
) -> None:
    headers = {"Authorization": "bearer test-api-key", "Assistant-Name": ASSISTANT}
    assert (
        _patch(session, emulator, conversation["conversation_id"], headers, json={"title": "x"}).status_code
        == 200
    )


def test_missing_assistant_name_is_403(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    headers = {"Authorization": headers["Authorization"]}
    response = _patch(session, emulator, conversation["conversation_id"], headers, json={"title": "x"})
    assert response.status_code == 403
    assert response.json() == _error("FORBIDDEN", "Invalid assistant")


@pytest.mark.parametrize("name", ["other-assistant", "TEST-ASSISTANT", "test-assistant-2"])
def test_wrong_assistant_name_is_403(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
    name: str,
) -> None:
    response = _patch(
        session,
        emulator,
        conversation["conversation_id"],
        {**headers, "Assistant-Name": name},
        json={"title": "x"},
    )
    assert response.status_code == 403
    assert response.json() == _error("FORBIDDEN", "Invalid assistant")


def test_unknown_id_is_404(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = _patch(session, emulator, "conv_32bt7BMLhLyVzTUjfi35N", headers, json={"title": "x"})
    assert response.status_code == 404
    assert response.json() == _error("NOT_FOUND", "Conversation 'conv_32bt7BMLhLyVzTUjfi35N' not found")


def test_auth_is_checked_before_assistant(
    session: requests.Session, emulator: MoveworksEmulator, conversation: dict[str, Any]
) -> None:
    headers = {"Authorization": "Bearer nope", "Assistant-Name": "wrong"}
    assert _patch(session, emulator, conversation["conversation_id"], headers, json=[]).status_code == 401


def test_assistant_is_checked_before_validation(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    headers = {**headers, "Assistant-Name": "wrong"}
    assert _patch(session, emulator, "conv_unknown", headers, json={"title": 5}).status_code == 403


def test_validation_is_checked_before_existence(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = _patch(session, emulator, "conv_unknown", headers, json={"title": 5})
    assert response.status_code == 400
    assert response.json() == _error("INVALID_INPUT", "title must be a string")


def test_query_parameters_on_patch_are_400(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    response = _patch(
        session,
        emulator,
        conversation["conversation_id"],
        headers,
        json={"title": "x"},
        params={"force": "1"},
    )
    assert response.status_code == 400
    assert response.json() == _error("INVALID_INPUT", "Unknown query parameter 'force'")
