"""HTTP plumbing: read the request, route it, inject faults, write one buffered JSON reply."""

from __future__ import annotations

import ipaddress
import json
import ssl
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from . import admin, oauth, routes
from .counters import DROPPED
from .errors import ApiError
from .faults import NO_FAULT, Decision
from .messages import Reply, Request

if TYPE_CHECKING:
    from .server import EmulatorHTTPServer

MAX_BODY = 1 << 20
UNMATCHED = "<unmatched>"
SERVER_NAME = "moveworks-emulator"
_date_cache: list[object] = [0, ""]
# Built once: json.dumps with any keyword argument builds a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_STATUS_CODES = {400: "INVALID_INPUT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def is_loopback(address: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


class _Drop(Exception):
    """An injected drop: close the connection without answering (counted as "dropped")."""


class _Gone(Exception):
    """The client hung up before its request was complete: nothing to answer, nothing to count."""


class EmulatorHandler(BaseHTTPRequestHandler):
    """One connection; ``handle()`` loops over keep-alive requests."""

    server: EmulatorHTTPServer
    protocol_version = "HTTP/1.1"
    # Buffer the whole reply and flush once: unbuffered writes plus Nagle cost ~40 ms per request.
    wbufsize = -1
    disable_nagle_algorithm = True
    timeout = 300  # idle keep-alive connections give their thread back eventually
    request_headers: dict[str, str] = {}
    raw_requestline: bytes  # set by handle_one_request before parse_request

    def setup(self) -> None:
        """Do the TLS handshake here, in the connection's thread, not in the accept loop."""
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    # -- logging: silent by default, so no request detail (let alone a secret) reaches stderr --
    def log_message(self, format: str, *args: Any) -> None:
        """Log only in verbose mode."""
        if self.server.emulator.verbose:
            sys.stderr.write(f"emulator: {format % args}\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log method, path without query string, and status (verbose mode only)."""
        if self.server.emulator.verbose:
            path = (self.path or "").partition("?")[0]
            sys.stderr.write(f"emulator: {self.command} {path} {int(code)}\n")

    def parse_request(self) -> bool:
        """Parse the request line and headers into a plain dict.

        Replaces the stdlib's email-based parser, which is about half the server's per-request cost.
        Header names are lower-cased; of repeated headers the first wins.
        """
        self.command, self.close_connection = "", True
        self.requestline = requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3:
            self.send_error(400, f"Bad request syntax ({requestline[:100]!r})")
            return False
        command, path, version = words
        if version not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(
                505 if version.startswith("HTTP/") else 400, f"Unsupported version {version[:20]!r}"
            )
            return False
        self.command, self.request_version = command, version
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        headers: dict[str, str] = {}
        for _ in range(100):
            line = self.rfile.readline(65537)
            if len(line) > 65536:
                self.send_error(431, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if not sep or not name or name != name.strip():
                # Also rejects obsolete line folding, which nothing legitimate sends any more.
                self.send_error(400, "Malformed header line")
                return False
            headers.setdefault(name.lower(), value.strip())
        else:
            self.send_error(431, "Too many headers")
            return False
        self.request_headers = headers
        connection = headers.get("connection", "").lower()
        self.close_connection = "close" in connection or (
            version == "HTTP/1.0" and "keep-alive" not in connection
        )
        if version == "HTTP/1.1" and headers.get("expect", "").lower() == "100-continue":
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        """Send ``100 Continue`` at once: the buffered writer would otherwise hold it back."""
        ok = super().handle_expect_100()
        self.wfile.flush()
        return ok

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, formatted once per second rather than once per response."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        if _date_cache[0] != now:
            _date_cache[:] = [now, super().date_time_string(now)]
        return str(_date_cache[1])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (malformed request line, bad headers...) as JSON too."""
        self.close_connection = True
        text = message or self.responses.get(code, ("Error",))[0]
        self._write(
            Reply(code, {"error": {"code": _STATUS_CODES.get(code, f"HTTP_{code}"), "message": text}})
        )

    def _write(self, reply: Reply) -> None:
        """Write status line, headers and body in one buffered write (flushed once by the caller)."""
        body = _ENCODER.encode(reply.payload).encode()
        phrase = self.responses.get(reply.status, ("",))[0]
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Server: {SERVER_NAME}",
            f"Date: {self.date_time_string()}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"x-moveworks-root-uuid: {uuid.uuid4()}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)
        self.log_request(reply.status)

    def _read_body(self) -> bytes:
        if self.request_headers.get("transfer-encoding", "").lower() == "chunked":
            try:
                return _read_chunked(self.rfile)
            except ApiError:
                self.close_connection = True  # the rest of the body cannot be skipped reliably
                raise
        length = (self.request_headers.get("content-length") or "0").strip()
        if not length.isdigit() or int(length) > MAX_BODY:
            self.close_connection = True  # the body cannot be skipped reliably
            raise ApiError(400, "INVALID_INPUT", f"Content-Length must be 0 to {MAX_BODY}")
        data = self.rfile.read(int(length))
        if len(data) < int(length):
            raise _Gone
        return data

    # -- dispatch --
    def _dispatch(self) -> None:
        emu = self.server.emulator
        path, _, query = self.path.partition("?")
        self._label = "none"  # the credential label, refined as soon as it is known
        route, counted, flat = UNMATCHED, True, False
        try:
            try:
                request = Request(self.command, path, query, self.request_headers, self._read_body())
                if path.startswith(admin.PREFIX + "/"):
                    counted = False
                    if not is_loopback(self.client_address[0]):
                        # They need no credentials: with --host 0.0.0.0 they would let anyone on
                        # the network read every conversation and change the faults.
                        raise ApiError(
                            403, "FORBIDDEN", "The /_emulator endpoints answer loopback clients only"
                        )
                    reply = admin.handle(emu, request)
                elif path == emu.token_path:
                    route, flat = emu.token_path, True
                    reply = self._token(request)
                elif path.startswith(emu.base_path + "/"):
                    matched = routes.match(path[len(emu.base_path) :])
                    if matched is None:
                        raise ApiError(404, "NOT_FOUND", "No such route")
                    route = matched[0]
                    reply = self._api(request, *matched)
                else:
                    raise ApiError(404, "NOT_FOUND", "No such route")
            except ApiError as err:
                # Errors of the token endpoint are flat; everything else nests them under "error".
                reply = Reply(err.status, err.body()["error"] if flat else err.body(), err.headers)
        except _Gone:
            self.close_connection = True
            return
        except _Drop:
            self.close_connection = True
            if counted:
                emu.request_counters.record(self.command, route, DROPPED, self._label)
            return
        if counted:
            emu.request_counters.record(self.command, route, reply.status, self._label)
        self._write(reply)

    def _faults(self) -> Decision:
        """Rate-limit, drop or fail the request before it can change state; else return what comes later."""
        emu = self.server.emulator
        decision = emu.fault_injector.decide(self._label)
        if decision.retry_after is not None:
            wait = [("Retry-After", str(decision.retry_after))] if decision.send_retry_after else []
            raise ApiError(429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded", wait)
        if decision.drop and not decision.drop_after_apply:
            raise _Drop
        if decision.error:
            raise ApiError(500, "INTERNAL_ERROR", "Injected internal error")
        return decision

    def _finish(self, decision: Decision, reply: Reply) -> Reply:
        """Faults that come after the state changed: a late drop, or a slow reply."""
        if decision.drop:
            raise _Drop
        if decision.slow:
            self.server.emulator.sleep(decision.slow)
        return reply

    def _delay(self) -> None:
        delay = self.server.emulator.fault_injector.latency()
        if delay:
            self.server.emulator.sleep(delay)

    def _api(self, request: Request, route: str, cid: str) -> Reply:
        emu = self.server.emulator
        allowed = routes.ALLOWED[route]
        if request.method not in allowed:
            raise ApiError(
                405, "METHOD_NOT_ALLOWED", f"Use {' or '.join(allowed)}", [("Allow", ", ".join(allowed))]
            )
        identity = emu.auth.identify(request.headers.get("authorization"))
        self._label = identity.label
        self._delay()
        if not identity.valid:
            raise ApiError(401, "UNAUTHORIZED", identity.reason)
        decision = self._faults()
        try:
            reply = routes.operate(emu, request, route, cid)
        except ApiError as err:
            reply = Reply(err.status, err.body(), err.headers)
        return self._finish(decision, reply)

    def _token(self, request: Request) -> Reply:
        emu = self.server.emulator
        if request.method != "POST":
            raise ApiError(405, "METHOD_NOT_ALLOWED", "Use POST", [("Allow", "POST")])
        grant, client_id, secret = oauth.client_of(request)
        self._label = emu.auth.client_label(client_id)
        decision = NO_FAULT
        if emu.fault_config.fault_token_endpoint:
            self._delay()
            decision = self._faults()
        try:
            reply = oauth.issue_token(emu, grant, client_id, secret)
        except ApiError as err:
            reply = Reply(err.status, err.body()["error"], err.headers)
        return self._finish(decision, reply)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def _read_chunked(rfile: Any) -> bytes:
    """A chunked request body, trailers discarded."""
    chunks: list[bytes] = []
    total = 0
    while True:
        line = rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _Gone from None
        total += size
        if total > MAX_BODY:
            raise ApiError(400, "INVALID_INPUT", "Request body too large")
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # discard trailers
            return b"".join(chunks)
        chunks.append(rfile.read(size))
        rfile.readline(1024)
