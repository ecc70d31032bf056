"""GET/POST /conversations and GET /conversations/{id}: pagination, filters, create, get."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_provider_moveworks.emulator import MoveworksEmulator

from .conftest import EmulatorFactory


def _list(
    session: requests.Session, emu: MoveworksEmulator, headers: dict[str, str], **params: Any
) -> requests.Response:
    return session.get(f"{emu.base_url}/conversations", headers=headers, params=params)


def _walk(
    session: requests.Session, emu: MoveworksEmulator, headers: dict[str, str], **params: Any
) -> list[Any]:
    seen: list[Any] = []
    cursor = None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = _list(session, emu, headers, **query)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"conversations", "metadata"}
        seen.extend(body["conversations"])
        cursor = body["metadata"]["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("archived", [False, True])
def test_pagination_walks_every_conversation_once_newest_first(
    session: requests.Session, make_emulator: EmulatorFactory, headers: dict[str, str], archived: bool
) -> None:
    emu = make_emulator(seed_conversations=57, archived_share=0.3)
    seen = _walk(session, emu, headers, limit=7, archived=str(archived).lower())
    expected = [c for c in emu.conversations().values() if c["archived"] is archived]
    assert seen == expected  # snapshot order is newest updated_at first
    assert len({c["conversation_id"] for c in seen}) == len(seen) > 0
    stamps = [c["updated_at"] for c in seen]
    assert stamps == sorted(stamps, reverse=True)


def test_default_page_is_20_unarchived(
    session: requests.Session, make_emulator: EmulatorFactory, headers: dict[str, str]
) -> None:
    emu = make_emulator(seed_conversations=40, archived_share=0.0)
    body = _list(session, emu, headers).json()
    assert len(body["conversations"]) == 20
    assert isinstance(body["metadata"]["next_cursor"], str)


def test_last_page_has_null_cursor(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    assert _list(session, emulator, headers).json() == {
        "conversations": [conversation],
        "metadata": {"next_cursor": None},
    }


def test_archived_true_filter_accepts_python_spelling(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    archived = emulator.add_conversation(title="old", archived=True)
    emulator.add_conversation(title="live")
    assert _list(session, emulator, headers, archived="True").json()["conversations"] == [archived]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", ""])
def test_bad_limit_is_400_invalid_input(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], limit: str
) -> None:
    response = _list(session, emulator, headers, limit=limit)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "INVALID_INPUT", "message": "limit must be an integer from 1 to 100"}
    }


def test_bad_archived_filter_is_400(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = _list(session, emulator, headers, archived="yes")
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "INVALID_INPUT", "message": "archived must be true or false"}
    }


@pytest.mark.parametrize("cursor", ["garbage", "", "eyJhIjoxfQ", "x" * 500])
def test_bad_cursor_is_400_invalid_cursor(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], cursor: str
) -> None:
    response = session.get(f"{emulator.base_url}/conversations?cursor={cursor}", headers=headers)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "INVALID_CURSOR", "message": "The cursor is not valid"}}


def test_cursor_from_another_filter_is_400_invalid_cursor(
    session: requests.Session, make_emulator: EmulatorFactory, headers: dict[str, str]
) -> None:
    emu = make_emulator(seed_conversations=10, archived_share=0.0)
    cursor = _list(session, emu, headers, limit=2).json()["metadata"]["next_cursor"]
    response = _list(session, emu, headers, limit=2, archived="true", cursor=cursor)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_CURSOR"


def test_cursor_from_another_emulator_is_rejected(
    session: requests.Session, make_emulator: EmulatorFactory, headers: dict[str, str]
) -> None:
    first, second = (
        make_emulator(seed_conversations=5, archived_share=0.0),
        make_emulator(seed_conversations=5),
    )
    cursor = _list(session, first, headers, limit=2).json()["metadata"]["next_cursor"]
    assert _list(session, second, headers, cursor=cursor).status_code == 400


def test_unknown_query_parameter_is_400(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = _list(session, emulator, headers, sort="asc")
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "INVALID_INPUT", "message": "Unknown query parameter 'sort'"}
    }


def test_create_with_title_returns_201(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = session.post(f"{emulator.base_url}/conversations", headers=headers, json={"title": "Hello"})
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "conversation_id": body["conversation_id"],
        "title": "Hello",
        "archived": False,
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
    }
    assert response.headers["Location"] == f"/rest/v1beta1/conversations/{body['conversation_id']}"
    assert emulator.get(body["conversation_id"]) == body


def test_create_without_body_has_null_title(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = session.post(f"{emulator.base_url}/conversations", headers=headers)
    assert response.status_code == 201
    assert response.json()["title"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "x" * 257}, "title must be at most 256 characters"),
        ({"archived": True}, "Unknown field(s): 'archived'; allowed: title"),
        ({"title": ""}, "title must not be empty or only whitespace"),
    ],
)
def test_create_validates_like_patch(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str], body: Any, message: str
) -> None:
    response = session.post(f"{emulator.base_url}/conversations", headers=headers, json=body)
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "INVALID_INPUT", "message": message}}
    assert emulator.conversations() == {}


def test_get_returns_the_conversation(
    session: requests.Session,
    emulator: MoveworksEmulator,
    headers: dict[str, str],
    conversation: dict[str, Any],
) -> None:
    response = session.get(
        f"{emulator.base_url}/conversations/{conversation['conversation_id']}", headers=headers
    )
    assert response.status_code == 200
    assert response.json() == conversation


def test_get_unknown_is_404(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = session.get(f"{emulator.base_url}/conversations/conv_missing", headers=headers)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "NOT_FOUND", "message": "Conversation 'conv_missing' not found"}
    }


def test_list_requires_assistant(
    session: requests.Session, emulator: MoveworksEmulator, headers: dict[str, str]
) -> None:
    response = _list(session, emulator, {"Authorization": headers["Authorization"]})
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "FORBIDDEN", "message": "Invalid assistant"}}


def test_seeded_conversations_look_real(make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(seed_conversations=200, archived_share=0.2, random_seed=3)
    conversations = list(emu.conversations().values())
    assert len(conversations) == 200
    for c in conversations:
        assert len(c["conversation_id"]) == 26
        assert c["conversation_id"].startswith("conv_")
        assert c["conversation_id"][5:].isalnum()
        assert c["conversation_id"][5:].isascii()
        assert c["updated_at"] >= c["created_at"]
        assert isinstance(c["title"], str)
        assert c["title"]
    assert 20 <= sum(c["archived"] for c in conversations) <= 60


def test_same_seed_gives_identical_state(make_emulator: EmulatorFactory) -> None:
    first = make_emulator(seed_conversations=30, random_seed=42, seed_epoch="2025-06-01T00:00:00Z")
    second = make_emulator(seed_conversations=30, random_seed=42, seed_epoch="2025-06-01T00:00:00Z")
    other = make_emulator(seed_conversations=30, random_seed=43, seed_epoch="2025-06-01T00:00:00Z")
    assert first.conversations() == second.conversations()
    assert first.conversations() != other.conversations()
    assert all(c["updated_at"] <= "2025-06-01T00:00:00" for c in first.conversations().values())
