"""The adaptive limiter on a fake clock: pacing, the pause and cut on 429, the additive climb."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from airflow_provider_moveworks.bulk.ratelimit import AdaptiveRateLimiter


class _Time:
    """A clock that the limiter's waits move forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> _Time:
    return _Time()


def test_requests_are_spaced_at_the_maximum_rate_after_a_small_burst(fake):
    limiter = AdaptiveRateLimiter(100, clock=fake.clock, wait=fake.wait)

    sent = []
    for _ in range(20):
        limiter.acquire()
        sent.append(fake.now)

    # 50 ms of burst (6 slots at 10 ms), then one request every 10 ms.
    assert sent[:6] == [1000.0] * 6
    assert sent[19] == pytest.approx(1000.0 + 0.14)
    assert [round(b - a, 6) for a, b in itertools.pairwise(sent[6:])] == [0.01] * 13


def test_unlimited_until_the_first_429_then_half_the_measured_rate(fake):
    limiter = AdaptiveRateLimiter(clock=fake.clock, wait=fake.wait)
    for _ in range(100):
        limiter.acquire()
        fake.now += 0.002  # 500 requests per second
    assert fake.waits == []

    limiter.throttled(1.0)

    assert limiter.rate == pytest.approx(250, rel=0.02)
    limiter.acquire()
    assert fake.waits == [pytest.approx(1.0)]


def test_a_429_cuts_the_rate_once_per_episode_and_pauses_everyone(fake):
    limiter = AdaptiveRateLimiter(200, clock=fake.clock, wait=fake.wait)
    limiter.acquire()
    fake.now += 0.01

    limiter.throttled(2.0)
    limiter.throttled(2.0)  # the same thread's request: still the same episode, no second cut

    assert limiter.rate == pytest.approx(170)
    limiter.acquire()
    assert fake.now == pytest.approx(1000.01 + 2.0)
    limiter.throttled(1.0)  # a request sent after the cut: a new episode
    assert limiter.rate == pytest.approx(170 * 0.85)


def test_successes_raise_the_rate_additively_but_never_above_the_maximum(fake):
    limiter = AdaptiveRateLimiter(100, clock=fake.clock, wait=fake.wait)
    limiter.acquire()
    limiter.throttled(0.0)
    assert limiter.rate == pytest.approx(85)

    for _ in range(85):  # about one second of successes at 85/s
        limiter.succeeded()
    assert limiter.rate == pytest.approx(87, abs=0.05)  # +2% of the rate at the cut per second

    for _ in range(10_000):
        limiter.succeeded()
    assert limiter.rate == 100


def test_a_maximum_below_the_floor_is_never_exceeded_after_a_429(fake):
    # The floor that keeps a throttled run moving (0.5/s) must not lift a lower cap of the
    # user's: shards under a pool split the account's limit and may each get less.
    limiter = AdaptiveRateLimiter(0.1, clock=fake.clock, wait=fake.wait)
    limiter.acquire()
    limiter.throttled(1.0)
    assert limiter.rate == pytest.approx(0.1)  # the cap is the floor then: never cut below it

    for _ in range(1_000):
        limiter.succeeded()
    assert limiter.rate == pytest.approx(0.1)
    sent = []
    for _ in range(3):
        limiter.acquire()
        sent.append(fake.now)
    assert [round(b - a, 6) for a, b in itertools.pairwise(sent)] == [10.0, 10.0]


def test_cancel_releases_waiting_threads():
    limiter = AdaptiveRateLimiter(1)
    limiter.acquire()
    limiter.throttled(3600)  # every acquire now waits an hour
    waiters = [threading.Thread(target=limiter.acquire, daemon=True) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join(0.2)
    assert all(waiter.is_alive() for waiter in waiters)  # they do wait

    limiter.cancel()

    for waiter in waiters:
        waiter.join(5.0)  # a bound: a broken cancel fails here instead of waiting an hour
    assert not any(waiter.is_alive() for waiter in waiters)
    started = time.monotonic()
    limiter.acquire()  # and later calls return at once
    assert time.monotonic() - started < 2.0
