"""MoveworksHook: one pooled, authenticated session to the Moveworks Conversations API."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any, Protocol, cast
from urllib.parse import urlsplit

import requests

from airflow_provider_moveworks import __version__
from airflow_provider_moveworks.client.auth import ApiKeyAuth, ClientCredentialsAuth, NoAuth
from airflow_provider_moveworks.client.call import ApiCall, transport_error
from airflow_provider_moveworks.client.deadline import AttemptDeadline, DeadlineAdapter
from airflow_provider_moveworks.client.responses import (
    api_error,
    conversation,
    json_object,
    list_page,
    positive_seconds,
    request_id,
)
from airflow_provider_moveworks.client.retry import retry_delay, waits_too_long
from airflow_provider_moveworks.client.secrets import holds_secret, secret_forms
from airflow_provider_moveworks.connection import MoveworksSettings, proxy_secrets, read_settings
from airflow_provider_moveworks.connection_form import connection_form_widgets, ui_field_behaviour
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksCancelledError,
    MoveworksClientError,
    MoveworksError,
    MoveworksTimeoutError,
    MoveworksTokenError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.validation import (
    build_update_body,
    header_value_problem,
    validate_conversation_id,
)
from airflow_provider_moveworks.version_compat import BaseHook, mask_secret

USER_AGENT = f"airflow-provider-moveworks/{__version__}"
LIST_PAGE_SIZE_MAX = 100
# Empty pages that still carry a cursor, in a row, before the walk is given up as a loop.
MAX_EMPTY_PAGES = 3
# The largest answer read (after decompression): a page of 100 conversations is far smaller.
MAX_BODY_BYTES = 32 * 1024 * 1024
BODY_CHUNK_BYTES = 65536
# Shorter secrets are not looked for in titles or decoded text: they could match ordinary words.
MIN_GUARDED_SECRET = 8
# What stands for a text that holds a secret in an encoding no redaction form foresaw.
WITHHELD = "*** (withheld: it holds a secret in an encoded form)"
# A token that expires sooner cannot carry a request: every call would fetch another.
MIN_TOKEN_LIFETIME = 1.0
# The most values of a token answer looked through for tokens to keep out of messages.
MAX_TOKEN_ANSWER_NODES = 10_000


def _read_body(response: requests.Response, limit: int) -> bool:
    """Read the (decoded) body of a streamed response into it, if it is at most ``limit`` bytes;
    otherwise close the response and say so. A server (or a proxy) that keeps sending within
    the attempt's deadline must not fill the worker's memory."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(BODY_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            response.close()
            return False
        chunks.append(chunk)
    response._content = b"".join(chunks)
    return True


def _no_token(response: requests.Response, purpose: str, problem: str) -> MoveworksClientError:
    return MoveworksClientError(f"{purpose}: {problem}", status=response.status_code)


def _a_type(value: object) -> str:
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _proxies_for(url: str, proxies: dict[str, str] | None) -> dict[str, str] | None:
    """The proxies of one call. Plain http goes to a loopback host only, that is to this very
    machine: never through a proxy, neither the connection's nor one from the environment
    (``HTTP_PROXY``), which would carry the bearer token over the network in clear text."""
    if not url.lower().startswith("http://"):
        return dict(proxies) if proxies else None
    # A None entry shadows the environment's proxy for that key, then drops out with the
    # session's own: these are every key requests looks up for this URL. (A "no_proxy" entry
    # would do it too, but requests applies it by writing os.environ under the other threads.)
    host = urlsplit(url).hostname or ""
    keys = {"http", "all", f"http://{host}", f"all://{host}", *(proxies or {})}
    return cast("dict[str, str]", dict.fromkeys(keys, None))


