"""MoveworksClient: the Moveworks Conversations API from plain Python, with no Airflow in it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol

import requests
from requests.auth import AuthBase

from airflow_provider_moveworks.client.auth import ApiKeyAuth, ClientCredentialsAuth, NoAuth
from airflow_provider_moveworks.client.call import ApiCall
from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.listing import walk_pages
from airflow_provider_moveworks.client.oauth import TokenEndpoint
from airflow_provider_moveworks.client.responses import (
    api_error,
    conversation,
    json_object,
    redacted,
    request_id,
)
from airflow_provider_moveworks.client.retry import retry_delay, waits_too_long, with_retries
from airflow_provider_moveworks.client.secrets import MIN_SECRET_LENGTH, SecretRegistry, proxy_secrets
from airflow_provider_moveworks.client.transport import Transport
from airflow_provider_moveworks.exceptions import (
    MoveworksCancelledError,
    MoveworksClientError,
    MoveworksError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.validation import build_update_body, validate_conversation_id

LIST_PAGE_SIZE_MAX = 100


class RequestStats:
    """Counts what a client sent, safely across threads."""

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
    """Paces the requests of many threads sharing one client (the bulk operator's rate limiter)."""

    def acquire(self) -> None:
        """Block until the next request may leave."""

    def throttled(self, delay: float) -> None:
        """The API answered 429: every thread should wait ``delay`` seconds."""


class MoveworksClient:
    """The Moveworks Conversations API over one pooled session, safe to share across threads.

    :param config: where and as whom to call the API.
    :param secrets: the registry of secrets never shown (the hook passes the one that already
        holds the connection's); a new one by default.
    :param log: where retries and warnings go.
    :param pool_maxsize: keep-alive connections kept open, at least the number of threads.
    :param pacer: called before each request leaves and on each 429 (a shared rate limiter).
    :param stop: once set, no further request leaves and every wait ends: calls raise
        :class:`~airflow_provider_moveworks.exceptions.MoveworksCancelledError`.
    :param quiet_retries: log each retry at debug rather than warning.
    :param sleep: how to wait between retries; by default a wait that ``stop`` ends early.

    Example::

        config = ClientConfig(base_url="https://api.moveworks.ai/rest/v1beta1", api_key=key,
                              assistant_name="hr-bot")
        with MoveworksClient(config) as client:
            client.update_conversation("conv_01ARZ3NDEKTSV4RRFFQ69G5FAV", archived=True)
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        secrets: SecretRegistry | None = None,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        pool_maxsize: int = 10,
        pacer: Pacer | None = None,
        stop: threading.Event | None = None,
        quiet_retries: bool = False,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        self.config = config
        self.secrets = secrets or SecretRegistry()
        self.secrets.keep(config.secret)
        self.log = log or logging.getLogger(__name__)
        if len(config.secret) < MIN_SECRET_LENGTH:
            self.log.warning(
                "The Moveworks credential is shorter than %d characters: it is not masked in logs "
                "and messages (a longer one would match ordinary words)",
                MIN_SECRET_LENGTH,
            )
        self.stats = RequestStats()
        self._pacer = pacer
        self._stop = stop or threading.Event()
        self._sleep = sleep or self._stop.wait
        self._log_retry = self.log.debug if quiet_retries else self.log.warning
        self._transport = Transport(
            urls=(config.base_url, config.token_url),
            headers={"Assistant-Name": config.assistant_name},
            timeout=config.timeout,
            verify=config.verify,
            proxies=config.proxies,
            pool_maxsize=pool_maxsize,
            redact=self.secrets.redact,
        )
        # The proxies in use, the environment's too: kept out of messages, but not Moveworks'.
        for secret in proxy_secrets(self._transport.proxy_urls):
            self.secrets.keep(secret, credential=False)
        self._auth: AuthBase
        if config.uses_oauth:
            self._auth = ClientCredentialsAuth(
                TokenEndpoint(config, self._send, self.secrets).fetch, stop=self._stop
            )
        else:
            self._auth = ApiKeyAuth(config.secret)

    def __enter__(self) -> MoveworksClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client: every call under way ends at once, in flight or waiting to retry
        (it raises :class:`~airflow_provider_moveworks.exceptions.MoveworksCancelledError`), and
        no further request is sent."""
        self._stop.set()
        self._transport.close()

    def redact(self, text: str) -> str:
        """``text`` with every secret this client knows, in any form, replaced by ``***``."""
        return self.secrets.redact(text)

    def refuse_own_secrets(self, fields: Mapping[str, Any]) -> None:
        """See :func:`refuse_credentials`."""
        refuse_credentials(self.secrets, fields)

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
        conversation_id, body = checked_update(self.secrets, conversation_id, title, archived)
        call = ApiCall(
            "PATCH",
            f"{self.config.base_url}/conversations/{conversation_id}",
            f"Updating conversation {conversation_id}",
            conversation_id=conversation_id,
            json=body,
        )
        return self._conversation(call, body)

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """One Conversation by id."""
        conversation_id = validate_conversation_id(conversation_id)
        call = ApiCall(
            "GET",
            f"{self.config.base_url}/conversations/{conversation_id}",
            f"Reading conversation {conversation_id}",
            conversation_id=conversation_id,
        )
        return self._conversation(call, {})

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
        params = {"limit": page_size, "archived": "true" if archived else "false"}
        pages = walk_pages(f"{self.config.base_url}/conversations", params, self._send, self.secrets.redact)
        for item in pages:
            yield redacted(item, self.secrets.redact)

    def _conversation(self, call: ApiCall, sent: dict[str, Any]) -> dict[str, Any]:
        """Send ``call`` and return the Conversation it answered, checked against what was sent
        (before redaction, so that redaction is never taken for a change), then redacted."""
        response = self._send(call)
        redact = self.secrets.redact
        answered = conversation(json_object(response, call.purpose, redact), response, call.purpose, redact)
        if answered["conversation_id"] != call.conversation_id:
            problem = "is about another conversation"
        elif "archived" in sent and answered["archived"] != sent["archived"]:
            problem = f"has archived={answered['archived']!r} although {sent['archived']!r} was sent"
        else:
            if "title" in sent and answered.get("title") != sent["title"]:
                self.log.warning("%s: Moveworks answered with a different title than was sent", call.purpose)
            result: dict[str, Any] = redacted(answered, redact)
            return result
        outcome = "the update cannot be confirmed" if call.method == "PATCH" else "it was not asked for"
        raise MoveworksClientError(
            f"{call.purpose}: Moveworks answered {response.status_code} with a conversation that "
            f"{problem}; {outcome}",
            status=response.status_code,
            request_id=request_id(response, redact),
            conversation_id=call.conversation_id,
        )

    # -- sending -----------------------------------------------------------------------------
    def _send(self, call: ApiCall) -> requests.Response:
        """``call`` with retries: 429, 5xx, network errors and timeouts, at most ``max_retries``."""
        return with_retries(
            lambda: self._attempt(call),
            max_retries=self.config.max_retries,
            sleep=self._sleep,
            on_retry=self._retrying,
        )

    def _retrying(self, error: MoveworksError, number: int, delay: float) -> None:
        self.stats.add(retries=1)
        self._log_retry("%s; retry %d of %d in %.1f s", error, number, self.config.max_retries, delay)

    def _attempt(self, call: ApiCall) -> requests.Response:
        """One attempt, its answer turned into the response or a typed error. A 401 in OAuth mode
        fetches a fresh token and repeats the request once."""
        response = self._transmit(call)
        auth = self._auth
        if response.status_code == 401 and call.authorized and isinstance(auth, ClientCredentialsAuth):
            auth.invalidate(response.request.headers.get("Authorization"))
            response = self._transmit(call)
        status = response.status_code
        if status < 300:
            return response
        error = api_error(
            response,
            call.purpose,
            self.secrets.redact,
            conversation_id=call.conversation_id,
            error_class=call.client_error_class if 400 <= status < 500 and status != 429 else None,
        )
        if status == 429:
            self.stats.add(throttled=1)
            if self._pacer is not None and not waits_too_long(error):
                self._pacer.throttled(retry_delay(error, 1))
        raise error

    def _transmit(self, call: ApiCall) -> requests.Response:
        if self._pacer is not None:
            self._pacer.acquire()
        if self._stop.is_set():
            raise MoveworksCancelledError(f"{call.purpose}: not sent, the run was stopped")
        auth = self._auth if call.authorized else NoAuth()
        if isinstance(auth, ClientCredentialsAuth):
            auth.token()  # fetched (with its own deadlines and retries) before this attempt starts
        self.stats.add(requests=1)
        return self._transport.send(call, auth)

    def __repr__(self) -> str:
        config = self.config
        return f"MoveworksClient(base_url={config.base_url!r}, assistant_name={config.assistant_name!r})"


def refuse_credentials(secrets: SecretRegistry, fields: Mapping[str, Any]) -> None:
    """Raise :class:`MoveworksValidationError`, quoting nothing, for the first of ``fields`` (raw
    values, before they are checked) that holds a Moveworks credential in any encoding: a title
    would be stored and shown by Moveworks, and a message about a bad value quotes it."""
    for name, value in fields.items():
        if isinstance(value, str) and secrets.holds_credential(value):
            raise MoveworksValidationError(
                name,
                "holds this connection's API key, client secret or access token; not sent "
                "(a template such as {{ conn.<id>.password }} rendered into it?)",
            )


def checked_update(
    secrets: SecretRegistry, conversation_id: Any, title: Any, archived: Any
) -> tuple[str, dict[str, Any]]:
    """The id and the PATCH body of an update, or a validation error quoting no secret."""
    refuse_credentials(secrets, {"conversation_id": conversation_id, "title": title, "archived": archived})
    invalid = None
    try:
        return validate_conversation_id(conversation_id), build_update_body(title, archived)
    except MoveworksValidationError as error:
        invalid = error
    reason = secrets.redact(invalid.reason)  # raised here: the original is not chained
    raise invalid if reason == invalid.reason else MoveworksValidationError(invalid.field, reason)
