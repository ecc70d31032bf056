"""MoveworksHook: a ``moveworks`` Airflow connection read into a :class:`MoveworksClient`."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from airflow_provider_moveworks.client.client import MoveworksClient, RequestStats, checked_update
from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.secrets import SecretRegistry
from airflow_provider_moveworks.connection import read_settings
from airflow_provider_moveworks.connection_form import connection_form_widgets, ui_field_behaviour
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksError,
    MoveworksPermissionError,
    MoveworksTokenError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.version_compat import BaseHook, mask_secret

# The longest a connection test waits for its one attempt.
TEST_CONNECTION_TIMEOUT = 10.0


class MoveworksHook(BaseHook):
    """Talks to the Moveworks Conversations API through a ``moveworks`` Airflow connection.

    The connection is read on first use: creating the hook does no I/O. :meth:`get_conn` returns
    the hook's :class:`~airflow_provider_moveworks.client.MoveworksClient`, built once.

    :param moveworks_conn_id: the Airflow connection to use.
    :param assistant_name: the ``Assistant-Name`` header; overrides the connection's extra.
    :param timeout: seconds per attempt as a whole (connect, send, headers, body); overrides the
        connection's extra (default 30).
    :param max_retries: retries of one request on 429, 5xx and network errors; overrides the
        connection's extra (default 5).

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
    ) -> None:
        super().__init__()
        self.moveworks_conn_id = moveworks_conn_id
        self._assistant_name = assistant_name
        self._timeout = timeout
        self._max_retries = max_retries
        self._secrets = SecretRegistry(announce=_mask)
        self._client: MoveworksClient | None = None
        self._client_lock = threading.Lock()

    @cached_property
    def settings(self) -> ClientConfig:
        """The connection read into a client config, checked (read once)."""
        conn = self.get_connection(self.moveworks_conn_id)
        # Kept before anything is checked: a failing check must not quote them either.
        self._secrets.keep(conn.password)
        self._secrets.keep((conn.password or "").strip())
        return read_settings(
            conn,
            assistant_name=self._assistant_name,
            timeout=self._timeout,
            max_retries=self._max_retries,
            warn=self.log.warning,
        )

    def new_client(self, config: ClientConfig | None = None, **options: Any) -> MoveworksClient:
        """A new client for this connection (or ``config``), its secrets known to the hook;
        ``options`` are :class:`MoveworksClient`'s (the bulk operator passes its pacing and stop)."""
        config = config or self.settings
        if config.verify is False:
            self.log.warning("TLS verification is off for Moveworks connection %r", self.moveworks_conn_id)
        return MoveworksClient(config, secrets=self._secrets, log=self.log, **options)

    def get_conn(self) -> MoveworksClient:
        """The hook's client, built on first use and shared by every call."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.new_client()
        return self._client

    def close(self) -> None:
        """Close the client, ending every request still in flight; the next call builds another."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    @property
    def stats(self) -> RequestStats:
        """What the hook's client sent."""
        return self.get_conn().stats

    # -- API operations: the client's, for DAGs that call the hook --------------------------------
    def update_conversation(
        self, conversation_id: str, *, title: str | None = None, archived: bool | str | None = None
    ) -> dict[str, Any]:
        """See :meth:`MoveworksClient.update_conversation`."""
        try:
            client = self.get_conn()
        except Exception:
            # Bad input is named first, quoting none of what the connection gave.
            checked_update(self._secrets, conversation_id, title, archived)
            raise
        return client.update_conversation(conversation_id, title=title, archived=archived)

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """See :meth:`MoveworksClient.get_conversation`."""
        return self.get_conn().get_conversation(conversation_id)

    def list_conversations(self, *, archived: bool = False, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """See :meth:`MoveworksClient.list_conversations`."""
        return self.get_conn().list_conversations(archived=archived, page_size=page_size)

    def test_connection(self) -> tuple[bool, str]:
        """Lists one conversation (changes nothing) in one attempt, at most 10 s in all (the
        token request included), and says which of the base URL, the token URL, the
        credentials and the assistant name failed."""
        try:
            config = self.settings
            attempts = 2 if config.uses_oauth else 1
            quick = dataclasses.replace(
                config, timeout=min(config.timeout, TEST_CONNECTION_TIMEOUT / attempts), max_retries=0
            )
            with self.new_client(quick) as client:
                next(client.list_conversations(page_size=1), None)
        except MoveworksError as error:
            return False, f"{_culprit(error)}: {error}"
        return True, f"Connected to {config.base_url} as assistant {config.assistant_name!r}"

    # -- connection form -------------------------------------------------------------------------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields (Airflow 2.11 to 3.1; 3.2+ reads provider info)."""
        return connection_form_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled, hidden and placeholder fields of the connection form."""
        return ui_field_behaviour()

    def __repr__(self) -> str:
        return f"MoveworksHook(moveworks_conn_id={self.moveworks_conn_id!r})"


def _mask(secret: str) -> None:
    """Tell Airflow's masker of a secret, so that the task log never shows it either."""
    mask_secret(secret)


def _culprit(error: MoveworksError) -> str:
    """Which part of the connection ``error`` points at."""
    if isinstance(error, MoveworksValidationError):
        return "The connection is not usable"
    if isinstance(error, MoveworksAuthenticationError):
        return "The credentials were refused"
    if isinstance(error, MoveworksTokenError):
        return "The OAuth token URL gave no token"
    if isinstance(error, MoveworksPermissionError):
        return "The assistant name was refused"
    if getattr(error, "status", None) == 429 or (getattr(error, "status", None) or 0) >= 500:
        return "Moveworks is unavailable or busy now"
    return "The base URL could not be used"
