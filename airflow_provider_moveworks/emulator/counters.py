"""Request counters keyed by (method, route template, status, credential label), each with the
times of its first and last request, so that a client can tell the rate it was answered at."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

Status = int | str  # an HTTP status, or "dropped" for a connection closed without a response
CounterKey = tuple[str, str, Status, str]

DROPPED = "dropped"


class RequestCounters:
    """Thread-safe tally of the requests the emulator answered (or dropped)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._counts: Counter[CounterKey] = Counter()
        # (first, last): the clock when the key's first and latest requests were counted.
        self._times: dict[CounterKey, tuple[float, float]] = {}

    def record(self, method: str, route: str, status: Status, credential: str) -> None:
        """Count one request, at the clock's time."""
        key = (method, route, status, credential)
        with self._lock:
            now = self._clock()
            self._counts[key] += 1
            first = self._times.get(key, (now, now))[0]
            self._times[key] = (first, now)

    def snapshot(self) -> dict[CounterKey, int]:
        """Return a copy of every count."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()
            self._times.clear()

    def total(
        self,
        method: str | None = None,
        route: str | None = None,
        status: Status | None = None,
        credential: str | None = None,
    ) -> int:
        """Sum the counts matching every filter given (None matches anything)."""
        wanted = (method, route, status, credential)
        return sum(
            count
            for key, count in self.snapshot().items()
            if all(w is None or w == k for w, k in zip(wanted, key, strict=True))
        )

    def times(self) -> dict[CounterKey, tuple[float, float]]:
        """The (first, last) request time of every key, in seconds since the epoch."""
        with self._lock:
            return dict(self._times)

    def as_json(self) -> list[dict[str, object]]:
        """Return the counts as JSON-ready rows, sorted for stable output; ``first`` and ``last``
        are the times (seconds since the epoch) of the key's first and latest request."""
        with self._lock:
            counts, times = dict(self._counts), dict(self._times)
        rows = sorted(counts.items(), key=lambda item: tuple(str(part) for part in item[0]))
        return [
            {"method": m, "route": r, "status": s, "credential": c, "count": n}
            | {"first": times[(m, r, s, c)][0], "last": times[(m, r, s, c)][1]}
            for (m, r, s, c), n in rows
        ]
