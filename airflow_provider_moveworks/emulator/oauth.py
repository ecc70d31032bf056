"""The client-credentials token endpoint (errors here are flat ``{"code", "message"}``)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from .errors import ApiError
from .messages import Reply, Request

if TYPE_CHECKING:
    from .backend import Backend


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", message)


def _body_params(request: Request) -> dict[str, str]:
    ctype = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            value: Any = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _invalid("The request body must be a JSON object") from exc
        if not isinstance(value, dict):
            raise _invalid("The request body must be a JSON object")
        known = {k: v for k, v in value.items() if k in ("grant_type", "client_id", "client_secret")}
        if any(not isinstance(v, str) for v in known.values()):
            raise _invalid("grant_type, client_id and client_secret must be strings")
        return known
    # Anything that is not JSON is read as a form, the OAuth 2.0 default encoding.
    try:
        pairs = parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _invalid("The request body must be form-encoded or JSON") from exc
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _invalid(f"Parameter {name[:64]!r} given more than once")
        params[name] = value
    return params


def _basic_auth(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization") or ""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid("Malformed Basic authorization header") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise _invalid("Malformed Basic authorization header")
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before being joined.
    return unquote_plus(client_id), unquote_plus(secret)


def client_of(request: Request) -> tuple[str | None, str | None, str | None]:
    """Return (grant_type, client_id, client_secret) from the body and/or Basic auth."""
    params = _body_params(request)
    basic = _basic_auth(request)
    client_id, secret = params.get("client_id"), params.get("client_secret")
    if basic is not None:
        if secret is not None or (client_id is not None and client_id != basic[0]):
            raise _invalid("Use one client authentication method: Basic or body parameters")
        client_id, secret = basic
    return params.get("grant_type"), client_id, secret


def issue_token(emu: Backend, grant_type: str | None, client_id: str | None, secret: str | None) -> Reply:
    """Check the grant and the client, then answer a fresh access token."""
    if not grant_type:
        raise _invalid("grant_type is required")
    if grant_type != "client_credentials":
        raise _invalid("Unsupported grant_type; only client_credentials is supported")
    if not client_id or not secret:
        raise _invalid("client_id and client_secret are required")
    if not emu.auth.check_client(client_id, secret):
        raise ApiError(401, "UNAUTHORIZED", "Invalid client credentials")
    ttl = emu.auth.token_ttl
    token: dict[str, Any] = {
        "access_token": emu.auth.issue(client_id),
        "expires_in": int(ttl) if ttl.is_integer() else ttl,
        "token_type": "Bearer",
    }
    payload = {"data": token} if emu.token_response_shape == "wrapped" else token  # noqa: S105
    return Reply(200, payload, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])
