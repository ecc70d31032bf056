"""The rate budget shared through Redis: the Lua script run by fakeredis (the same script a real
Redis runs), the fallback when Redis is away, and the rejoin."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from typing import Any

import fakeredis
import pytest
import redis

from airflow_provider_moveworks.bulk import shared_budget
from airflow_provider_moveworks.bulk.ratelimit import DECREASE, INCREASE_PER_SECOND
from airflow_provider_moveworks.bulk.shared_budget import (
    PROBE_INTERVAL,
    REDIS_TIMEOUT,
    SharedRateLimiter,
    budget_key,
    configure_redis,
)

KEY = "moveworks:rate-budget:api.test/bot"


class _Clock:
    """Monotonic seconds for the probe interval, moved by hand."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def limiter(server: fakeredis.FakeServer, rate: float = 1000.0, **kwargs: Any) -> SharedRateLimiter:
    kwargs.setdefault("fallback_rate", rate / 4)
    kwargs.setdefault("log", logging.getLogger("budget-test"))
    return SharedRateLimiter(fakeredis.FakeRedis(server=server), KEY, rate, **kwargs)


def stored(server: fakeredis.FakeServer) -> dict[str, float]:
    raw = fakeredis.FakeRedis(server=server).hgetall(KEY)
    return {name.decode(): float(value) for name, value in raw.items()}


def sent_at(budget: SharedRateLimiter) -> float:
    return float(budget._sent_at.value)


def test_two_tasks_take_their_permits_from_one_schedule(server):
    first, second = limiter(server, 200.0), limiter(server, 200.0)

    slots = []
    for n in range(12):
        budget = first if n % 2 else second
        budget.acquire()
        slots.append(sent_at(budget))

    # One GCRA schedule: each permit 1/200 s after the one before, whichever task took it (the
    # first few may share the 50 ms burst allowance, never closer than the schedule).
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert all(gap >= 1 / 200 - 1e-6 for gap in gaps[3:]), gaps
    assert stored(server)["tat"] == pytest.approx(slots[-1] + 1 / 200)
    assert first.permits == second.permits == 6


def test_tasks_on_other_keys_do_not_share():
    server = fakeredis.FakeServer()
    here = SharedRateLimiter(fakeredis.FakeRedis(server=server), "a", 1.0, fallback_rate=1.0, log=logging)
    there = SharedRateLimiter(fakeredis.FakeRedis(server=server), "b", 1.0, fallback_rate=1.0, log=logging)

    started = time.monotonic()
    here.acquire()
    there.acquire()

    assert time.monotonic() - started < 0.5  # each key's first permit is free at 1/s


def test_a_429_seen_by_one_task_pauses_and_slows_the_other(server):
    seen, other = limiter(server, 100.0), limiter(server, 100.0)
    seen.acquire()

    seen.throttled(0.3)
    started = time.monotonic()
    other.acquire()

    assert time.monotonic() - started >= 0.28  # the other task waited out the pause
    assert other.rate == seen.rate == 100.0 * DECREASE
    state = stored(server)
    assert (state["rate"], state["ref"]) == (100.0 * DECREASE, 100.0)
    assert sent_at(other) >= state["paused"]


def test_one_episode_cuts_once_and_a_later_one_cuts_again(server):
    first, second = limiter(server, 100.0), limiter(server, 100.0)
    first.acquire()
    second.acquire()  # both requests left before any 429

    first.throttled(0.0)
    second.throttled(0.0)  # answers a request sent before the cut: the same episode
    assert stored(server)["rate"] == 100.0 * DECREASE

    second.acquire()  # sent after the cut
    second.throttled(0.0)
    assert stored(server)["rate"] == pytest.approx(100.0 * DECREASE * DECREASE)


def test_successes_anywhere_climb_the_shared_ramp(server):
    first, second = limiter(server, 100.0), limiter(server, 100.0)
    first.acquire()
    first.throttled(0.0)
    cut = 100.0 * DECREASE

    for _ in range(5):
        second.succeeded()
    second.acquire()  # the successes travel with the next permit

    climbed = stored(server)["rate"]
    assert climbed == pytest.approx(cut + 5 * INCREASE_PER_SECOND * 100.0 / cut)
    first.acquire()
    assert first.rate == pytest.approx(climbed)


