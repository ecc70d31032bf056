"""Reading the API's answers: a documented JSON body becomes a dict, anything else a typed error
whose message names the status. A proxy's HTML page or an empty body never reaches a parser
traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from airflow_provider_moveworks.client.retry import MAX_RETRY_AFTER, parse_retry_after
from airflow_provider_moveworks.exceptions import (
    MoveworksAPIError,
    MoveworksAuthenticationError,
    MoveworksBadRequestError,
    MoveworksClientError,
    MoveworksNotFoundError,
    MoveworksPermissionError,
    MoveworksRateLimitError,
    MoveworksServerError,
)

REQUEST_ID_HEADER = "x-moveworks-root-uuid"
BODY_SNIPPET_LENGTH = 80
REDACT_WINDOW = 65536
# Characters dropped from the end of a cut window: longer than any form of any secret.
REDACT_TAIL = 4096

_ERRORS_BY_STATUS: dict[int, type[MoveworksAPIError]] = {
    400: MoveworksBadRequestError,
    401: MoveworksAuthenticationError,
    403: MoveworksPermissionError,
    404: MoveworksNotFoundError,
    429: MoveworksRateLimitError,
}

# (field, accepted types) of a Conversation, as the spec requires them.
_CONVERSATION_FIELDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("conversation_id", (str,)),
    ("archived", (bool,)),
    ("created_at", (str,)),
    ("updated_at", (str,)),
)

Redact = Callable[[str], str]


def json_object(
    response: requests.Response,
    what: str,
    redact: Redact,
    *,
    url_field: str = "base URL",
    quote_body: bool = True,
) -> dict[str, Any]:
    """The body of a successful answer, which must be a JSON object. ``url_field`` names the
    connection field that holds the URL asked; ``quote_body=False`` describes a body that is not
    one without quoting it (a token answer holds a token in whatever shape it came)."""
    body = _json_or_none(response)
    if not isinstance(body, dict):
        described = _describe_body(response, redact, quote=quote_body)
        raise MoveworksClientError(
            f"{what}: Moveworks answered {response.status_code} with {described} "
            f"instead of a JSON object; check that the {url_field} points at the Moveworks API",
            status=response.status_code,
            request_id=request_id(response, redact),
        )
    return body


def conversation(body: Any, response: requests.Response, what: str, redact: Redact) -> dict[str, Any]:
    """A Conversation with every required field of the right type, as answered: pass it through
    :func:`redacted` before it leaves the client (it becomes a task's XCom, and a server echoing
    the request would put a secret there)."""
    problem = _conversation_problem(body)
    if problem:
        raise MoveworksClientError(
            f"{what}: Moveworks answered {response.status_code} with a conversation {problem}",
            status=response.status_code,
            request_id=request_id(response, redact),
        )
    checked: dict[str, Any] = body
    return checked


def redacted(value: Any, redact: Redact) -> Any:
    """``value`` with ``redact`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redacted(key, redact): redacted(item, redact) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item, redact) for item in value]
    return value


def _conversation_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return f"that is a {type(body).__name__}, not an object"
    for name, types in _CONVERSATION_FIELDS:
        if name not in body:
            return f"without the required field '{name}'"
        if not isinstance(body[name], types):
            return f"whose '{name}' is a {type(body[name]).__name__}"
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        return f"whose 'title' is a {type(title).__name__}"
    return None


def positive_seconds(value: Any) -> float | None:
    """A positive, finite number of seconds (``expires_in``), also given as a numeric string."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, (str, int, float)):
        return None
    try:
        # An int too large for a float (a JSON number of 400 digits) is as unusable as infinity.
        seconds = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return seconds if 0 < seconds < float("inf") else None  # also NaN


def list_page(
    body: dict[str, Any], response: requests.Response, what: str, redact: Redact
) -> tuple[list[Any], str | None]:
    """A page of the list operation: its conversations and the cursor of the next page, if any."""
    items = body.get("conversations")
    metadata = body.get("metadata")
    cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
    problem = None
    if not isinstance(items, list):
        problem = "no 'conversations' list"
    elif metadata is not None and not isinstance(metadata, dict):
        problem = f"a 'metadata' that is a {type(metadata).__name__}, not an object"
    elif cursor is not None and not isinstance(cursor, str):
        problem = f"a 'next_cursor' that is a {type(cursor).__name__}, not a string"
    if problem or not isinstance(items, list) or not isinstance(cursor, (str, type(None))):
        raise MoveworksClientError(
            f"{what}: Moveworks answered {response.status_code} with a page that has {problem}",
            status=response.status_code,
            request_id=request_id(response, redact),
        )
    return items, cursor or None


def api_error(
    response: requests.Response,
    what: str,
    redact: Redact,
    *,
    conversation_id: str | None = None,
    error_class: type[MoveworksAPIError] | None = None,
) -> MoveworksAPIError:
    """The typed error for an answer that is not a success."""
    status = response.status_code
    code, message = _error_fields(_json_or_none(response))
    cls = error_class or _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = MoveworksServerError if status >= 500 else MoveworksClientError
    summary = f"{what}: Moveworks answered {status}" + (f" {redact(code)}" if code else "")
    if code is None:
        message = f"the body was {_describe_body(response, redact)}, not the documented error JSON"
        if 300 <= status < 400:
            message += f"; a redirect to {redact(response.headers.get('Location', '?'))} is not followed"
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is not None and retry_after > MAX_RETRY_AFTER:
            summary += (
                f" asking to wait {retry_after:g} s, longer than the {MAX_RETRY_AFTER:g} s the hook "
                "waits, so it is not retried now"
            )
    return cls(
        summary,
        status=status,
        code=redact(code) if code else None,
        api_message=redact(message) if message else None,
        request_id=request_id(response, redact),
        conversation_id=conversation_id,
        retry_after=retry_after,
    )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    """``{"error": {"code", "message"}}`` from the API, or the token endpoint's flat shape."""
    if isinstance(body, dict):
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        code, message = inner.get("code"), inner.get("message")
        if isinstance(code, str) and code:
            return code, message if isinstance(message, str) else None
    return None, None


def request_id(response: requests.Response, redact: Redact) -> str | None:
    """The ``x-moveworks-root-uuid`` header, redacted: a server may echo anything in it."""
    value = response.headers.get(REQUEST_ID_HEADER)
    return redact(value) if value else None


def _describe_body(response: requests.Response, redact: Redact, *, quote: bool = True) -> str:
    content = response.content
    if not content:
        return "an empty body"
    kind = redact(response.headers.get("Content-Type", "no content type").split(";")[0].strip())
    if not quote:
        return f"a {kind} body of {len(content)} bytes (not quoted: it may hold a token)"
    # Redacted before it is cut: a cut could leave the start of a secret that no longer matches.
    text = redact(content[:REDACT_WINDOW].decode("utf-8", "replace"))
    if len(content) > REDACT_WINDOW:
        # The window's own cut may have left the start of a secret at its end, which the
        # whitespace collapse below could bring into the snippet (a body padded with spaces).
        text = text[:-REDACT_TAIL]
    snippet = " ".join(text.split())[:BODY_SNIPPET_LENGTH]
    more = "..." if len(content) > BODY_SNIPPET_LENGTH else ""
    return f"a {kind} body of {len(content)} bytes starting {snippet!r}{more}"
