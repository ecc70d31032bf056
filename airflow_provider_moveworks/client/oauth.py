"""The OAuth client-credentials grant: asking the token endpoint, and reading its answer into
``(access_token, expires_in)`` or an error that says why it holds no usable bearer token."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from airflow_provider_moveworks.client.call import ApiCall
from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.responses import json_object, positive_seconds
from airflow_provider_moveworks.client.secrets import SecretRegistry
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksCancelledError,
    MoveworksClientError,
    MoveworksError,
    MoveworksTimeoutError,
    MoveworksTokenError,
)
from airflow_provider_moveworks.validation import header_value_problem

# A token that expires sooner cannot carry a request: every call would fetch another.
MIN_TOKEN_LIFETIME = 1.0
# The most values of a token answer looked through for tokens to keep out of messages.
MAX_TOKEN_ANSWER_NODES = 10_000
# How a token endpoint refuses client credentials (RFC 6749, section 5.2); any other 4xx (404,
# 405...) says the token URL is wrong.
REFUSALS = (400, 401, 403)
_THEN = "Every request of this task needs a token, so none is sent; the task's retries ask again"


class TokenEndpoint:
    """Fetches tokens for :class:`~airflow_provider_moveworks.client.auth.ClientCredentialsAuth`.

    :param send: sends a call with the client's retries and returns the response.
    """

    def __init__(
        self,
        config: ClientConfig,
        send: Callable[[ApiCall], requests.Response],
        secrets: SecretRegistry,
    ) -> None:
        self._config = config
        self._send = send
        self._secrets = secrets

    def fetch(self) -> tuple[str, float]:
        """Form-encoded, with the client's retries. Accepts the flat answer and the one wrapped in
        ``data``. A refusal (4xx) is a :class:`MoveworksAuthenticationError`; an endpoint that
        keeps failing, or whose answer carries no usable token (a sign-in page, a proxy's HTML,
        JSON without a bearer token), is a :class:`MoveworksTokenError`."""
        config = self._config
        call = ApiCall(
            "POST",
            config.token_url,
            f"Fetching an OAuth token from {config.token_url}",
            data={
                "grant_type": "client_credentials",
                "client_id": config.client_id,
                "client_secret": config.secret,
            },
            authorized=False,
            client_error_class=MoveworksAuthenticationError,
        )
        answer = self._answer(call)
        outcome = self._read(answer, call.purpose) if isinstance(answer, requests.Response) else answer
        if isinstance(outcome, tuple):
            return outcome
        if outcome.retryable or isinstance(outcome, MoveworksTimeoutError):
            raise MoveworksTokenError(
                f"The OAuth token endpoint failed through its retries: {outcome}. {_THEN}",
                retry_after=getattr(outcome, "retry_after", None),
            )
        if isinstance(outcome, MoveworksClientError) or (  # an answer, but neither a token nor a refusal
            isinstance(outcome, MoveworksAuthenticationError) and outcome.status not in REFUSALS
        ):
            raise MoveworksTokenError(f"The OAuth token endpoint gave no usable token: {outcome}. {_THEN}")
        raise outcome

    def _answer(self, call: ApiCall) -> requests.Response | MoveworksError:
        try:
            return self._send(call)
        except MoveworksCancelledError:
            raise
        except MoveworksError as error:
            failure = error
        return failure  # returned, not raised in the handler: it must not become a context

    def _read(self, response: requests.Response, purpose: str) -> tuple[str, float] | MoveworksError:
        """``(access_token, expires_in)`` from a 2xx answer, or the error saying why not."""
        self._keep_tokens_in(response)
        try:
            body = json_object(
                response, purpose, self._secrets.redact, url_field="OAuth token URL", quote_body=False
            )
        except MoveworksClientError as error:
            return error
        data = body["data"] if isinstance(body.get("data"), dict) else body
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            return _unusable(response, purpose, "the answer has no access_token")
        self._secrets.keep(token)
        token_type = data.get("token_type", "Bearer")  # optional in practice, though RFC 6749 asks for it
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            shown = (
                repr(self._secrets.redact(token_type)[:40])
                if isinstance(token_type, str)
                else _with_article(type(token_type).__name__)
            )
            return _unusable(response, purpose, f"the answer's token_type is {shown}, not Bearer")
        unsendable = header_value_problem(token)
        if unsendable:
            return _unusable(response, purpose, f"the issued access_token {unsendable}, so it cannot be sent")
        expires_in = positive_seconds(data.get("expires_in", 60))
        if expires_in is None:
            return _unusable(response, purpose, "the answer's expires_in is not a positive number of seconds")
        if expires_in < MIN_TOKEN_LIFETIME:
            return _unusable(
                response, purpose, f"the answer's expires_in of {expires_in:g} s is too short to use"
            )
        return token, expires_in

    def _keep_tokens_in(self, response: requests.Response) -> None:
        """Keep as secrets the strings under any ``*token`` key of a token answer, whatever its
        shape: a message about an answer it cannot use quotes its start."""
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
                        self._secrets.keep(value)
                    pending.append(value)
            elif isinstance(node, list):
                pending.extend(node)


def _unusable(response: requests.Response, purpose: str, problem: str) -> MoveworksClientError:
    return MoveworksClientError(f"{purpose}: {problem}", status=response.status_code)


def _with_article(name: str) -> str:
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