def test_the_rate_never_exceeds_the_budget(server):
    budget = limiter(server, 50.0)
    for _ in range(1000):
        budget.succeeded()
    budget.acquire()
    assert stored(server)["rate"] == 50.0


GOOD = {"tat": "0", "rate": "100", "ref": "100", "paused": "0", "cut": "0"}
CORRUPT = {
    "nan": {**GOOD, "tat": "nan"},
    "slot-far-ahead": {**GOOD, "tat": "1e300"},
    "negative-rate": {**GOOD, "rate": "-5"},
    "pause-far-ahead": {**GOOD, "paused": "9e99"},
    "infinite-rate": {**GOOD, "rate": "inf"},
    "partial": {"tat": "0"},
    "seen-only": {"seen": "0"},
}


@pytest.mark.parametrize(
    "corrupt",
    [lambda r: r.set(KEY, "not a hash")]
    + [lambda r, fields=fields: r.hset(KEY, mapping=fields) for fields in CORRUPT.values()],
    ids=["wrong-type", *CORRUPT],
)
def test_corrupt_state_is_rebuilt_not_trusted(server, corrupt):
    corrupt(fakeredis.FakeRedis(server=server))
    budget = limiter(server, 100.0)

    started = time.monotonic()
    budget.acquire()

    assert time.monotonic() - started < 0.5
    assert budget.rebuilt == 1
    state = stored(server)
    assert (state["rate"], state["ref"], state["paused"], state["cut"]) == (100.0, 100.0, 0.0, 0.0)


def test_state_expires_after_its_last_use(server):
    budget = limiter(server, 100.0)
    budget.acquire()
    ttl = fakeredis.FakeRedis(server=server).pttl(KEY)
    assert 0 < ttl <= (shared_budget.STATE_TTL + 1) * 1000  # plus the next slot, 1/100 s ahead


def test_state_outlives_the_permits_it_granted(server):
    now = float(fakeredis.FakeRedis(server=server).time()[0])
    # 20 permits queued at 0.2/s: the last one leaves 100 s from now.
    fakeredis.FakeRedis(server=server).hset(
        KEY, mapping={**GOOD, "tat": str(now + 100), "rate": "0.2", "ref": "0.2"}
    )
    limiter(server, 0.2)._call("throttle", 0.0, 0.0)

    assert fakeredis.FakeRedis(server=server).pttl(KEY) >= (100 + shared_budget.STATE_TTL - 1) * 1000


def test_redis_away_at_start_falls_back_logs_once_and_rejoins(server, caplog):
    clock = _Clock()
    server.connected = False
    budget = limiter(server, 1000.0, fallback_rate=400.0, clock=clock)

    with caplog.at_level(logging.INFO, logger="budget-test"):
        for _ in range(20):
            budget.acquire()
            budget.succeeded()
        assert not budget.shared
        assert budget.rate == 400.0  # its own limiter, at the fallback share
        server.connected = True
        budget.acquire()
        assert not budget.shared  # no retry before the probe interval
        clock.now += PROBE_INTERVAL
        budget.acquire()

    assert budget.shared
    assert budget.fallbacks == 1
    messages = [record.getMessage() for record in caplog.records]
    fell = [m for m in messages if "Redis did not answer" in m]
    assert len(fell) == 1, messages
    assert "paces itself alone at 400 requests/s" in fell[0]
    assert sum("Redis answers again" in m for m in messages) == 1
    assert stored(server)["rate"] == 1000.0  # rebuilt on rejoin


def test_redis_lost_mid_run_and_a_429_then_is_handled_locally(server):
    clock = _Clock()
    budget = limiter(server, 1000.0, fallback_rate=250.0, clock=clock)
    budget.acquire()
    server.connected = False

    budget.throttled(0.0)  # reaching Redis fails: the task's own limiter takes the 429

    assert not budget.shared
    assert budget._local.rate is not None
    assert budget._local.rate < 250.0
    budget.acquire()  # and the run goes on
    assert budget.fallbacks == 1


