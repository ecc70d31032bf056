"""One API call as the client's sending steps see it, and what a call that got no (complete)
answer becomes: a typed error that says whether the request was sent and, for the wrong scheme,
which one to use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from airflow_provider_moveworks.client.deadline import AttemptDeadline
from airflow_provider_moveworks.exceptions import (
    MoveworksAPIError,
    MoveworksCancelledError,
    MoveworksConnectionError,
    MoveworksError,
    MoveworksTimeoutError,
    MoveworksTLSError,
)

# What a request that may have reached Moveworks means, and why it can be sent again.
_AFTER_SENDING = {
    "PATCH": "; Moveworks may have applied it; it is retried because the PATCH is idempotent "
    "(it sets absolute values)",
    "GET": "; it is retried because reading changes nothing",
}


@dataclass(frozen=True)
class ApiCall:
    """One API call.

    :param purpose: opens every message about the call ("Updating conversation conv_...").
    :param authorized: send the connection's credentials (not to the token endpoint itself).
    :param client_error_class: the error class of a 4xx other than 429, instead of the one
        that the status alone gives (the token endpoint's refusals are authentication errors).
    """

    method: str
    url: str
    purpose: str
    conversation_id: str | None = None
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    authorized: bool = True
    client_error_class: type[MoveworksAPIError] | None = None

    @property
    def url_field(self) -> str:
        """The connection field that holds this call's URL."""
        return "Base URL" if self.authorized else "OAuth token URL"


def transport_error(
    call: ApiCall,
    error: requests.RequestException,
    deadline: AttemptDeadline,
    timeout: float,
    redact: Callable[[str], str],
) -> MoveworksError:
    """The typed error for a call that got no (complete) answer."""
    # A read timeout in a TLS handshake or a proxy's CONNECT comes before anything was sent.
    sent = deadline.sent or (isinstance(error, requests.ReadTimeout) and not deadline.connect_failed)
    after_sending = _AFTER_SENDING.get(call.method, "")
    if deadline.aborted:
        if not sent:
            return MoveworksCancelledError(f"{call.purpose}: cut short, the run was stopped (not sent)")
        return MoveworksCancelledError(
            f"{call.purpose}: cut short after the request was sent, the run was stopped; Moveworks "
            "may have applied it"
        )
    if deadline.expired or isinstance(error, requests.Timeout):
        if not sent:
            return MoveworksTimeoutError(f"{call.purpose}: no answer within {timeout:g} s (not sent)")
        return MoveworksTimeoutError(
            f"{call.purpose}: no answer within {timeout:g} s after the request was sent{after_sending}"
        )
    detail = f"{type(error).__name__}: {redact(str(error))}"
    if isinstance(error, requests.exceptions.SSLError):
        if _is_plain_http_answer(str(error)):
            return MoveworksTLSError(
                f"{call.purpose}: the server at {_origin(call.url)} speaks plain http, not https; use "
                f"an http:// URL in the connection's {call.url_field} field (http is allowed to "
                "loopback hosts only)"
            )
        return MoveworksTLSError(
            f"{call.purpose}: TLS failed ({detail}); check the connection's 'verify' extra"
        )
    if sent:
        message = f"{call.purpose}: the connection broke after the request was sent ({detail}){after_sending}"
    else:
        message = f"{call.purpose}: could not reach Moveworks ({detail})"
    if call.url.startswith("http://") and _is_hang_up(str(error)):
        # A TLS server hangs up on plain http; so does a crashing one, hence "if".
        message += (
            f"; if the server at {_origin(call.url)} speaks https, use an https:// URL in the "
            f"connection's {call.url_field} field"
        )
    return MoveworksConnectionError(message)


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _is_plain_http_answer(tls_error: str) -> bool:
    """An https request answered in clear text (OpenSSL's words for it)."""
    text = tls_error.lower()
    return "wrong version number" in text or "record layer failure" in text or "http request" in text


def _is_hang_up(error: str) -> bool:
    """The server closed the connection, or answered with bytes that are no HTTP status line
    (a TLS alert starts with 0x15 0x03)."""
    text = error.lower()
    return any(
        sign in text for sign in ("remotedisconnected", "badstatusline", "\\x15\\x03", "connection aborted")
    )
