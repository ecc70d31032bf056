"""Request counters keyed by (method, route template, status, credential label)."""

from __future__ import annotations

import threading
from collections import Counter

Status = int | str  # an HTTP status, or "dropped" for a connection closed without a response
CounterKey = tuple[str, str, Status, str]

DROPPED = "dropped"


class RequestCounters:
    """Thread-safe tally of the requests the emulator answered (or dropped)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[CounterKey] = Counter()

    def record(self, method: str, route: str, status: Status, credential: str) -> None:
        """Count one request."""
        with self._lock:
            self._counts[(method, route, status, credential)] += 1

    def snapshot(self) -> dict[CounterKey, int]:
        """Return a copy of every count."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

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

    def as_json(self) -> list[dict[str, object]]:
        """Return the counts as JSON-ready rows, sorted for stable output."""
        rows = sorted(self.snapshot().items(), key=lambda item: tuple(str(part) for part in item[0]))
        return [
            {"method": m, "route": r, "status": s, "credential": c, "count": n} for (m, r, s, c), n in rows
        ]