def test_a_silent_redis_costs_one_timeout_not_a_hang():
    # A server that accepts connections and never answers (a hung Redis, a black-holed route).
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        client = configure_redis(redis.Redis(host="127.0.0.1", port=port))
        budget = SharedRateLimiter(client, KEY, 100.0, fallback_rate=25.0, log=logging.getLogger("t"))

        started = time.monotonic()
        budget.acquire()
        elapsed = time.monotonic() - started
    finally:
        listener.close()

    assert not budget.shared
    assert REDIS_TIMEOUT <= elapsed < REDIS_TIMEOUT * 3
    assert budget.fallbacks == 1


def test_a_refused_connection_falls_back_at_once():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there
    client = configure_redis(redis.Redis(host="127.0.0.1", port=port))
    budget = SharedRateLimiter(client, KEY, 100.0, fallback_rate=25.0, log=logging.getLogger("t"))

    started = time.monotonic()
    budget.acquire()

    assert time.monotonic() - started < REDIS_TIMEOUT  # redis-py's own retries are off
    assert not budget.shared


def test_cancel_releases_a_thread_waiting_out_a_shared_pause(server):
    budget = limiter(server, 100.0)
    budget.acquire()
    budget.throttled(60.0)
    waiter = threading.Thread(target=budget.acquire)

    waiter.start()
    time.sleep(0.1)
    budget.cancel()
    waiter.join(timeout=2)

    assert not waiter.is_alive()


def take_from(budget: SharedRateLimiter, threads: int) -> tuple[float, list[float], list[threading.Thread]]:
    """``threads`` threads each taking one permit; returns when they started, the times their
    permits came (filled as they come) and the threads."""
    sent: list[float] = []
    workers = [
        threading.Thread(target=lambda: (budget.acquire(), sent.append(time.monotonic())))
        for _ in range(threads)
    ]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    return started, sent, workers


def stop(budget: SharedRateLimiter, threads: list[threading.Thread]) -> None:
    budget.cancel()
    for thread in threads:
        thread.join(timeout=2)


def test_a_task_s_own_cap_holds_from_its_first_permit_without_slowing_the_others(server):
    fast = limiter(server, 200.0)
    capped = limiter(server, 200.0, max_rate=2.0)
    started, sent, threads = take_from(capped, threads=8)
    for _ in range(40):
        fast.acquire()
    fast_time = time.monotonic() - started
    time.sleep(max(0.0, started + 0.8 - time.monotonic()))
    granted = len(sent)
    stop(capped, threads)

    # 8 threads of a task capped at 2/s: one permit at once, one 0.5 s later, no more by 0.8 s.
    assert granted == 2
    assert fast_time < 0.3  # 40 permits at 200/s: the capped task took 2 slots of 1/200 s
    assert not any(thread.is_alive() for thread in threads)  # cancel released its own cap's waiters


def test_tasks_stating_another_limit_keep_another_budget():
    assert budget_key("api.test/bot", 200) == "moveworks:rate-budget:api.test/bot@200.0/s"
    assert budget_key("api.test/bot", 200.0) != budget_key("api.test/bot", 100.0)


@pytest.mark.parametrize("throttled_before", [True, False])
def test_redis_clock_going_back_moves_the_state_back_instead_of_stalling(server, throttled_before):
    now = float(fakeredis.FakeRedis(server=server).time()[0])
    ahead = now + 45  # the state written by a primary whose clock ran 45 s ahead of this one's
    episode = str(ahead - 1) if throttled_before else "0"  # a budget never throttled keeps 0s
    fakeredis.FakeRedis(server=server).hset(
        KEY,
        mapping={**GOOD, "tat": str(ahead + 0.3), "paused": episode, "cut": episode, "seen": str(ahead)},
    )
    budget = limiter(server, 100.0)

    started = time.monotonic()
    budget.acquire()

    # The 0.3 s queue kept, moved back with the clock: neither 45 s of stall nor a rebuilt budget.
    assert 0.25 < time.monotonic() - started < 0.6
    assert budget.rebuilt == 0
    assert stored(server)["cut"] < now + 1  # moved back with the clock


