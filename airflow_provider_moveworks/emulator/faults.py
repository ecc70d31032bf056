"""Fault injection: latency, per-credential rate limiting, 500s, dropped connections, slow replies."""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The longest delay a fault knob may ask for (``latency``, ``jitter``, ``slow_seconds``): one hour.
# Longer (or infinite) delays left every API request ending in an empty reply, with nothing logged.
MAX_DELAY_SECONDS = 3600.0


def check_delay(name: str, value: Any) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a number of seconds from 0 to
    :data:`MAX_DELAY_SECONDS`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must not be negative")
    if not math.isfinite(value):
        raise ValueError(
            f"{name} must be a finite number of seconds from 0 to {MAX_DELAY_SECONDS:g}, got {value!r}"
        )
    if value > MAX_DELAY_SECONDS:
        raise ValueError(f"{name} must be at most {MAX_DELAY_SECONDS:g} seconds, got {value:g}")


@dataclass(frozen=True)
class FaultConfig:
    """Every fault knob; all off by default.

    :param latency: seconds added to every API response, 0 to :data:`MAX_DELAY_SECONDS` (3600).
    :param jitter: up to this many extra seconds (at most 3600), drawn uniformly per response.
    :param rate_limit: requests/second allowed per credential (token bucket, burst = max(1, rate));
        None or 0 turns rate limiting off.
    :param retry_after: send ``Retry-After`` (whole seconds) with 429; the real API documents none.
    :param error_rate: share of requests answered 500 INTERNAL_ERROR without changing state.
    :param drop_rate: share of requests whose connection is closed with no response at all.
    :param drop_after_apply: drop only after the change was applied (default: before, state unchanged).
    :param slow_rate: share of responses delayed by ``slow_seconds`` after the change was applied.
    :param slow_seconds: the delay of a slow response, at most 3600 seconds.
    :param fault_token_endpoint: also inject faults into ``POST /oauth/v1/token``.
    """

    latency: float = 0.0
    jitter: float = 0.0
    rate_limit: float | None = None
    retry_after: bool = True
    error_rate: float = 0.0
    drop_rate: float = 0.0
    drop_after_apply: bool = False
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    fault_token_endpoint: bool = False

    def __post_init__(self) -> None:
        for name in ("error_rate", "drop_rate", "slow_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        for name in ("latency", "jitter", "slow_seconds"):
            check_delay(name, getattr(self, name))
        if self.rate_limit is not None:
            if self.rate_limit < 0:
                raise ValueError("rate_limit must not be negative")
            if not math.isfinite(self.rate_limit):
                raise ValueError(
                    f"rate_limit must be a finite number of requests per second (0 or None: no "
                    f"limit), got {self.rate_limit!r}"
                )

    def replace(self, **changes: Any) -> FaultConfig:
        """Return a copy with ``changes`` applied (unknown names raise TypeError)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Return the knobs as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Decision:
    """What to do to one request, decided before it touches any state."""

    retry_after: int | None = None  # set: answer 429 with this many seconds to wait
    send_retry_after: bool = True
    drop: bool = False
    drop_after_apply: bool = False
    error: bool = False
    slow: float = 0.0

    @property
    def rate_limited(self) -> bool:
        """True when the request is over the rate limit."""
        return self.retry_after is not None


NO_FAULT = Decision()


class FaultInjector:
    """Draws fault decisions from one seeded RNG, so a given seed and request order repeat exactly.

    :param config: the initial knobs.
    :param rng: the random source (seed it for reproducible faults).
    :param clock: monotonic seconds refilling the rate limit (tests pass a fake one).
    """

    def __init__(
        self, config: FaultConfig, rng: random.Random, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._config = config
        self._rng = rng
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # label -> (tokens, last refill time)

    @property
    def config(self) -> FaultConfig:
        """The knobs in force now."""
        return self._config

    def configure(self, **changes: Any) -> FaultConfig:
        """Change knobs at runtime; a new rate limit starts every credential with a full bucket."""
        with self._lock:
            self._config = self._config.replace(**changes)
            if "rate_limit" in changes:
                self._buckets.clear()
            return self._config

    def latency(self) -> float:
        """Seconds to add to the next API response (base latency plus jitter)."""
        cfg = self._config
        if not cfg.latency and not cfg.jitter:
            return 0.0
        with self._lock:
            return cfg.latency + self._rng.uniform(0.0, cfg.jitter)

    def _take(self, cfg: FaultConfig, label: str) -> int | None:
        rate = cfg.rate_limit
        if not rate:
            return None
        burst = max(1.0, rate)
        now = self._clock()
        tokens, last = self._buckets.get(label, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[label] = (tokens - 1.0, now)
            return None
        self._buckets[label] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / rate))

    def decide(self, label: str) -> Decision:
        """Decide the faults for one request from credential ``label``."""
        cfg = self._config
        if not (cfg.rate_limit or cfg.drop_rate or cfg.error_rate or cfg.slow_rate):
            return NO_FAULT  # the fast path: no lock, no draws
        with self._lock:
            wait = self._take(cfg, label)
            if wait is not None:
                return Decision(retry_after=wait, send_retry_after=cfg.retry_after)
            # Always draw all three so one knob's setting never shifts another knob's sequence.
            drop, error, slow = self._rng.random(), self._rng.random(), self._rng.random()
        return Decision(
            drop=drop < cfg.drop_rate,
            drop_after_apply=cfg.drop_after_apply,
            error=error < cfg.error_rate,
            slow=cfg.slow_seconds if slow < cfg.slow_rate else 0.0,
        )
