"""Bearer authentication as ``requests`` auth objects: an API key, or an OAuth client-credentials
token that is fetched once, shared by every thread, and fetched again before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from requests.auth import AuthBase

# Refresh a token when less than min(60 s, half its lifetime) is left: published lifetimes are
# 60 s on one page and 3600 s on another.
REFRESH_MARGIN_MAX = 60.0


class NoAuth(AuthBase):
    """Sends nothing; keeps the session's auth off the token request itself."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


class ApiKeyAuth(AuthBase):
    """The API key sent as the bearer token. It cannot be refreshed."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Bearer {api_key}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "ApiKeyAuth(<hidden>)"


class ClientCredentialsAuth(AuthBase):
    """A cached OAuth access token.

    :param fetch: asks the token endpoint; returns ``(access_token, expires_in_seconds)``.
    :param clock: a monotonic clock (tests pass a fake one).
    """

    def __init__(
        self, fetch: Callable[[], tuple[str, float]], clock: Callable[[], float] | None = None
    ) -> None:
        self._fetch = fetch
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        """The current token, fetched first if there is none or it is about to expire. Other
        threads wait for one fetch instead of each asking the endpoint."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                asked_at = self._clock()
                token, expires_in = self._fetch()
                self._token = token
                self._refresh_at = asked_at + expires_in - min(REFRESH_MARGIN_MAX, expires_in / 2)
            return self._token

    def invalidate(self, authorization: str | None) -> None:
        """Forget the token that a request was refused with (401), unless another thread has
        already replaced it, so that a burst of 401s leads to one fetch."""
        with self._lock:
            if self._token is not None and authorization == f"Bearer {self._token}":
                self._token = None

    def __repr__(self) -> str:
        return "ClientCredentialsAuth(<hidden>)"
