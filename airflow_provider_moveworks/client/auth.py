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
# How often a thread waiting for another's token fetch looks at the stop event.
STOP_POLL_SECONDS = 0.1


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
    failed fetch is remembered for the life of this object (that is, of the client): the fetch
    has its own retries, so asking again at once would only multiply requests to an endpoint
    that is down. The task's retries build a new client and ask again.

    :param fetch: asks the token endpoint (with its retries); returns
        ``(access_token, expires_in_seconds)``.
    :param clock: a monotonic clock (tests pass a fake one).
    :param stop: once set, a thread waiting for another's fetch stops waiting
        (:class:`MoveworksCancelledError`).
    """

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        clock: Callable[[], float] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or time.monotonic
        self._stop = stop or threading.Event()
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
                    raise _fresh_copy(self._failure)
                if self._token is not None and self._clock() < self._refresh_at:
                    return self._token
                done = self._fetch_done
                fetch_here = done is None
                if done is None:
                    done = self._fetch_done = threading.Event()
            if fetch_here:
                return self._fetch_for_everyone(done)
            while not done.wait(STOP_POLL_SECONDS):
                if self._stop.is_set():
                    raise MoveworksCancelledError("Waiting for an OAuth token: the run was stopped")

    def _fetch_for_everyone(self, done: threading.Event) -> str:
        """Fetch with no lock held (the fetch retries and waits), then publish the outcome."""
        asked_at = self._clock()
        outcome: tuple[str, float] | MoveworksError | None = None
        try:
            outcome = self._fetch_or_error()
        finally:
            with self._lock:
                self._fetch_done = None
                if isinstance(outcome, tuple):
                    token, expires_in = outcome
                    self._token = token
                    self._refresh_at = asked_at + expires_in - min(REFRESH_MARGIN_MAX, expires_in / 2)
                elif isinstance(outcome, MoveworksError) and not isinstance(outcome, MoveworksCancelledError):
                    self._failure = outcome  # a stopped run is no verdict on the endpoint
            done.set()
        if isinstance(outcome, MoveworksError):
            raise outcome
        assert outcome is not None
        return outcome[0]

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


def _fresh_copy(error: MoveworksError) -> MoveworksError:
    """The remembered failure for one more caller: the same class, message and attributes, with a
    traceback of its own (raising one object from many threads would grow a shared traceback)."""
    clone = error.__class__.__new__(error.__class__, *error.args)
    clone.__dict__.update(error.__dict__)
    return clone
