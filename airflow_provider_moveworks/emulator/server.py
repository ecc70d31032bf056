"""``MoveworksEmulator``: the in-process server object tying store, auth, faults and counters together."""

from __future__ import annotations

import contextlib
import random
import secrets
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

from .auth import CredentialStore
from .counters import CounterKey, RequestCounters, Status
from .cursor import CursorCodec
from .faults import FaultConfig, FaultInjector
from .handler import EmulatorHandler
from .state import Conversation, ConversationStore, start_of_today_us, to_us

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_CLIENT_ID = "emulator-client"
DEFAULT_CLIENT_SECRET = "emulator-secret"  # noqa: S105 - a documented, public test credential
DEFAULT_ASSISTANT = "emulator-assistant"
DEFAULT_BASE_PATH = "/rest/v1beta1"
DEFAULT_TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 - a path, not a secret

_WILDCARD_TO_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that tracks its connections so ``stop()`` can cut them at once."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: MoveworksEmulator) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        self._active: set[socket.socket] = set()
        self._active_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(address, EmulatorHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup (``getfqdn`` can stall for seconds)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember (and count) the connection, then serve it on a daemon thread."""
        with self._active_lock:
            self._active.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection and close it."""
        with self._active_lock:
            self._active.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet: a client hanging up mid-request is normal, not worth a traceback."""
        if self.emulator.verbose:
            sys.stderr.write(f"emulator: connection error: {sys.exc_info()[0].__name__}\n")  # type: ignore[union-attr]

    def close_connections(self) -> None:
        """Shut down every open connection so keep-alive clients see the server go away now."""
        with self._active_lock:
            active = list(self._active)
        for sock in active:
            # The plain-socket shutdown, so a TLS socket is cut without a close_notify dance.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class MoveworksEmulator:
    """A local stand-in for the Moveworks Conversations API; see the package docstring.

    Use it as a context manager (or ``start()``/``stop()``); it serves from a daemon thread.
    ``clock`` (monotonic seconds) decides rate-limit refills and token expiry: tests pass a fake
    one to step time instead of sleeping.
    Fault knobs (``latency``, ``jitter``, ``rate_limit``, ``retry_after``, ``error_rate``,
    ``drop_rate``, ``drop_after_apply``, ``slow_rate``, ``slow_seconds``,
    ``fault_token_endpoint``) are keyword arguments here and can change later via ``configure``.
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = (DEFAULT_API_KEY,),
        clients: Mapping[str, str] | None = None,
        assistant_name: str = DEFAULT_ASSISTANT,
        seed_conversations: int = 0,
        archived_share: float = 0.2,
        random_seed: int | None = None,
        seed_epoch: datetime | str | None = None,
        token_ttl: float = 3600.0,
        token_response_shape: Literal["flat", "wrapped"] = "flat",  # noqa: S107
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        base_path: str = DEFAULT_BASE_PATH,
        token_path: str = DEFAULT_TOKEN_PATH,
        verbose: bool = False,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        **fault_knobs: Any,
    ) -> None:
        if token_response_shape not in ("flat", "wrapped"):
            raise ValueError("token_response_shape must be 'flat' or 'wrapped'")
        self.api_keys = tuple(api_keys)
        self.clients = dict({DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET} if clients is None else clients)
        self.assistant_name = assistant_name
        self.token_response_shape = token_response_shape
        self.ssl_context = ssl_context
        self.host, self._requested_port = host, port
        # "rest/v1" and "/rest/v1/" are the same path; without the leading slash the URLs would
        # run the port into the path (http://127.0.0.1:8787rest/v1).
        self.base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""
        self.token_path = "/" + token_path.lstrip("/")
        self.verbose = verbose
        master = random.Random(random_seed)
        self.store = ConversationStore(random.Random(master.getrandbits(64)))
        self.fault_injector = FaultInjector(
            (faults or FaultConfig()).replace(**fault_knobs), random.Random(master.getrandbits(64)), clock
        )
        self.auth = CredentialStore(self.api_keys, self.clients, token_ttl, clock)
        self.request_counters = RequestCounters()
        self.cursors = CursorCodec(secrets.token_bytes(32))
        anchor = start_of_today_us() if seed_epoch is None else to_us(seed_epoch)
        self.store.seed(seed_conversations, archived_share, anchor)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle --
    def start(self) -> MoveworksEmulator:
        """Bind (port 0 picks a free one) and serve from a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = EmulatorHTTPServer((self.host, self._requested_port), self)
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="moveworks-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut open connections and close the listening socket (well under a second)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()  # wakes handlers sleeping on latency / slow faults
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> MoveworksEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def sleep(self, seconds: float) -> None:
        """Sleep for an injected delay, returning early when the emulator stops."""
        self._stopping.wait(seconds)

    # -- addresses --
    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321``."""
        scheme = "https" if self.ssl_context is not None else "http"
        # Listening on every address (0.0.0.0, ::) is not an address to connect to: the URLs, and
        # so the banner's ready-to-paste connection, name this machine's loopback address instead.
        host = _WILDCARD_TO_LOOPBACK.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"{scheme}://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """API base URL, e.g. ``http://127.0.0.1:54321/rest/v1beta1``."""
        return self.url + self.base_path

    @property
    def token_url(self) -> str:
        """OAuth token URL, e.g. ``http://127.0.0.1:54321/oauth/v1/token``."""
        return self.url + self.token_path

    # -- faults and credentials --
    @property
    def fault_config(self) -> FaultConfig:
        """The fault knobs in force now."""
        return self.fault_injector.config

    def configure(self, **knobs: Any) -> FaultConfig:
        """Change fault knobs at runtime, e.g. ``configure(error_rate=0.1)``; returns the new config."""
        return self.fault_injector.configure(**knobs)

    @property
    def token_ttl(self) -> float:
        """Lifetime of newly issued access tokens, in seconds."""
        return self.auth.token_ttl

    @token_ttl.setter
    def token_ttl(self, seconds: float) -> None:
        self.auth.token_ttl = float(seconds)

    def expire_tokens(self) -> None:
        """Expire every access token issued so far (API keys are unaffected)."""
        self.auth.expire_tokens()

    @property
    def tokens_issued(self) -> int:
        """How many access tokens were issued since start."""
        return self.auth.tokens_issued

    def issued_tokens(self) -> list[str]:
        """The access tokens issued so far, for tests that prove none of them leaked."""
        return self.auth.issued_tokens()

    # -- state --
    def conversations(self) -> dict[str, Conversation]:
        """A snapshot of every conversation, id -> conversation, newest ``updated_at`` first."""
        return self.store.snapshot()

    def get(self, conversation_id: str) -> Conversation | None:
        """One conversation (a copy), or None if unknown."""
        return self.store.get(conversation_id)

    def add_conversation(
        self,
        title: str | None = None,
        archived: bool = False,
        updated_at: datetime | str | None = None,
        created_at: datetime | str | None = None,
    ) -> Conversation:
        """Create a conversation directly (no HTTP, not counted); timestamps default to now."""
        return self.store.create(
            title=title,
            archived=archived,
            created_us=None if created_at is None else to_us(created_at),
            updated_us=None if updated_at is None else to_us(updated_at),
        )

    # -- counters --
    def counters(self) -> dict[CounterKey, int]:
        """Request counts keyed by (method, route template, status or "dropped", credential label)."""
        return self.request_counters.snapshot()

    def counter_rows(self) -> list[dict[str, object]]:
        """The counters as JSON-ready rows."""
        return self.request_counters.as_json()

    def request_count(
        self,
        method: str | None = None,
        route: str | None = None,
        status: Status | None = None,
        credential: str | None = None,
    ) -> int:
        """Total of the counters matching every filter given."""
        return self.request_counters.total(method, route, status, credential)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted since start: keep-alive clients open one and reuse it."""
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.connections_accepted

    def reset_counters(self) -> None:
        """Zero every request counter."""
        self.request_counters.reset()

    @property
    def token_requests(self) -> int:
        """Requests to the token endpoint since the last counter reset, whatever their outcome."""
        return self.request_counters.total(route=self.token_path)
