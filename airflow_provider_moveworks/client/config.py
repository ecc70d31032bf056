"""What a :class:`~airflow_provider_moveworks.client.MoveworksClient` is built from: plain values,
checked when the config is made, so that a client never sends what the API would refuse."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
    check_header_value,
    check_proxy_url,
    describe,
    validate_assistant_name,
    validate_service_url,
)

_log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ClientConfig:
    """The API's address, the credentials and how to reach it. Secrets stay out of the repr.

    Give ``api_key``, or ``client_id`` and ``client_secret`` for OAuth client credentials.

    :param base_url: the API base URL, whole; plain ``http`` only to a loopback host.
    :param assistant_name: the ``Assistant-Name`` header.
    :param token_url: the OAuth token endpoint.
    :param timeout: seconds per attempt as a whole: connect, send, headers and body.
    :param verify: TLS verification: ``True``, ``False``, or a CA bundle path.
    :param proxies: a requests proxies mapping, e.g. ``{"https": "http://proxy:3128"}``.
    :param max_retries: retries of one request on 429, 5xx and network errors.
    """

    base_url: str = DEFAULT_BASE_URL
    assistant_name: str
    api_key: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    token_url: str = DEFAULT_TOKEN_URL
    timeout: float = DEFAULT_TIMEOUT
    verify: bool | str = True
    proxies: Mapping[str, str] | None = field(default=None, repr=False)
    max_retries: int = DEFAULT_MAX_RETRIES

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "base_url", validate_service_url(self.base_url, "base_url"))
        set_(self, "token_url", validate_service_url(self.token_url, "token_url"))
        validate_assistant_name(self.assistant_name)
        for name in ("api_key", "client_id", "client_secret"):
            set_(self, name, _credential(name, getattr(self, name)))
        if self.client_id:
            if not self.client_secret or self.api_key:
                raise MoveworksValidationError(
                    "client_secret", "is required with client_id (and api_key is then not used)"
                )
        elif not self.api_key or self.client_secret:
            raise MoveworksValidationError(
                "api_key", "is required (or client_id and client_secret for OAuth client credentials)"
            )
        _check_timeout(self.timeout)
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or not 0 <= self.max_retries <= MAX_RETRIES_LIMIT
        ):
            raise MoveworksValidationError(
                "max_retries",
                f"{describe(self.max_retries)} is not a whole number from 0 to {MAX_RETRIES_LIMIT}",
            )
        set_(self, "verify", _checked_verify(self.verify))
        if self.proxies is not None:
            if not isinstance(self.proxies, Mapping):
                raise MoveworksValidationError(
                    "proxies", 'must map URL schemes to proxy URLs: {"https": "http://proxy:3128"}'
                )
            for scheme, url in self.proxies.items():
                if scheme != "no_proxy":
                    check_proxy_url(f"proxies (the {scheme!r} proxy)", url)
            set_(self, "proxies", dict(self.proxies))

    @property
    def uses_oauth(self) -> bool:
        return bool(self.client_id)

    @property
    def secret(self) -> str:
        """The API key, or the OAuth client secret."""
        return (self.client_secret if self.uses_oauth else self.api_key) or ""


def _credential(name: str, value: Any) -> str | None:
    """A credential ready for a header or a form: whitespace around it (a pasted key's line
    break) removed with a warning; anything a header cannot carry refused, never quoted."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MoveworksValidationError(name, f"must be a string, got {type(value).__name__}")
    stripped = value.strip(" \t\r\n\f\v")
    if stripped != value:
        _log.warning(
            "The Moveworks %s had whitespace (spaces, tabs or line breaks) around it; it was removed", name
        )
    return check_header_value(name, stripped) or None


def _check_timeout(value: Any) -> None:
    problem = f"{describe(value)} is not a number of seconds in (0, {MAX_TIMEOUT:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MoveworksValidationError("timeout", problem)
    try:
        usable = math.isfinite(value) and 0 < value <= MAX_TIMEOUT
    except OverflowError:  # an int too large for a float
        usable = False
    if not usable:
        raise MoveworksValidationError("timeout", problem)


def _checked_verify(value: Any) -> bool | str:
    """``True``, ``False``, or a CA bundle file or folder of hashed certificates that exists."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value.strip():
        raise MoveworksValidationError("verify", f"{describe(value)} is not True, False or a CA bundle path")
    path = os.path.expanduser(value.strip())
    if not os.path.exists(path):
        raise MoveworksValidationError("verify", f"{describe(value)} is not an existing CA bundle path")
    return path
