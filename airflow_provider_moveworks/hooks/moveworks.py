"""MoveworksHook: one pooled, authenticated session to the Moveworks Conversations API."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_moveworks import __version__
from airflow_provider_moveworks.client.auth import ApiKeyAuth, ClientCredentialsAuth, NoAuth
from airflow_provider_moveworks.client.responses import api_error, conversation, json_object
from airflow_provider_moveworks.client.retry import retry_delay
from airflow_provider_moveworks.connection import MoveworksSettings, read_settings
from airflow_provider_moveworks.connection_form import connection_form_widgets, ui_field_behaviour
from airflow_provider_moveworks.exceptions import (
    MoveworksAPIError,
    MoveworksAuthenticationError,
    MoveworksCancelledError,
    MoveworksClientError,
    MoveworksConnectionError,
    MoveworksError,
    MoveworksTimeoutError,
    MoveworksTLSError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.validation import build_update_body, validate_conversation_id
from airflow_provider_moveworks.version_compat import BaseHook, mask_secret

USER_AGENT = f"airflow-provider-moveworks/{__version__}"
LIST_PAGE_SIZE_MAX = 100


class RequestStats:
    """Counts what the hook sent, safely across threads (the bulk operator reports them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.throttled = 0

    def add(self, *, requests: int = 0, retries: int = 0, throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.throttled += throttled


class Pacer(Protocol):
    """Paces the requests of many threads sharing one hook (the bulk operator's rate limiter)."""

    def acquire(self) -> None:
        """Block until the next request may leave."""

    def throttled(self, delay: float) -> None:
        """The API answered 429: every thread should wait ``delay`` seconds."""


class MoveworksHook(BaseHook):
    """Talks to the Moveworks Conversations API through a ``moveworks`` Airflow connection.

    The connection is read, and the session built, on first use: creating the hook does no I/O.

    :param moveworks_conn_id: the Airflow connection to use.
    :param assistant_name: the ``Assistant-Name`` header; overrides the connection's extra.
    :param timeout: seconds per request; overrides the connection's extra (default 30).
    :param max_retries: retries of one request on 429, 5xx and network errors; overrides the
        connection's extra (default 5).
    :param pool_maxsize: keep-alive connections kept open, at least the number of threads that
        share the hook.
    :param sleep: how to wait between retries (tests pass a recorder); by default the wait ends
        early when ``stop`` is set.
    :param pacer: called before each request leaves and on each 429 (the bulk operator's limiter).
    :param quiet_retries: log each retry at debug rather than warning (a bulk run reports its
        retries in its progress lines instead of flooding the task log).
    :param stop: once set, no further request leaves and every wait ends: calls raise
        :class:`MoveworksCancelledError` (the bulk operator's stop on ``on_kill`` or a timeout).

    Example::

        hook = MoveworksHook(assistant_name="hr-bot")
        hook.update_conversation("conv_01ARZ3NDEKTSV4RRFFQ69G5FAV", archived=True)
    """

    conn_name_attr = "moveworks_conn_id"
    default_conn_name = "moveworks_default"
    conn_type = "moveworks"
    hook_name = "Moveworks"

    def __init__(
        self,
        moveworks_conn_id: str = default_conn_name,
        *,
        assistant_name: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        pool_maxsize: int = 10,
        sleep: Callable[[float], object] | None = None,
        pacer: Pacer | None = None,
        quiet_retries: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.moveworks_conn_id = moveworks_conn_id
        self._assistant_name = assistant_name
        self._timeout = timeout
        self._max_retries = max_retries
        self._pool_maxsize = pool_maxsize
        self._stop = stop or threading.Event()
        self._sleep = sleep or self._stop.wait
        self._pacer = pacer
        self._quiet_retries = quiet_retries
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()
        self._secrets: set[str] = set()
        self.stats = RequestStats()

    # -- connection ------------------------------------------------------------------------
    @cached_property
    def settings(self) -> MoveworksSettings:
        """The connection's checked settings (read once)."""
        conn = self.get_connection(self.moveworks_conn_id)
        settings = read_settings(
            conn, assistant_name=self._assistant_name, timeout=self._timeout, max_retries=self._max_retries
        )
        self._keep_secret(settings.secret)
        for proxy in (settings.proxies or {}).values():
            self._keep_secret(proxy)
        return settings

    def get_conn(self) -> requests.Session:
        """The hook's one ``requests.Session``, built on first use and reused by every call."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    self._session = self._build_session(self.settings)
        return self._session

    def _build_session(self, settings: MoveworksSettings) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self._pool_maxsize, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.update(
            {
                "Assistant-Name": settings.assistant_name,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        session.verify = settings.verify
        if settings.verify is False:
            self.log.warning("TLS verification is off for Moveworks connection %r", self.moveworks_conn_id)
        if settings.proxies:
            session.proxies.update(settings.proxies)
        session.auth = (
            ClientCredentialsAuth(self._fetch_token) if settings.uses_oauth else ApiKeyAuth(settings.secret)
        )
        return session

    def close(self) -> None:
        """Close the pooled connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- API operations ----------------------------------------------------------------------
    def update_conversation(
        self, conversation_id: str, *, title: str | None = None, archived: bool | str | None = None
    ) -> dict[str, Any]:
        """Set a conversation's title and/or archived flag; returns the updated Conversation.

        Only the fields given are sent. Bad input raises :class:`MoveworksValidationError`
        before anything is sent.
        """
        conversation_id = validate_conversation_id(conversation_id)
        body = build_update_body(title, archived)
        what = f"Updating conversation {conversation_id}"
        response = self._request(
            "PATCH", f"/conversations/{conversation_id}", what, conversation_id, json=body
        )
        return conversation(json_object(response, what, self._redact), response, what)

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """One Conversation by id."""
        conversation_id = validate_conversation_id(conversation_id)
        what = f"Reading conversation {conversation_id}"
        response = self._request("GET", f"/conversations/{conversation_id}", what, conversation_id)
        return conversation(json_object(response, what, self._redact), response, what)

    def list_conversations(
        self, *, archived: bool = False, page_size: int = LIST_PAGE_SIZE_MAX
    ) -> Iterator[dict[str, Any]]:
        """Every conversation with the given archived flag, newest ``updated_at`` first, page by
        page (``page_size`` 1-100) following ``metadata.next_cursor``."""
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= LIST_PAGE_SIZE_MAX
        ):
            raise MoveworksValidationError("page_size", f"{page_size!r} is not a whole number from 1 to 100")
        params: dict[str, Any] = {"limit": page_size, "archived": "true" if archived else "false"}
        seen_cursors: set[str] = set()
        while True:
            what = "Listing conversations"
            response = self._request("GET", "/conversations", what, None, params=params)
            page = json_object(response, what, self._redact)
            items = page.get("conversations")
            if not isinstance(items, list):
                raise MoveworksClientError(
                    f"{what}: the answer has no 'conversations' list", status=response.status_code
                )
            for item in items:
                yield conversation(item, response, what)
            cursor = (page.get("metadata") or {}).get("next_cursor")
            if not cursor:
                return
            if cursor in seen_cursors:
                raise MoveworksClientError(f"{what}: the API returned the cursor of an earlier page again")
            seen_cursors.add(cursor)
            params["cursor"] = cursor

    def test_connection(self) -> tuple[bool, str]:
        """Lists one conversation (changes nothing) to prove the URL, credentials and assistant."""
        try:
            next(self.list_conversations(page_size=1), None)
        except MoveworksError as error:
            return False, str(error)
        return True, f"Connected to {self.settings.base_url} as assistant {self.settings.assistant_name!r}"

    # -- connection form ---------------------------------------------------------------------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields (Airflow 2.11 to 3.1; 3.2+ reads provider info)."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled, hidden and placeholder fields of the connection form."""
        return ui_field_behaviour()

    # -- sending -----------------------------------------------------------------------------
    def _request(
        self, method: str, path: str, what: str, conversation_id: str | None, **kwargs: Any
    ) -> requests.Response:
        return self._call(
            method, self.settings.base_url + path, what, conversation_id=conversation_id, **kwargs
        )

    def _call(self, method: str, url: str, what: str, **options: Any) -> requests.Response:
        """Send with the retry policy: 429, 5xx and network errors are tried again, at most
        ``max_retries`` times, after the policy's wait; anything else is raised at once."""
        retry = 0
        while True:
            try:
                return self._send_once(method, url, what, **options)
            except MoveworksError as error:
                if not error.retryable or retry >= self.settings.max_retries:
                    raise
                retry += 1
                delay = retry_delay(error, retry)
                self.stats.add(retries=1)
                log = self.log.debug if self._quiet_retries else self.log.warning
                log("%s; retry %d of %d in %.1f s", error, retry, self.settings.max_retries, delay)
                self._sleep(delay)

    def _send_once(
        self,
        method: str,
        url: str,
        what: str,
        *,
        conversation_id: str | None = None,
        refused: type[MoveworksAPIError] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """One attempt. A 401 in OAuth mode fetches a fresh token and repeats the request once.
        ``refused`` replaces the error class of a 4xx other than 429."""
        response = self._transmit(method, url, what, **kwargs)
        auth = self.get_conn().auth
        if response.status_code == 401 and refused is None and isinstance(auth, ClientCredentialsAuth):
            auth.invalidate(response.request.headers.get("Authorization"))
            response = self._transmit(method, url, what, **kwargs)
        status = response.status_code
        if status < 300:
            return response
        error_class = refused if 400 <= status < 500 and status != 429 else None
        error = api_error(
            response, what, self._redact, conversation_id=conversation_id, error_class=error_class
        )
        if status == 429:
            self.stats.add(throttled=1)
            if self._pacer is not None:
                self._pacer.throttled(retry_delay(error, 1))
        raise error

    def _transmit(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        session = self.get_conn()
        if self._pacer is not None:
            self._pacer.acquire()
        if self._stop.is_set():
            raise MoveworksCancelledError(f"{what}: not sent, the run was stopped")
        self.stats.add(requests=1)
        settings = self.settings
        try:
            # verify and proxies go on every call: requests lets REQUESTS_CA_BUNDLE and the proxy
            # environment variables override what is set on the session.
            return session.request(
                method,
                url,
                timeout=settings.timeout,
                verify=settings.verify,
                proxies=settings.proxies,
                allow_redirects=False,
                **kwargs,
            )
        except requests.Timeout:
            raise MoveworksTimeoutError(f"{what}: no answer within {self.settings.timeout:g} s") from None
        except requests.exceptions.SSLError as error:
            raise MoveworksTLSError(
                f"{what}: TLS failed ({self._redact(str(error))}); check the connection's 'verify' extra"
            ) from None
        except requests.RequestException as error:
            # ``from None``: the original may quote a proxy URL with its password.
            raise MoveworksConnectionError(
                f"{what}: could not reach Moveworks ({type(error).__name__}: {self._redact(str(error))})"
            ) from None

    def _fetch_token(self) -> tuple[str, float]:
        """Client-credentials grant, form-encoded. Accepts the flat answer and the one wrapped in
        ``data``; a refusal becomes :class:`MoveworksAuthenticationError`."""
        settings = self.settings
        what = "Fetching an OAuth token"
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": settings.secret,
        }
        response = self._call(
            "POST", settings.token_url, what, refused=MoveworksAuthenticationError, data=form, auth=NoAuth()
        )
        body = json_object(response, what, self._redact)
        data = body["data"] if isinstance(body.get("data"), dict) else body
        token, expires_in = data.get("access_token"), data.get("expires_in", 60)
        if not isinstance(token, str) or not token:
            raise MoveworksAuthenticationError(
                f"{what}: the answer has no access_token", status=response.status_code
            )
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            raise MoveworksAuthenticationError(
                f"{what}: the answer's expires_in is not a positive number", status=response.status_code
            )
        self._keep_secret(token)
        return token, float(expires_in)

    # -- secrets -----------------------------------------------------------------------------
    def _keep_secret(self, secret: str) -> None:
        """Remember a secret so that no message of ours quotes it, and tell Airflow's masker."""
        if secret:
            self._secrets.add(secret)
            mask_secret(secret)

    def _redact(self, text: str) -> str:
        for secret in tuple(self._secrets):
            text = text.replace(secret, "***")
        return text

    def __repr__(self) -> str:
        return f"MoveworksHook(moveworks_conn_id={self.moveworks_conn_id!r})"
