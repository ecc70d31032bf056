"""The adaptive rate limiter that every request of a bulk run passes through.

It paces requests evenly (a token bucket kept as "the next free slot", with a 50 ms burst
allowance) and adapts the pace to the server (AIMD):

* on a 429 (:meth:`throttled`) every worker pauses until the server's ``Retry-After`` (or the
  hook's backoff) has passed, and the rate is cut: to half the measured send rate the first time
  (when there was no rate yet), then by 15% per throttling episode. 429s answering requests sent
  before the last cut belong to the same episode and do not cut again;
* on each success (:meth:`succeeded`) the rate grows by a small step, so that it climbs by 2% of
  the rate found at the last cut per second: back to the limit within ~10 s, probing gently.

The rate never exceeds ``max_rate`` and never falls below ``MIN_RATE`` (or ``max_rate``, if
lower). With neither a ``max_rate`` nor any 429 the limiter only counts, and requests are not
held at all.

Why a pause refills rather than wastes: a server's token bucket fills while nobody sends, so
waiting out ``Retry-After`` and then sending at a rate just above the limit delivers the limit
on average; the gentle decrease keeps the next episode far away.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

FIRST_DECREASE = 0.5
DECREASE = 0.85
INCREASE_PER_SECOND = 0.02
MIN_RATE = 0.5
BURST_SECONDS = 0.05
MEASURE_WINDOW = 1.0


class RateLimiter(Protocol):
    """What the workers of a bulk run pace themselves with: this module's limiter, or the budget
    shared through Redis (:mod:`~airflow_provider_moveworks.bulk.shared_budget`)."""

    @property
    def rate(self) -> float | None: ...

    def acquire(self) -> None: ...

    def throttled(self, delay: float) -> None: ...

    def succeeded(self) -> None: ...

    def cancel(self) -> None: ...


class AdaptiveRateLimiter:
    """Blocks in :meth:`acquire` until a request may leave; see the module docstring.

    :param max_rate: requests per second never to exceed (``None``: only the server limits).
    :param clock: monotonic seconds (tests pass a fake).
    :param wait: how to wait (tests pass one that moves their clock); the default returns early
        on :meth:`cancel`.
    """

    def __init__(
        self,
        max_rate: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._max_rate = max_rate
        self._rate = max_rate
        self._reference = max_rate  # the rate at the last cut: the size of the additive step
        self._clock = clock
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._wait = wait or self._cancelled.wait
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._last_cut = float("-inf")
        self._sent_at = threading.local()  # when this thread's request left: which episode a 429 answers
        self._recent: deque[float] = deque()  # send times in the last second, while unlimited
        self._first_send: float | None = None

    @property
    def rate(self) -> float | None:
        """Requests per second now; ``None`` while unlimited."""
        return self._rate

    def acquire(self) -> None:
        """Wait for this request's slot (and out any pause); returns at once after :meth:`cancel`."""
        while not self._cancelled.is_set():
            with self._lock:
                now = self._clock()
                holding_slot = False
                if now < self._paused_until:
                    delay = self._paused_until - now
                elif self._rate is None:
                    self._count_send(now)
                    self._sent_at.value = now
                    return
                else:
                    slot = max(self._next_slot, now - BURST_SECONDS)
                    self._next_slot = slot + 1.0 / self._rate
                    if slot <= now:
                        self._sent_at.value = now
                        return
                    delay, holding_slot = slot - now, True
            self._wait(delay)
            if holding_slot:
                with self._lock:
                    now = self._clock()
                    if now >= self._paused_until:
                        self._sent_at.value = now
                        return
                # A pause began while this thread waited for its slot: queue again behind it.

    def throttled(self, delay: float) -> None:
        """A 429 arrived: pause every worker for ``delay`` seconds and cut the rate once per episode."""
        with self._lock:
            now = self._clock()
            self._paused_until = max(self._paused_until, now + max(delay, 0.0))
            sent_at = getattr(self._sent_at, "value", now)
            if sent_at >= self._last_cut:
                if self._rate is None:
                    current, factor = self._measured_rate(now), FIRST_DECREASE
                else:
                    current, factor = self._rate, DECREASE
                self._reference = current
                # The floor keeps a throttled run moving, but never above the user's own cap.
                floor = MIN_RATE if self._max_rate is None else min(MIN_RATE, self._max_rate)
                self._rate = max(floor, current * factor)
                self._last_cut = now
                self._recent.clear()
            # Slots handed out after the pause are spaced from its end: no burst into a cold bucket.
            self._next_slot = max(self._next_slot, self._paused_until)

    def succeeded(self) -> None:
        """A request succeeded: raise the rate by one additive step (up to ``max_rate``)."""
        if self._rate is None or self._reference is None:
            return
        with self._lock:
            rate = self._rate
            if self._max_rate is not None and rate >= self._max_rate:
                return
            # rate successes per second, each adding this step: +2% of the reference per second.
            rate += INCREASE_PER_SECOND * self._reference / rate
            self._rate = rate if self._max_rate is None else min(rate, self._max_rate)

    def paused_for(self) -> float:
        """Seconds left of the pause of the last 429 (0 if none)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def cancel(self) -> None:
        """Release every waiting thread for good (the run is stopping)."""
        self._cancelled.set()

    def _count_send(self, now: float) -> None:
        if self._first_send is None:
            self._first_send = now
        recent = self._recent
        recent.append(now)
        while recent[0] < now - MEASURE_WINDOW:
            recent.popleft()

    def _measured_rate(self, now: float) -> float:
        if self._first_send is None or not self._recent:
            return MIN_RATE
        window = min(MEASURE_WINDOW, max(now - self._first_send, 0.05))
        return max(MIN_RATE, len(self._recent) / window)
