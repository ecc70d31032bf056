"""One deadline per attempt. ``requests``' timeout bounds each socket operation, so a server that
trickles a byte a second never trips it. Here a watchdog shuts the attempt's socket down when the
attempt's time is up, which ends a blocked connect, send or read at once; the hook then reports a
timeout. The connection classes also note when the request has been sent in full, so that a
timeout can say whether Moveworks may have received it.
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
        self.sent = False
        self.finished = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._outer: AttemptDeadline | None = None

    def __enter__(self) -> AttemptDeadline:
        self._outer = getattr(_current, "deadline", None)
        _current.deadline = self
        _WATCHDOG.watch(self, time.monotonic() + self.seconds)
        return self

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
            if self.expired:
                _shut(sock)
            elif not self.finished:
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self.finished:
                return
            self.expired = True
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
        self._wake = threading.Condition()
        self._due: list[tuple[float, int, AttemptDeadline]] = []
        self._order = itertools.count()
        self._pid: int | None = None

    def watch(self, deadline: AttemptDeadline, at: float) -> None:
        with self._wake:
            if self._pid != os.getpid():  # first use, or a forked task process without the thread
                self._pid = os.getpid()
                self._due.clear()
                threading.Thread(target=self._run, name="moveworks-deadlines", daemon=True).start()
            heapq.heappush(self._due, (at, next(self._order), deadline))
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
    def connect(self) -> None:
        super().connect()
        _use(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _use(self.sock)
        super().request(*args, **kwargs)
        deadline = current_deadline()
        if deadline is not None:
            deadline.sent = True


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


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
