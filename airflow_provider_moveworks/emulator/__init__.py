"""A local, standard-library-only emulator of the Moveworks Conversations API (beta).

It serves the four conversation operations of ``conversations-api.openapi.yaml`` under
``base_path`` (default ``/rest/v1beta1``) plus ``POST /oauth/v1/token``, with injectable faults,
so the provider can be developed and tested without a Moveworks account::

    with MoveworksEmulator(seed_conversations=50, random_seed=0) as emu:
        requests.patch(f"{emu.base_url}/conversations/{cid}", json={"archived": True},
                       headers={"Authorization": "Bearer emulator-api-key",
                                "Assistant-Name": "emulator-assistant"})

or ``python -m airflow_provider_moveworks.emulator --port 0`` (prints ``KEY=value`` lines).

Choices the published spec leaves open (a strict, helpful server):

* **Check order**: route (404 unknown path, 405 wrong method, with ``Allow``) -> authentication
  (401 ``UNAUTHORIZED``) -> injected faults (429, dropped connection, 500) -> assistant (403
  ``FORBIDDEN``, "Invalid assistant") -> validation (400 ``INVALID_INPUT``/``INVALID_CURSOR``) ->
  existence (404 ``NOT_FOUND``). So a bad body on an unknown id is 400, and a bad assistant with a
  bad body is 403. Latency is added to every API response, 401s included.
* **Authorization**: ``Bearer`` (scheme case-insensitive) with a configured API key or an
  unexpired issued token. Any other scheme, a missing header, an unknown or expired token: 401.
* **Assistant-Name** must equal the configured name exactly (case-sensitive; only the optional
  whitespace HTTP itself strips around header values is ignored).
* **Unknown body fields** (PATCH and POST): 400 ``INVALID_INPUT`` naming them, so a typo such as
  ``{"archive": true}`` never passes as a silent no-op.
* **Empty PATCH body ``{}``**: 400 ``INVALID_INPUT`` ("Provide at least one of: title, archived").
  A missing or empty body, or any JSON that is not an object, is 400 as well.
* **Title**: a JSON string of 1-256 characters (Python ``len``, i.e. code points); ``""`` and
  whitespace-only titles are 400; ``null`` is 400 ("title must be a string"), so a title cannot be
  cleared. Titles are stored exactly as sent (no trimming). ``archived`` must be a JSON boolean
  (``"true"``, ``0``, ``null`` are 400). NaN/Infinity literals are rejected as invalid JSON.
* **POST /conversations**: the body is optional; without a title the conversation's title is
  ``null`` (no AI title is generated). Only ``title`` is accepted; status 201 with ``Location``.
* **Content-Type** of API requests is not checked; the body must parse as UTF-8 JSON.
* **Query strings**: unknown or repeated parameters are 400 ``INVALID_INPUT`` on every API route.
  ``limit`` must be 1-100 in plain digits; ``archived`` is ``true``/``false`` (case-insensitive,
  so Python's ``True`` passes). An empty, garbled, forged or foreign ``cursor``, or one used with
  a different ``archived`` filter than the page it came from, is 400 ``INVALID_CURSOR``.
* **Pagination** is keyset-based on (``updated_at``, id), newest first, ties broken by id
  descending: a conversation that exists for the whole walk appears exactly once. Cursors are
  HMAC-signed per emulator instance; ``metadata.next_cursor`` is ``null`` on the last page.
* **Ids** are ``conv_`` + 21 base-62 characters; any other id is simply unknown (404, not 400).
* **Timestamps**: ISO 8601 UTC with microseconds and ``Z``. ``updated_at`` is strictly increasing
  across the whole emulator, so it moves forward on every successful PATCH, even one that sets
  the same values (PATCH is otherwise idempotent). ``created_at`` never changes.
* **Seed data**: ids, titles, timestamps (over the 365 days before ``seed_epoch``, default the
  start of the current UTC day, so the same seed gives the same state all day) and the archived
  share all come from ``random_seed``.
* **Token endpoint**: form-encoded or JSON body, or HTTP Basic client auth (not both at once);
  extra parameters such as ``scope`` are ignored. Missing/unsupported ``grant_type`` or missing
  client fields: 400 ``INVALID_INPUT``; wrong client: 401 ``UNAUTHORIZED``. Errors here are flat
  ``{"code", "message"}`` as the API notes say; every other error is ``{"error": {...}}``.
  ``expires_in`` is the configured TTL (an int when whole, else a float such as 0.5).
  ``token_response_shape="wrapped"`` answers ``{"data": {...}}`` like the reference schema.
* **Faults** apply to API routes only (``fault_token_endpoint=True`` adds the token endpoint),
  after authentication, drawn from one RNG seeded by ``random_seed``. A rate-limited, dropped or
  500 request never changes state. ``drop_after_apply=True`` drops after the change instead
  (the client sees a connection error although the server acted). A slow response *is* applied
  and answered ``slow_seconds`` late, to mimic a client timeout after the server acted. The rate
  limit is a token bucket per credential label with a burst of ``max(1, rate)``; 429 carries
  ``Retry-After`` in whole seconds unless ``retry_after=False`` (the real API documents none).
  Delays (``latency``, ``jitter``, ``slow_seconds``) are numbers of seconds from 0 to
  ``MAX_DELAY_SECONDS`` (3600, one hour): a negative, infinite, NaN or larger one is refused, a
  ``ValueError`` from ``configure``, 400 ``INVALID_INPUT`` from ``POST /_emulator/faults`` and a
  usage error from the command line.
* **Dropped connections** are closed after the whole request was read, with no status line.
* **Paths** are configurable: ``base_path`` (default ``/rest/v1beta1``; the demo app used
  ``/rest/v1``) and ``token_path`` (default ``/oauth/v1/token``).
* **Transport**: HTTP/1.1 keep-alive; ``Connection: close`` is honoured and echoed; chunked
  request bodies are accepted; bodies over 1 MiB or a bad ``Content-Length`` are 400 and close the
  connection. With ``ssl_context`` the listening socket is wrapped (handshake in the connection's
  thread). A client hanging up mid-request is ignored silently.
* **Every response** (errors, 429, token and admin endpoints) carries a fresh uuid4 in
  ``x-moveworks-root-uuid`` and is JSON with a correct ``Content-Length``; protocol errors too.
* **Admin endpoints** under ``/_emulator`` (``state``, ``counters``, ``faults`` GET/POST,
  ``reset-counters``, ``health``) need no auth, get no faults and are not counted.
* **Counters** are keyed by (method, route template, status or ``"dropped"``, credential label):
  ``api_key:N`` (1-based position), ``client:<id>``, ``unknown`` (unrecognised token or client
  id) or ``none``. Unmatched paths count under route ``<unmatched>``. Each key also keeps the
  times (seconds since the epoch) of its first and last request: ``first`` and ``last`` in
  ``GET /_emulator/counters``, so that a client can tell the rate it was answered at.
* **Secrets** are never logged: no access log by default, ``verbose`` logs method, path (no query)
  and status only. The CLI's credentials banner is the one deliberate exception.
"""

from __future__ import annotations

from .faults import FaultConfig
from .server import (
    DEFAULT_API_KEY,
    DEFAULT_ASSISTANT,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    MoveworksEmulator,
)
from .state import Conversation

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_ASSISTANT",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Conversation",
    "FaultConfig",
    "MoveworksEmulator",
]
