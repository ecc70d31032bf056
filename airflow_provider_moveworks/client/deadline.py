"""One deadline per attempt. ``requests``' timeout bounds each socket operation, so a server that
trickles a byte a second never trips it. Here a watchdog shuts the attempt's socket down when the
attempt's time is up, which ends a blocked read of the headers or body at once; the client then
reports a timeout. The connection classes note when the request has been sent in full, so that
a timeout can say whether Moveworks may have received it.

The clock starts with the attempt's first network step (opening a connection, or sending on a
kept-alive one): the deadline covers connect, send, headers and body, but not the time a thread
waits for its turn to run before that (many busy threads on few cores). A request is never cut
in half: until it is out, connect and send are bounded by the timeout of each socket operation
(a small request never waits on the server to send), and a deadline that passed meanwhile shuts
the socket the moment the request is out. So every attempt either reached the server whole or
failed before the server could see it.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import threading
import time
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

_current = threading.local()


class AttemptDeadline:
    """``with AttemptDeadline(seconds) as deadline:`` around one request on this thread."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.aborted = False  # ended by abort(), not by its time
        self.sent = False
        self.finished = False
        self.connecting = False
        self.connect_failed = False  # opening the connection failed: nothing was sent
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._outer: AttemptDeadline | None = None
        self._started = False

    def __enter__(self) -> AttemptDeadline:
        self._outer = getattr(_current, "deadline", None)
        _current.deadline = self
        return self

    def start(self) -> None:
        """The attempt's first network step: the clock starts now (later calls change nothing)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        _WATCHDOG.watch(self, time.monotonic() + self.seconds)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self.finished = True
            self._sockets.clear()
        _current.deadline = self._outer

    def use(self, sock: socket.socket | None) -> None:
        """The attempt is using this socket: shut it down when time is up."""
        if sock is None:
            return
        with self._lock:
            if self.aborted:
                _shut(sock)
            elif not self.finished:
                self._sockets.append(sock)
                if self.expired and self._may_cut():
                    _shut(sock)

    def connect_phase(self, connecting: bool) -> None:
        """Opening the connection: the TCP connect, a proxy's CONNECT tunnel, the TLS handshake.
        Nothing of the request has left yet, so an expired deadline may end it at once (a proxy
        trickling its answer to CONNECT would otherwise stretch the attempt without end)."""
        with self._lock:
            self.connecting = connecting
            if connecting and self.expired:
                self._shut_all()

    def _may_cut(self) -> bool:
        """Shutting the socket now cannot cut a request in half."""
        return self.sent or self.connecting

    def request_sent(self) -> None:
        """The whole request is out: from now on an expired deadline ends the attempt."""
        with self._lock:
            self.sent = True
            if self.expired:
                self._shut_all()

    def abort(self) -> None:
        """End the attempt now, sent or not (its client is closing): shut its sockets down."""
        with self._lock:
            if self.finished:
                return
            self.aborted = self.expired = True
            self._shut_all()

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
            if self._may_cut():
                self._shut_all()

    def _shut_all(self) -> None:
        for sock in self._sockets:
            _shut(sock)


def current_deadline() -> AttemptDeadline | None:
    return getattr(_current, "deadline", None)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every deadline of the process, woken for the earliest one."""

    def __init__(self) -> None:
        self._reset()
        # A forked task process has no watchdog thread, and the lock may have been held: start over.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, AttemptDeadline]] = []
        self._order = itertools.count()
        self._running = False

    def watch(self, deadline: AttemptDeadline, at: float) -> None:
        with self._wake:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="moveworks-deadlines", daemon=True).start()
            heapq.heappush(self._due, (at, next(self._order), deadline))
            if self._due[0][2] is deadline:  # else the thread already wakes sooner
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._due and self._due[0][2].finished:
                    heapq.heappop(self._due)
                if not self._due:
                    self._wake.wait()
                    continue
                at = self._due[0][0]
                now = time.monotonic()
                if at > now:
                    self._wake.wait(at - now)
                    continue
                deadline = heapq.heappop(self._due)[2]
            deadline.expire()


_WATCHDOG = _Watchdog()


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        _start()  # the TCP connect is part of the attempt
        sock = super()._new_conn()
        _use(sock)  # before a proxy's CONNECT tunnel or the TLS handshake, which read from it
        return sock

    def connect(self) -> None:
        deadline = current_deadline()
        if deadline is not None:
            deadline.connect_phase(True)
        try:
            super().connect()
        except BaseException:
            if deadline is not None:
                deadline.connect_failed = True
            raise
        finally:
            if deadline is not None:
                deadline.connect_phase(False)
        _use(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _start()
        _use(self.sock)
        super().request(*args, **kwargs)
        deadline = current_deadline()
        if deadline is not None:
            deadline.request_sent()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


def _start() -> None:
    deadline = current_deadline()
    if deadline is not None:
        deadline.start()


def _use(sock: socket.socket | None) -> None:
    deadline = current_deadline()
    if deadline is not None:
        deadline.use(sock)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections (direct or through a proxy) obey the deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> ProxyManager:
        manager: ProxyManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
