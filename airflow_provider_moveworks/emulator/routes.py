"""The conversation operations under the API prefix, after auth and fault injection passed."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from .errors import ApiError
from .messages import Reply, Request
from .validation import parse_create, parse_list_query, parse_update, reject_query

if TYPE_CHECKING:
    from .backend import Backend

COLLECTION = "/conversations"
ITEM = "/conversations/{id}"
ALLOWED = {COLLECTION: ("GET", "POST"), ITEM: ("GET", "PATCH")}


def match(subpath: str) -> tuple[str, str] | None:
    """Map a path below the API prefix to (route template, conversation id) or None."""
    if subpath == COLLECTION:
        return COLLECTION, ""
    head, sep, cid = subpath.rpartition("/")
    if head == COLLECTION and sep and cid:
        return ITEM, unquote(cid)
    return None


def _not_found(cid: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"Conversation {cid[:80]!r} not found")


def operate(emu: Backend, request: Request, route: str, cid: str) -> Reply:
    """Run one authenticated API operation: assistant (403), validation (400), existence (404)."""
    if request.headers.get("assistant-name") != emu.assistant_name:
        raise ApiError(403, "FORBIDDEN", "Invalid assistant")
    store = emu.store
    if route == COLLECTION and request.method == "GET":
        query = parse_list_query(request.query)
        after = emu.cursors.decode(query.cursor, query.archived) if query.cursor is not None else None
        items, position = store.page(query.archived, query.limit, after)
        next_cursor = emu.cursors.encode(query.archived, position) if position else None
        return Reply(200, {"conversations": items, "metadata": {"next_cursor": next_cursor}})
    if route == COLLECTION:
        reject_query(request.query)
        created = store.create(title=parse_create(request.body))
        location = f"{emu.base_path}{COLLECTION}/{created['conversation_id']}"
        return Reply(201, created, [("Location", location)])
    reject_query(request.query)
    if request.method == "GET":
        found = store.get(cid)
        if found is None:
            raise _not_found(cid)
        return Reply(200, found)
    update = parse_update(request.body)
    updated = store.update(cid, title=update.title, archived=update.archived)
    if updated is None:
        raise _not_found(cid)
    return Reply(200, updated)
