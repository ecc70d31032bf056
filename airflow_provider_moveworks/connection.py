"""Reading a ``moveworks`` Airflow connection into checked, typed settings.

A connection can come from the UI, a JSON ``AIRFLOW_CONN_*`` variable or a URI. A URI splits the
base URL into host, port and path (``schema``) and turns every extra into a string, so the
base URL is put back together here and extras are coerced, each failure naming its field.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any, Protocol

from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.connection_form import CONN_FIELDS, field_name
from airflow_provider_moveworks.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_URL,
    MAX_RETRIES_LIMIT,
    MAX_TIMEOUT,
)
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.validation import (
    FALSE_WORDS,
    TRUE_WORDS,
    check_header_value,
    check_proxy_url,
    describe,
    validate_assistant_name,
    validate_service_url,
)

_log = logging.getLogger(__name__)


class ConnectionLike(Protocol):
    host: str | None
    login: str | None
    password: str | None
    schema: str | None
    port: int | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def read_settings(
    conn: ConnectionLike,
    *,
    assistant_name: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    warn: Callable[..., None] | None = None,
) -> ClientConfig:
    """Check a connection; keyword arguments given here win over the connection's extras.
    ``warn`` logs what was fixed up (whitespace around a pasted secret)."""
    warn = warn or _log.warning
    extras = _Extras(conn.extra_dejson)
    extras.warn_unknown(warn)
    secret, client_id = read_credentials(conn, warn)
    return ClientConfig(
        base_url=validate_service_url(_base_url(conn), "connection host (base URL)"),
        api_key=None if client_id else secret,
        client_id=client_id,
        client_secret=secret if client_id else None,
        assistant_name=_assistant_name(
            assistant_name if assistant_name is not None else extras.get("assistant_name"), warn
        ),
        token_url=_token_url(extras),
        timeout=(
            coerce_timeout(extras.get("timeout"))
            if timeout is None
            else coerce_timeout(timeout, "timeout (the hook's argument)")
        ),
        verify=coerce_verify(extras.get("verify"), extras.get("ca_bundle_path")),
        max_retries=(
            coerce_max_retries(extras.get("max_retries"))
            if max_retries is None
            else coerce_max_retries(max_retries, "max_retries (the hook's argument)")
        ),
        proxies=coerce_proxies(extras.get("proxies")),
    )


def read_credentials(conn: ConnectionLike, warn: Callable[..., None]) -> tuple[str, str | None]:
    """The secret (API key or client secret) and the OAuth client id, ready for a header or form.

    Whitespace around them (a pasted key's trailing newline, most often) is removed with a
    warning naming the field. Anything else a header cannot carry is refused, naming the field
    and never the value.
    """
    client_id = _stripped(conn.login, "connection login (OAuth client id)", warn) or None
    secret_field = (
        "connection password (OAuth client secret)" if client_id else "connection password (API key)"
    )
    secret = _stripped(conn.password, secret_field, warn)
    if not secret:
        raise MoveworksValidationError(
            "connection password", "is empty: set the API key (or the OAuth client secret) as the password"
        )
    check_header_value(secret_field, secret)
    if client_id:
        check_header_value("connection login (OAuth client id)", client_id)
    return secret, client_id


def _stripped(value: str | None, field_name: str, warn: Callable[..., None]) -> str:
    if not value:
        return ""
    stripped = value.strip(" \t\r\n\f\v")
    if stripped != value:
        warn(
            "The Moveworks %s had whitespace (spaces, tabs or line breaks) around it; it was removed",
            field_name,
        )
    return stripped


class _Extras:
    """Extras by bare name, falling back to the ``extra__moveworks__<name>`` keys of older forms.
    Empty strings (what an untouched form field stores) count as absent."""

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, dict):  # extra holding a JSON list, string or number
            raise MoveworksValidationError(
                "connection extra", f"is a JSON {type(raw).__name__}, not an object of named fields"
            )
        self._raw = raw

    def warn_unknown(self, warn: Callable[..., None]) -> None:
        """One warning naming every key this provider does not read, with the likeliest meant
        one; not an error, so that a connection shared with other tools keeps working."""
        unknown = [key for key in self._raw if _bare(str(key)) not in KNOWN_EXTRAS]
        if unknown:
            warn(
                "The Moveworks connection's extra has keys this provider does not read, so they are "
                "ignored: %s",
                "; ".join(_with_suggestion(str(key)) for key in unknown),
            )

    def get(self, name: str) -> Any:
        for key in (name, f"extra__moveworks__{name}"):
            value = self._raw.get(key)
            if value is not None and value != "":
                return value
        return None


# Every extra this provider reads (``token_url``: the OAuth URL as earlier forms stored it).
KNOWN_EXTRAS = frozenset({*CONN_FIELDS, "token_url", "proxies"})
_LEGACY_PREFIX = "extra__moveworks__"


def _bare(key: str) -> str:
    return key[len(_LEGACY_PREFIX) :] if key.startswith(_LEGACY_PREFIX) else key


def _with_suggestion(key: str) -> str:
    """``'key'``, and the known extra it most likely means (``assistant-name``, ``assistantName``
    -> ``assistant_name``; ``max_retry`` -> ``max_retries``)."""
    import difflib
    import re

    spelled = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", _bare(key)).replace("-", "_").replace(" ", "_").lower()
    match = difflib.get_close_matches(spelled, sorted(KNOWN_EXTRAS), n=1, cutoff=0.6)
    return f"{key!r} (did you mean {match[0]!r}?)" if match else repr(key)


def _assistant_name(value: Any, warn: Callable[..., None]) -> str:
    if isinstance(value, str):
        value = _stripped(value, "assistant name", warn)
    try:
        return validate_assistant_name(value)
    except MoveworksValidationError as error:
        # Name it as the connection form labels it, whichever of form or operator should set it.
        raise MoveworksValidationError(CONN_FIELDS["assistant_name"]["label"], error.reason) from None


def _token_url(extras: _Extras) -> str:
    """``oauth_url``; ``token_url`` is what connections saved by earlier versions hold."""
    if extras.get("oauth_url") is not None:
        return validate_service_url(extras.get("oauth_url"), field_name("oauth_url"))
    if extras.get("token_url") is not None:
        return validate_service_url(extras.get("token_url"), "connection extra 'token_url'")
    return DEFAULT_TOKEN_URL


def _base_url(conn: ConnectionLike) -> str:
    host = (conn.host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" in host:
        return host
    # A URI connection (moveworks://:key@api.moveworks.ai/rest/v1beta1) arrives split up.
    netloc = f"{host}:{conn.port}" if conn.port else host
    path = (conn.schema or "").strip("/")
    return f"https://{netloc}/{path}" if path else f"https://{netloc}"


def coerce_timeout(value: Any, field: str | None = None) -> float:
    """Seconds per request: a positive number, also as a string such as ``"30"``."""
    if value is None:
        return DEFAULT_TIMEOUT
    field = field or field_name("timeout")
    number = _number(value, field)
    if not 0 < number <= MAX_TIMEOUT:
        raise MoveworksValidationError(
            field,
            f"{describe(value)} is not a number of seconds in (0, {MAX_TIMEOUT:g}]",
        )
    return number


def coerce_max_retries(value: Any, field: str | None = None) -> int:
    """Retries of one request: a whole number from 0 to 20, also as a string."""
    if value is None:
        return DEFAULT_MAX_RETRIES
    field = field or field_name("max_retries")
    number = _number(value, field)
    if number != int(number) or not 0 <= number <= MAX_RETRIES_LIMIT:
        raise MoveworksValidationError(
            field,
            f"{describe(value)} is not a whole number from 0 to {MAX_RETRIES_LIMIT}",
        )
    return int(number)


def coerce_verify(value: Any, ca_bundle_path: Any = None) -> bool | str:
    """TLS verification: the form's switch (a boolean) and CA-bundle path, or the string that
    earlier versions stored in ``verify``: true, false, or a CA bundle path."""
    if isinstance(value, str):
        value = _verify_from_text(value)
    if value is None:
        value = True
    if not isinstance(value, (bool, str)):
        raise MoveworksValidationError(
            field_name("verify"), f"{describe(value)} is not true, false or a CA bundle path"
        )
    if value is False or ca_bundle_path is None:
        return value
    if not isinstance(ca_bundle_path, str) or not ca_bundle_path.strip():
        raise MoveworksValidationError(
            field_name("ca_bundle_path"), f"{describe(ca_bundle_path)} is not a path"
        )
    path = os.path.expanduser(ca_bundle_path.strip())
    # A folder of hashed certificates (``openssl rehash``, e.g. /etc/ssl/certs) is what requests
    # takes as well, and what the older ``verify`` path accepted: refuse only what is not there.
    if not os.path.exists(path):
        raise MoveworksValidationError(
            field_name("ca_bundle_path"), f"{describe(ca_bundle_path)} does not exist on this worker"
        )
    return path


def _verify_from_text(value: str) -> bool | str:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    path = os.path.expanduser(value.strip())
    if not os.path.exists(path):
        raise MoveworksValidationError(
            field_name("verify"),
            f"{describe(value)} is neither true/false nor an existing CA bundle path",
        )
    return path


def coerce_proxies(value: Any) -> dict[str, str] | None:
    """A requests proxies mapping (``{"https": "http://proxy:3128"}``), or its JSON text. A proxy
    URL may carry ``user:password@``; no message quotes a proxy URL."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _json_or_none(value)
        if value is None:  # raised here, not in the handler: the JSON error's .doc holds the text
            raise MoveworksValidationError(
                "connection extra 'proxies'", 'is not JSON like {"https": "http://proxy:3128"}'
            )
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MoveworksValidationError(
            "connection extra 'proxies'", "must map URL schemes to proxy URLs, all strings"
        )
    for scheme, url in value.items():
        check_proxy_url(f"connection extra 'proxies' (the {scheme!r} proxy)", url)
    return dict(value)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _number(value: Any, field_name: str) -> float:
    if isinstance(value, bool):
        raise MoveworksValidationError(field_name, f"{describe(value)} is not a number")
    if not isinstance(value, (int, float, str)):
        raise MoveworksValidationError(field_name, f"{describe(value)} is not a number")
    number: float | None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise MoveworksValidationError(field_name, f"{describe(value)} is not a number") from None
    except OverflowError:  # an int too large for a float (a JSON number of 400 digits)
        number = None
    if number is None or number != number or number in (float("inf"), float("-inf")):
        raise MoveworksValidationError(field_name, f"{describe(value)} is not a finite number")
    return number
