"""bulk/ratelimit.py's AdaptiveRateLimiter exactly, on a fake clock: the first slot, a pause never
shortened, slots spaced from a pause's end, the rate measured over the last second, one cut per
episode, the floor, and the time left of a pause."""

from __future__ import annotations

import pytest

from airflow_provider_moveworks.bulk.ratelimit import AdaptiveRateLimiter


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(round(seconds, 6))
        self.now += seconds


def limiter(max_rate: float | None, clock: Clock) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter(max_rate, clock=clock, wait=clock.wait)


def test_the_first_request_leaves_at_once_even_at_time_zero() -> None:
    clock = Clock(0.0)
    paced = limiter(10.0, clock)
    paced.acquire()
    assert clock.waits == []
    assert paced.paused_for() == 0.0


def test_a_later_429_never_shortens_the_pause_and_a_429_without_a_wait_pauses_nothing() -> None:
    clock = Clock(100.0)
    paced = limiter(10.0, clock)
    assert paced.paused_for() == 0.0  # no 429 yet: no pause, not a negative one
    paced.throttled(0.0)
    assert paced.paused_for() == 0.0
    paced.throttled(10.0)
    clock.now = 101.0
    paced.throttled(1.0)
    assert paced.paused_for() == 9.0
    paced.throttled(-5.0)
    assert paced.paused_for() == 9.0


def test_slots_after_a_pause_are_spaced_from_its_end() -> None:
    clock = Clock(100.0)
    paced = limiter(10.0, clock)
    paced.acquire()
    paced.throttled(2.0)  # paused until 102; the rate cut to 8.5/s
    paced.acquire()  # waits out the pause
    paced.acquire()  # the next slot is one interval after the pause's end, not a burst
    assert clock.waits == [2.0, round(1 / 8.5, 6)]


def test_slots_already_handed_out_beyond_a_short_pause_are_kept() -> None:
    clock = Clock(100.0)
    paced = limiter(1.0, clock)
    for _ in range(3):
        paced.acquire()  # slots at 99.95 (a burst of 0.05 s allowed), 100.95, 101.95
    assert clock.waits == [0.95, 1.0]
    paced.throttled(0.5)  # paused until 102.45: the next slot, 102.95, stays where it was
    paced.acquire()
    assert clock.now == pytest.approx(102.95)


def test_the_rate_of_an_unlimited_run_is_measured_over_the_last_second() -> None:
    clock = Clock(0.0)
    unlimited = limiter(None, clock)
    for moment in (0.0, 0.5, 1.0, 1.5, 2.0):
        clock.now = moment
        unlimited.acquire()
    unlimited.throttled(0.0)
    # Sends at 1.0, 1.5 and 2.0 are within the second before 2.0: 3/s, halved at the first cut.
    assert unlimited.rate == 1.5


def test_one_cut_per_episode_and_a_request_sent_at_the_cut_starts_a_new_one() -> None:
    clock = Clock(100.0)
    paced = limiter(10.0, clock)
    paced.acquire()  # sent at 100
    paced.throttled(0.0)  # cut at 100: 8.5
    paced.throttled(0.0)  # the same request's time is not before the cut: cut again
    assert paced.rate == pytest.approx(10 * 0.85 * 0.85)


def test_the_floor_is_half_a_request_per_second_or_the_users_cap_if_lower() -> None:
    clock = Clock(100.0)
    paced = limiter(0.6, clock)
    for _ in range(3):
        clock.now += 1.0
        paced.throttled(0.0)
    assert paced.rate == 0.5
    low = limiter(0.3, clock)
    clock.now += 1.0
    low.throttled(0.0)
    assert low.rate == 0.3
