"""Bearer authentication as ``requests`` auth objects: an API key, or an OAuth client-credentials
token that is fetched once, shared by every thread, and fetched again before it expires."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from requests.auth import AuthBase

from airflow_provider_moveworks.exceptions import MoveworksCancelledError, MoveworksError

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

    One thread fetches; the others wait for that fetch (without holding a lock the fetcher
    needs, and without starting fetches of their own) and get its token or its failure. A
    failed fetch is remembered for the life of this object (that is, of the hook): the fetch
    has its own retries, so asking again at once would only multiply requests to an endpoint
    that is down. The task's retries build a new hook and ask again.

    :param fetch: asks the token endpoint (with its retries); returns
        ``(access_token, expires_in_seconds)``.
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
        self._fetch_done: threading.Event | None = None
        self._failure: MoveworksError | None = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request

    def token(self) -> str:
        """The current token, fetched first if there is none or it is about to expire."""
        while True:
            with self._lock:
                if self._failure is not None:
                    raise self._failure
                if self._token is not None and self._clock() < self._refresh_at:
                    return self._token
                done = self._fetch_done
                if done is None:
                    done = self._fetch_done = threading.Event()
                    return self._fetch_as_the_one_fetcher(done)
            done.wait()

    def _fetch_as_the_one_fetcher(self, done: threading.Event) -> str:
        # Called with the lock held; releases it while the fetch (and its retry waits) runs.
        self._lock.release()
        try:
            asked_at = self._clock()
            outcome = self._fetch_or_error()
        finally:
            self._lock.acquire()
            self._fetch_done = None
            done.set()
        if isinstance(outcome, MoveworksCancelledError):
            raise outcome  # a stopped run, not a verdict on the endpoint
        if isinstance(outcome, MoveworksError):
            self._failure = outcome
            raise outcome
        token, expires_in = outcome
        self._token = token
        self._refresh_at = asked_at + expires_in - min(REFRESH_MARGIN_MAX, expires_in / 2)
        return token

    def _fetch_or_error(self) -> tuple[str, float] | MoveworksError:
        try:
            return self._fetch()
        except MoveworksError as error:
            failure = error
        return failure  # returned, not raised here: no handled exception becomes its context

    def invalidate(self, authorization: str | None) -> None:
        """Forget the token that a request was refused with (401), unless another thread has
        already replaced it, so that a burst of 401s leads to one fetch."""
        with self._lock:
            if self._token is not None and authorization == f"Bearer {self._token}":
                self._token = None

    def __repr__(self) -> str:
        return "ClientCredentialsAuth(<hidden>)"