def test_a_pause_from_another_task_stops_a_permit_already_granted(server):
    waiting, hit = limiter(server, 5.0), limiter(server, 5.0)
    hit.acquire()  # the request that will be answered 429
    waiting.acquire()
    waiting.acquire()  # the schedule now runs 0.4 s ahead: the next permit waits for its slot
    done = []
    thread = threading.Thread(target=lambda: (waiting.acquire(), done.append(time.monotonic())))

    started = time.monotonic()
    thread.start()
    time.sleep(0.05)
    hit.throttled(1.0)  # another task's 429 while the thread waits for its granted slot
    thread.join(timeout=5)

    assert done
    assert done[0] - started >= 1.0  # it queued again, behind the pause


PAUSE_TOO_FAR = shared_budget.MAX_PAUSE + 5


@pytest.mark.parametrize(
    "fields",
    [
        {"rate": "0.0003"},  # below the floor no cut reaches
        {"ref": "1e-9"},
        {"paused": f"{{now}}+{PAUSE_TOO_FAR}"},  # longer than any 429 pauses
        {"tat": "{now}+1000"},  # 100,000 permits queued at 100/s
    ],
    ids=["rate-below-floor", "ref-below-floor", "pause-too-long", "queue-too-long"],
)
def test_state_that_looks_valid_but_cannot_be_is_rebuilt(server, fields):
    now = float(fakeredis.FakeRedis(server=server).time()[0])
    planted = {**GOOD, "tat": str(now)}
    for name, value in fields.items():
        planted[name] = str(eval(value.format(now=now))) if "{now}" in value else value  # noqa: S307
    fakeredis.FakeRedis(server=server).hset(KEY, mapping=planted)
    budget = limiter(server, 100.0)

    started = time.monotonic()
    budget.acquire()

    assert time.monotonic() - started < 0.5
    assert budget.rebuilt == 1


def test_a_long_queue_is_not_mistaken_for_corrupt_state(server):
    budget = limiter(server, 50.0)
    now = float(fakeredis.FakeRedis(server=server).time()[0])
    # 2,000 permits queued at 50/s (32 tasks of 64 threads): 40 s ahead, legitimately.
    fakeredis.FakeRedis(server=server).hset(
        KEY, mapping={**GOOD, "tat": str(now + 40), "rate": "50", "ref": "50"}
    )
    reply = budget._call("throttle", 0.0, 0.0)  # reads and keeps the state, takes no permit

    assert reply[4] == b"0"  # not rebuilt
    assert stored(server)["tat"] >= now + 40


def test_a_task_s_own_cap_holds_when_a_shared_pause_ends(server):
    capped, other = limiter(server, 200.0, max_rate=2.0), limiter(server, 200.0)
    other.acquire()
    other.throttled(1.0)  # the budget pauses for 1 s
    started, sent, threads = take_from(capped, threads=8)
    time.sleep(max(0.0, started + 1.7 - time.monotonic()))
    granted = sorted(sent)
    stop(capped, threads)

    # After the pause, 2/s still: by 1.7 s at most the permits at ~1.0 and ~1.5 s, never a bunch.
    assert 1 <= len(granted) <= 2, [t - started for t in granted]
    assert all(later - earlier >= 0.45 for earlier, later in itertools.pairwise(granted))


def test_a_429_answered_while_apart_pauses_the_budget_on_rejoining(server):
    clock = _Clock()
    apart, other = limiter(server, 100.0, clock=clock), limiter(server, 100.0)
    server.connected = False
    apart.acquire()  # falls back
    apart.throttled(1.0)  # a 429 while apart: its own limiter pauses
    server.connected = True
    clock.now += PROBE_INTERVAL

    started = time.monotonic()
    apart.acquire()  # rejoins, carrying the pause
    other.acquire()

    assert apart.shared
    assert time.monotonic() - started >= 0.8
    assert stored(server)["rate"] == 100.0 * DECREASE
