"""Credentials: configured API keys, OAuth clients, and the access tokens issued to them."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """Who sent a request. ``label`` is non-secret and is what counters and rate limits key on."""

    label: str
    valid: bool
    reason: str = ""


NO_CREDENTIAL = Identity("none", False, "Missing or malformed Authorization header")


class CredentialStore:
    """Checks bearer tokens and issues client-credentials access tokens.

    :param api_keys: static bearer tokens accepted forever (labelled ``api_key:1``, ``api_key:2``...).
    :param clients: OAuth client id -> client secret.
    :param token_ttl: lifetime of issued access tokens, in (possibly fractional) seconds.
    :param clock: monotonic seconds deciding expiry (tests pass a fake one).
    """

    def __init__(
        self,
        api_keys: Iterable[str],
        clients: Mapping[str, str],
        token_ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._api_keys = {key: f"api_key:{n}" for n, key in enumerate(api_keys, start=1)}
        self._clients = dict(clients)
        self.token_ttl = float(token_ttl)
        self._lock = threading.Lock()
        # token -> (client id, monotonic expiry). Expired tokens stay so they answer "expired".
        self._tokens: dict[str, tuple[str, float]] = {}
        self.tokens_issued = 0

    def client_label(self, client_id: str | None) -> str:
        """Counter label for a token request: the client id only when it is a configured one."""
        if client_id is None:
            return "none"
        return f"client:{client_id}" if client_id in self._clients else "unknown"

    def check_client(self, client_id: str, client_secret: str) -> bool:
        """True when the pair matches a configured client (constant-time on the secret)."""
        expected = self._clients.get(client_id)
        ok = hmac.compare_digest(client_secret.encode(), (expected or "\0").encode())
        return expected is not None and ok

    def issue(self, client_id: str) -> str:
        """Issue a fresh access token for a client already checked with ``check_client``."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._tokens) > 10_000:
                # Bound memory in long CLI runs; an hour past expiry nobody needs the "expired" reason.
                self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now - 3600}
            self._tokens[token] = (client_id, now + self.token_ttl)
            self.tokens_issued += 1
        return token

    def issued_tokens(self) -> list[str]:
        """Every access token still remembered (for tests proving that none leaked)."""
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> None:
        """Make every issued token expired now (to test a client's refresh path)."""
        with self._lock:
            self._tokens = {t: (cid, 0.0) for t, (cid, _) in self._tokens.items()}

    def identify(self, authorization: str | None) -> Identity:
        """Resolve an ``Authorization`` header to an identity; ``valid`` is False for 401 cases."""
        if not authorization:
            return NO_CREDENTIAL
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return NO_CREDENTIAL
        label = self._api_keys.get(token)
        if label is not None:
            return Identity(label, True)
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None:
            return Identity("unknown", False, "Invalid access token")
        client_id, expires = entry
        if self._clock() >= expires:
            return Identity(f"client:{client_id}", False, "Access token expired")
        return Identity(f"client:{client_id}", True)
