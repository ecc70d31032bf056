"""Request validation for the conversation routes; every failure is a 400 ``ApiError``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .errors import ApiError

MAX_TITLE_LENGTH = 256
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", message)


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's decoder would accept them silently.
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads with any keyword argument builds a new decoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _json_object(raw: bytes, *, allow_empty: bool) -> dict[str, Any]:
    if not raw.strip() and allow_empty:
        return {}
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _invalid("The request body must be a JSON object") from exc
    if not isinstance(value, dict):
        raise _invalid("The request body must be a JSON object")
    return value


def _reject_unknown(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(k for k in body if k not in allowed)
    if unknown:
        names = ", ".join(repr(k[:64]) for k in unknown[:5])
        raise _invalid(f"Unknown field(s): {names}; allowed: {', '.join(allowed)}")


def _title(value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid("title must be a string")
    if len(value) > MAX_TITLE_LENGTH:
        raise _invalid(f"title must be at most {MAX_TITLE_LENGTH} characters")
    if not value.strip():
        raise _invalid("title must not be empty or only whitespace")
    return value


@dataclass(frozen=True)
class Update:
    """The validated fields of a PATCH; None means "leave unchanged"."""

    title: str | None = None
    archived: bool | None = None


def parse_update(raw: bytes) -> Update:
    """Validate a PATCH body: a JSON object with ``title`` and/or ``archived`` and nothing else."""
    body = _json_object(raw, allow_empty=False)
    _reject_unknown(body, ("title", "archived"))
    if not body:
        raise _invalid("Provide at least one of: title, archived")
    archived = body.get("archived")
    if "archived" in body and not isinstance(archived, bool):
        raise _invalid("archived must be a boolean")
    return Update(title=_title(body["title"]) if "title" in body else None, archived=archived)


def parse_create(raw: bytes) -> str | None:
    """Validate a POST body (optional; only ``title`` allowed) and return the title or None."""
    body = _json_object(raw, allow_empty=True)
    _reject_unknown(body, ("title",))
    return _title(body["title"]) if "title" in body else None


def _single_params(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise _invalid("The query string is malformed") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise _invalid(f"Unknown query parameter {name[:64]!r}")
        if name in params:
            raise _invalid(f"Query parameter {name!r} given more than once")
        params[name] = value
    return params


def reject_query(query: str) -> None:
    """Routes without query parameters refuse any, so a typo never passes silently."""
    _single_params(query, ())


@dataclass(frozen=True)
class ListQuery:
    """The validated query of GET /conversations; ``cursor`` is still opaque here."""

    limit: int = DEFAULT_LIMIT
    archived: bool = False
    cursor: str | None = None


def parse_list_query(query: str) -> ListQuery:
    """Validate ``limit`` (1-100, digits only), ``archived`` (true/false) and ``cursor``."""
    params = _single_params(query, ("limit", "archived", "cursor"))
    limit = DEFAULT_LIMIT
    if "limit" in params:
        text = params["limit"]
        if not (text.isascii() and text.isdigit() and len(text) <= 3) or not 1 <= int(text) <= MAX_LIMIT:
            raise _invalid(f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(text)
    archived = False
    if "archived" in params:
        text = params["archived"].lower()
        if text not in ("true", "false"):
            raise _invalid("archived must be true or false")
        archived = text == "true"
    cursor = params.get("cursor")
    if cursor is not None and not cursor:
        raise ApiError(400, "INVALID_CURSOR", "The cursor is not valid")
    return ListQuery(limit=limit, archived=archived, cursor=cursor)