class _NoRedirectSession(requests.Session):
    """Redirects are never followed, so their target is never read: requests decodes it as UTF-8
    even for a response it will not follow, and a Latin-1 ``Location`` then raised a bare
    ``UnicodeDecodeError`` instead of the 3xx being answered like any other status."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


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
    :param timeout: seconds per attempt as a whole (connect, send, headers, body); overrides the
        connection's extra (default 30).
    :param max_retries: retries of one request on 429, 5xx and network errors; overrides the
        connection's extra (default 5).
    :param pool_maxsize: keep-alive connections kept open, at least the number of threads that
        share the hook.
    :param sleep: how to wait between retries, the token endpoint's included (tests pass a
        recorder); by default the wait ends early when ``stop`` is set.
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
        # Every form of every kept secret, longest first; replaced whole, never changed in place,
        # so a thread redacting while another keeps a secret reads one consistent tuple.
        self._secret_forms: tuple[str, ...] = ()
        self._guarded: tuple[str, ...] = ()  # secrets long enough to look for in decoded text
        self._credentials: tuple[str, ...] = ()  # of those, Moveworks' own: never in a title
        self._secrets_lock = threading.Lock()
        self.stats = RequestStats()
        self._in_flight: set[AttemptDeadline] = set()  # attempts under way, ended by close()
        self._in_flight_lock = threading.Lock()

    # -- connection ------------------------------------------------------------------------
    @cached_property
    def settings(self) -> MoveworksSettings:
        """The connection's checked settings (read once)."""
        conn = self.get_connection(self.moveworks_conn_id)
        # Kept before anything is checked: a failing check must not quote them either.
        self._keep_secret(conn.password or "")
        self._keep_secret((conn.password or "").strip())
        settings = read_settings(
            conn,
            assistant_name=self._assistant_name,
            timeout=self._timeout,
            max_retries=self._max_retries,
            warn=self.log.warning,
        )
        self._keep_secret(settings.secret)
        for secret in proxy_secrets(settings.proxies):  # kept out of messages, but not Moveworks'
            self._keep_secret(secret, credential=False)
        return settings

    def get_conn(self) -> requests.Session:
        """The hook's one ``requests.Session``, built on first use and reused by every call."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    self._session = self._build_session(self.settings)
        return self._session

    def _build_session(self, settings: MoveworksSettings) -> requests.Session:
        session = _NoRedirectSession()
        adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=self._pool_maxsize, max_retries=0)
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
            ClientCredentialsAuth(self._fetch_token, stop=self._stop)
            if settings.uses_oauth
            else ApiKeyAuth(settings.secret)
        )
        return session

    def close(self) -> None:
        """Close the pooled connections, ending every request still in flight at once (its
        socket is shut down; it raises :class:`MoveworksCancelledError`)."""
        with self._in_flight_lock:
            in_flight = list(self._in_flight)
        for deadline in in_flight:
            deadline.abort()
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- API operations ----------------------------------------------------------------------
    def update_conversation(
        self, conversation_id: str, *, title: str | None = None, archived: bool | str | None = None
    ) -> dict[str, Any]:
        """Set a conversation's title and/or archived flag; returns the updated Conversation.

        Only the fields given are sent. Bad input raises :class:`MoveworksValidationError`
        before anything is sent. An answer about another conversation, or with another
        ``archived`` than was sent, is a :class:`MoveworksClientError`; another title only logs
        a warning (the API may normalise titles).
        """
        # First, before any message could quote a value holding the connection's own secret.
        self.refuse_own_secrets({"conversation_id": conversation_id, "title": title, "archived": archived})
        conversation_id = validate_conversation_id(conversation_id)
        body = build_update_body(title, archived)
        settings = self.settings
        call = ApiCall(
            "PATCH",
            f"{settings.base_url}/conversations/{conversation_id}",
            f"Updating conversation {conversation_id}",
            conversation_id=conversation_id,
            json=body,
        )
        response = self._send_with_retries(call)
        result = conversation(
            json_object(response, call.purpose, self._redact), response, call.purpose, self._redact
        )
        self._check_answer(call, body, result, response)
        return result

    def _learn_secrets(self) -> None:
        """Read the connection, if it can be read, so that its secrets are known; a connection
        that cannot be read or checked still leaves what it gave (kept before any check). Its own
        error is raised where the connection is used."""
        with contextlib.suppress(Exception):
            self.settings  # noqa: B018 - reading the connection keeps its secrets

    def redact(self, text: str) -> str:
        """``text`` with this connection's secrets, in any form the hook knows, replaced by ``***``
        (the connection is read first, so that its secrets are known; if it cannot be read or
        checked, whatever it gave is still known)."""
        self._learn_secrets()
        return self._redact(text)

    def refuse_own_secrets(self, fields: Mapping[str, Any]) -> None:
        """Raise :class:`MoveworksValidationError`, quoting nothing, for the first of ``fields``
        (an update's raw values, before they are checked) that holds this connection's own
        credential in any encoding: a title would be stored and shown by Moveworks, and a message
        about a bad value quotes it. Airflow renders mapped values as Jinja, so a row's
        ``{{ conn.moveworks_default.password }}`` arrives here as the key itself. The connection
        is read first, if it can be: its own errors are raised where it is used."""
        self._learn_secrets()
        for name, value in fields.items():
            if isinstance(value, str) and holds_secret(value, self._credentials):
                raise MoveworksValidationError(
                    name,
                    "holds this connection's API key, client secret or access token; not sent "
                    "(a template such as {{ conn.<id>.password }} rendered into it?)",
                )

    def _check_answer(
        self, call: ApiCall, sent: dict[str, Any], result: dict[str, Any], response: requests.Response
    ) -> None:
        """A 200 must be about the conversation asked for and carry the ``archived`` that was
        sent; a different title only warns (the API may normalise titles)."""
        if result["conversation_id"] != call.conversation_id:
            problem = "is about another conversation"
        elif "archived" in sent and result["archived"] != sent["archived"]:
            problem = f"has archived={result['archived']!r} although {sent['archived']!r} was sent"
        else:
            if "title" in sent and result.get("title") != sent["title"]:
                self.log.warning("%s: Moveworks answered with a different title than was sent", call.purpose)
            return
        outcome = "the update cannot be confirmed" if call.method == "PATCH" else "it was not asked for"
        raise MoveworksClientError(
            f"{call.purpose}: Moveworks answered {response.status_code} with a conversation that "
            f"{problem}; {outcome}",
            status=response.status_code,
            request_id=request_id(response, self._redact),
            conversation_id=call.conversation_id,
        )

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """One Conversation by id."""
        conversation_id = validate_conversation_id(conversation_id)
        call = ApiCall(
            "GET",
            f"{self.settings.base_url}/conversations/{conversation_id}",
            f"Reading conversation {conversation_id}",
            conversation_id=conversation_id,
        )
        response = self._send_with_retries(call)
        result = conversation(
            json_object(response, call.purpose, self._redact), response, call.purpose, self._redact
        )
        self._check_answer(call, {}, result, response)
        return result

    def list_conversations(
        self, *, archived: bool = False, page_size: int = LIST_PAGE_SIZE_MAX
    ) -> Iterator[dict[str, Any]]:
        """Every conversation with the given archived flag, newest ``updated_at`` first, page by
        page (``page_size`` 1-100) following ``metadata.next_cursor``, each conversation once. A
        malformed page, a cursor seen before, or more than 3 pages in a row that still carry a
        cursor but no conversation not seen before end the walk with a
        :class:`MoveworksClientError`."""
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= LIST_PAGE_SIZE_MAX
        ):
            raise MoveworksValidationError("page_size", f"{page_size!r} is not a whole number from 1 to 100")
        params: dict[str, Any] = {"limit": page_size, "archived": "true" if archived else "false"}
        seen_cursors: set[str] = set()
        seen_ids: set[str] = set()
        empty_pages = 0
        while True:
            call = ApiCall(
                "GET", f"{self.settings.base_url}/conversations", "Listing conversations", params=params
            )
            response = self._send_with_retries(call)
            items, cursor = list_page(
                json_object(response, call.purpose, self._redact), response, call.purpose, self._redact
            )
            new = 0
            for item in items:
                found = conversation(item, response, call.purpose, self._redact)
                # A conversation seen on an earlier page (the list shifted under the walk, or a
                # server repeating itself under ever new cursors) is yielded once.
                if found["conversation_id"] not in seen_ids:
                    seen_ids.add(found["conversation_id"])
                    new += 1
                    yield found
            if cursor is None:
                return
            empty_pages = 0 if new else empty_pages + 1
            if empty_pages > MAX_EMPTY_PAGES:
                raise MoveworksClientError(
                    f"{call.purpose}: the API returned {empty_pages} pages in a row that were empty or held "
                    "only conversations already listed, each with a further cursor; stopped rather than "
                    "follow it without end"
                )
            if cursor in seen_cursors:
                raise MoveworksClientError(
                    f"{call.purpose}: the API returned the cursor of an earlier page again"
                )
            seen_cursors.add(cursor)
            params = {**params, "cursor": cursor}

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
    def _send_with_retries(self, call: ApiCall) -> requests.Response:
        """Step 1: send, and try again after a wait while the error is worth it (429, 5xx,
        network errors, timeouts), at most ``max_retries`` times."""
        retries = 0
        while True:
            outcome = self._send_once_or_error(call)
            if isinstance(outcome, requests.Response):
                return outcome
            if not self._should_retry(outcome, retries):
                raise outcome
            retries += 1
            delay = retry_delay(outcome, retries)
            self.stats.add(retries=1)
            log = self.log.debug if self._quiet_retries else self.log.warning
            log("%s; retry %d of %d in %.1f s", outcome, retries, self.settings.max_retries, delay)
            self._sleep(delay)

    def _send_once_or_error(self, call: ApiCall) -> requests.Response | MoveworksError:
        # The error is returned, not raised inside the handler: a later raise would otherwise
        # carry it as __context__.
        try:
            return self._send_once(call)
        except MoveworksError as error:
            failure = error
        return failure

    def _should_retry(self, error: MoveworksError, retries: int) -> bool:
        """Retryable, budget left, and a server wait the hook is willing to sleep on."""
        return error.retryable and retries < self.settings.max_retries and not waits_too_long(error)

    def _send_once(self, call: ApiCall) -> requests.Response:
        """Step 2: one attempt, its answer turned into the response or a typed error. A 401 in
        OAuth mode fetches a fresh token and repeats the request once."""
        auth = self.get_conn().auth
        response = self._transmit(call)
        if response.status_code == 401 and call.authorized and isinstance(auth, ClientCredentialsAuth):
            auth.invalidate(response.request.headers.get("Authorization"))
            response = self._transmit(call)
        status = response.status_code
        if status < 300:
            return response
        error_class = call.client_error_class if 400 <= status < 500 and status != 429 else None
        error = api_error(
            response,
            call.purpose,
            self._redact,
            conversation_id=call.conversation_id,
            error_class=error_class,
        )
        if status == 429:
            self.stats.add(throttled=1)
            if self._pacer is not None and not waits_too_long(error):
                self._pacer.throttled(retry_delay(error, 1))
        raise error

    def _transmit(self, call: ApiCall) -> requests.Response:
        session = self.get_conn()
        if self._pacer is not None:
            self._pacer.acquire()
        if self._stop.is_set():
            raise MoveworksCancelledError(f"{call.purpose}: not sent, the run was stopped")
        auth = session.auth if call.authorized else NoAuth()
        if isinstance(auth, ClientCredentialsAuth):
            auth.token()  # fetched (with its own deadlines and retries) before this one starts
        settings = self.settings
        failure: MoveworksError
        with AttemptDeadline(settings.timeout) as deadline, self._watching(deadline):
            self.stats.add(requests=1)
            try:
                # verify and proxies go on every call: requests lets REQUESTS_CA_BUNDLE and the
                # proxy environment variables override what is set on the session.
                response = session.request(
                    call.method,
                    call.url,
                    params=call.params,
                    json=call.json,
                    data=call.data,
                    auth=auth,
                    timeout=settings.timeout,
                    verify=settings.verify,
                    proxies=_proxies_for(call.url, settings.proxies),
                    allow_redirects=False,
                    stream=True,  # the body is read below, at most MAX_BODY_BYTES of it
                )
                if _read_body(response, MAX_BODY_BYTES):
                    return response
            except requests.RequestException as error:
                failure = transport_error(call, error, deadline, settings.timeout, self._redact)
            else:
                failure = MoveworksClientError(
                    f"{call.purpose}: Moveworks answered {response.status_code} with a body larger than "
                    f"{MAX_BODY_BYTES} bytes; it was not read further",
                    status=response.status_code,
                    request_id=request_id(response, self._redact),
                )
        raise failure  # outside the handler: the original (which may quote a proxy URL) stays out

    @contextlib.contextmanager
    def _watching(self, deadline: AttemptDeadline) -> Iterator[None]:
        """Keep ``deadline`` where :meth:`close` finds it while its attempt is under way."""
        with self._in_flight_lock:
            self._in_flight.add(deadline)
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(deadline)

    def _fetch_token(self) -> tuple[str, float]:
        """Client-credentials grant, form-encoded, with its own retries. Accepts the flat answer
        and the one wrapped in ``data``. A refusal (4xx) is a :class:`MoveworksAuthenticationError`.
        An endpoint that keeps failing, or whose answer carries no usable token (a redirect to a
        sign-in page, a proxy's HTML page, JSON without a bearer token), is a
        :class:`MoveworksTokenError`: no request of the hook can be sent without one."""
        settings = self.settings
        call = ApiCall(
            "POST",
            settings.token_url,
            f"Fetching an OAuth token from {settings.token_url}",
            data={
                "grant_type": "client_credentials",
                "client_id": settings.client_id,
                "client_secret": settings.secret,
            },
            authorized=False,
            client_error_class=MoveworksAuthenticationError,
        )
        answer = self._send_with_retries_or_error(call)
        outcome = self._token_in(answer, call.purpose) if isinstance(answer, requests.Response) else answer
        if isinstance(outcome, tuple):
            return outcome
        then = "Every request of this task needs a token, so none is sent; the task's retries ask again"
        if outcome.retryable or isinstance(outcome, MoveworksTimeoutError):
            raise MoveworksTokenError(
                f"The OAuth token endpoint failed through its retries: {outcome}. {then}",
                retry_after=getattr(outcome, "retry_after", None),
            )
        if isinstance(outcome, MoveworksClientError):  # an answer, but neither a token nor a refusal
            raise MoveworksTokenError(f"The OAuth token endpoint gave no usable token: {outcome}. {then}")
        raise outcome

    def _keep_tokens_in(self, response: requests.Response) -> None:
        """Keep as secrets the strings under any ``*token`` key of a token answer, whatever its
        shape (a list, a nested object): a message about an answer it cannot use quotes its start."""
        try:
            pending: list[Any] = [json.loads(response.content)]
        except (ValueError, RecursionError):
            return
        for _ in range(MAX_TOKEN_ANSWER_NODES):
            if not pending:
                return
            node = pending.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, str) and str(key).lower().endswith("token"):
                        self._keep_secret(value)
                    pending.append(value)
            elif isinstance(node, list):
                pending.extend(node)

    def _token_in(self, response: requests.Response, purpose: str) -> tuple[str, float] | MoveworksError:
        """``(access_token, expires_in)`` from a 2xx answer, or a :class:`MoveworksClientError`
        saying why it holds no usable bearer token (returned, to be raised as another error)."""
        self._keep_tokens_in(response)
        try:
            body = json_object(response, purpose, self._redact, url_field="OAuth token URL", quote_body=False)
        except MoveworksClientError as error:
            return error
        data = body["data"] if isinstance(body.get("data"), dict) else body
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            return _no_token(response, purpose, "the answer has no access_token")
        self._keep_secret(token)
        token_type = data.get("token_type", "Bearer")  # optional in practice, though RFC 6749 asks for it
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            shown = (
                repr(self._redact(token_type)[:40]) if isinstance(token_type, str) else _a_type(token_type)
            )
            return _no_token(response, purpose, f"the answer's token_type is {shown}, not Bearer")
        unsendable = header_value_problem(token)
        if unsendable:
            return _no_token(response, purpose, f"the issued access_token {unsendable}, so it cannot be sent")
        expires_in = positive_seconds(data.get("expires_in", 60))
        if expires_in is None:
            return _no_token(response, purpose, "the answer's expires_in is not a positive number of seconds")
        if expires_in < MIN_TOKEN_LIFETIME:
            return _no_token(
                response, purpose, f"the answer's expires_in of {expires_in:g} s is too short to use"
            )
        return token, expires_in

    def _send_with_retries_or_error(self, call: ApiCall) -> requests.Response | MoveworksError:
        try:
            return self._send_with_retries(call)
        except MoveworksCancelledError:
            raise
        except MoveworksError as error:
            failure = error
        return failure

    # -- secrets -----------------------------------------------------------------------------
    def _keep_secret(self, secret: str, *, credential: bool = True) -> None:
        """Remember a secret so that no message of ours quotes it, and tell Airflow's masker.
        A ``credential`` (API key, client secret, access token) is also never sent in a title."""
        with self._secrets_lock:
            if not secret or secret in self._secrets:
                return
            self._secrets.add(secret)
            # Computed once here, not per message: every string of every answer is redacted.
            forms = {form for kept in self._secrets for form in secret_forms(kept)}
            self._secret_forms = tuple(sorted(forms, key=len, reverse=True))
            if len(secret) >= MIN_GUARDED_SECRET:
                self._guarded = (*self._guarded, secret)
                if credential:
                    self._credentials = (*self._credentials, secret)
        mask_secret(secret)

    def _redact(self, text: str) -> str:
        """Every kept secret out of ``text``, also as it appears percent-encoded (a form or URL
        echoed back) or escaped (in JSON, HTML or a repr). Longest first: a shorter form inside a
        longer one must not leave the rest of the longer one behind. Text that still holds a
        secret in an encoding no form foresaw is withheld whole."""
        for form in self._secret_forms:
            text = text.replace(form, "***")
        if holds_secret(text, self._guarded):
            return WITHHELD
        return text

    def __repr__(self) -> str:
        return f"MoveworksHook(moveworks_conn_id={self.moveworks_conn_id!r})"
