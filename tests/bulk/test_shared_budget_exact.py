"""Exact behaviour of the Redis-shared rate budget (written against surviving mutants): the
arguments sent to the script, the counters, the probe interval on a fake clock, the fallback's
log line, and what reaches the task's own limiters."""

from __future__ import annotations

import logging
import threading
from typing import Any

import fakeredis
import pytest
import redis

from airflow_provider_moveworks.bulk import shared_budget
from airflow_provider_moveworks.bulk.ratelimit import (
    BURST_SECONDS,
    DECREASE,
    INCREASE_PER_SECOND,
    MIN_RATE,
)
from airflow_provider_moveworks.bulk.shared_budget import (
    MAX_PAUSE,
    PROBE_INTERVAL,
    SharedRateLimiter,
    configure_redis,
)
from tests.bulk.test_shared_budget import _Clock

KEY = "moveworks:rate-budget:api.test/exact"


class _Script:
    """The registered script, recording each call's arguments (as floats where numeric)."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.calls: list[list[Any]] = []
        self.fail: Exception | None = None

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        self.calls.append(list(args))
        if self.fail is not None:
            raise self.fail
        return self.script(keys=keys, args=args)

    def ops(self) -> list[tuple[str, float, float]]:
        return [(call[0], float(call[2]), float(call[3])) for call in self.calls]


class _Local:
    """A stand-in for the task's own limiter, recording what reaches it."""

    def __init__(self, paused: float = 0.0) -> None:
        self.calls: list[Any] = []
        self.paused = paused
        self.rate = 7.0

    def acquire(self) -> None:
        self.calls.append("acquire")

    def throttled(self, delay: float) -> None:
        self.calls.append(("throttled", delay))

    def succeeded(self) -> None:
        self.calls.append("succeeded")

    def cancel(self) -> None:
        self.calls.append("cancel")

    def paused_for(self) -> float:
        return self.paused


class _Event(threading.Event):
    """The cancel event, recording every wait asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        return super().wait(timeout)


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def make(
    server: fakeredis.FakeServer, rate: float = 100.0, **kwargs: Any
) -> tuple[SharedRateLimiter, _Script]:
    kwargs.setdefault("fallback_rate", rate / 4)
    kwargs.setdefault("log", logging.getLogger("budget-exact"))
    budget = SharedRateLimiter(fakeredis.FakeRedis(server=server), KEY, rate, **kwargs)
    script = _Script(budget._script)
    budget._script = script
    return budget, script


def stored(server: fakeredis.FakeServer) -> dict[str, float]:
    raw = fakeredis.FakeRedis(server=server).hgetall(KEY)
    return {name.decode(): float(value) for name, value in raw.items()}


def redis_now(server: fakeredis.FakeServer) -> float:
    seconds, micros = fakeredis.FakeRedis(server=server).time()
    return seconds + micros / 1e6


def test_the_constants_are_the_documented_ones():
    assert shared_budget.REDIS_TIMEOUT == 0.5
    assert shared_budget.PROBE_INTERVAL == 2.0
    assert shared_budget.STATE_TTL == 60
    assert shared_budget.MAX_QUEUED == 65536
    assert shared_budget.RECHECK_AFTER == 0.02
    assert shared_budget.MAX_KEY_LENGTH == 200


def test_each_call_sends_every_parameter_of_the_script(server):
    budget, script = make(server, 100.0)
    budget.acquire()
    assert script.calls == [
        [
            "acquire",
            "100.0",
            "0.0",
            "0.0",
            repr(BURST_SECONDS),
            repr(DECREASE),
            repr(INCREASE_PER_SECOND),
            repr(MIN_RATE),
            60,
            repr(MAX_PAUSE),
            65536,
        ]
    ]
    assert budget.permits == 1
    assert budget.rebuilt == 1  # no state yet: started afresh
    assert budget.fallbacks == 0
    assert budget.shared
    assert budget.rate == 100.0


def test_successes_travel_once_with_the_next_permit(server):
    budget, script = make(server, 100.0)
    budget.acquire()
    for _ in range(3):
        budget.succeeded()
    budget.acquire()
    budget.acquire()
    assert script.ops() == [("acquire", 0.0, 0.0), ("acquire", 3.0, 0.0), ("acquire", 0.0, 0.0)]
    assert budget.permits == 3
    assert budget.rebuilt == 1


def test_no_success_does_not_climb_a_cut_rate(server):
    budget, _ = make(server, 100.0)
    budget.acquire()
    budget.throttled(0.0)
    cut = stored(server)["rate"]
    assert cut == 100.0 * DECREASE
    assert budget.rate == cut
    budget.acquire()
    assert stored(server)["rate"] == cut
    assert budget.rate == cut


def test_the_permit_s_slot_is_the_one_redis_scheduled(server):
    budget, _ = make(server, 10.0)
    budget.acquire()
    state = stored(server)
    assert budget._sent_at.shared is True
    assert float(budget._sent_at.value) == pytest.approx(state["tat"] - 1 / 10.0, abs=1e-9)


def test_state_lives_the_ttl_plus_the_queue(server):
    budget, _ = make(server, 1.0)
    budget.acquire()  # the next slot is 1 s ahead
    ttl = fakeredis.FakeRedis(server=server).pttl(KEY)
    assert 60_500 < ttl <= 61_000


def test_a_429_sets_the_pause_it_was_given(server):
    budget, _ = make(server, 100.0)
    budget.acquire()
    budget.throttled(0.0)
    state = stored(server)
    assert state["paused"] <= state["seen"] + 1e-6  # no pause: not even one second
    budget.throttled(1.0)
    state = stored(server)
    assert state["paused"] == pytest.approx(state["seen"] + 1.0, abs=1e-3)
    assert budget.rebuilt == 1


def test_a_429_on_lost_state_counts_a_rebuild(server):
    budget, _ = make(server, 100.0)
    budget.acquire()
    fakeredis.FakeRedis(server=server).delete(KEY)
    budget.throttled(0.0)
    assert budget.rebuilt == 2
    assert budget.rate == 100.0 * DECREASE


def test_a_429_on_a_thread_without_a_shared_permit_stays_local(server):
    budget, script = make(server, 100.0)
    local = _Local()
    budget._local = local
    budget.throttled(1.5)
    assert script.calls == []
    assert local.calls == [("throttled", 1.5)]
    assert not fakeredis.FakeRedis(server=server).exists(KEY)


def test_a_shared_429_does_not_reach_the_local_limiter(server):
    budget, script = make(server, 100.0)
    local = _Local()
    budget._local = local
    budget.acquire()
    budget.succeeded()
    budget.throttled(0.5)
    assert local.calls == []
    assert script.ops()[1] == ("throttle", 0.5, float(budget._sent_at.value))


def test_a_paused_budget_waits_and_asks_again(server):
    budget, script = make(server, 100.0)
    event = _Event()
    budget._cancelled = event
    now = redis_now(server)
    fakeredis.FakeRedis(server=server).hset(
        KEY,
        mapping={"tat": str(now), "rate": "100", "ref": "100", "paused": str(now + 0.15), "cut": "0"},
    )
    budget.acquire()
    assert [op for op, _, _ in script.ops()] == ["acquire", "acquire"]
    assert len(event.waits) == 1
    assert 0.05 < event.waits[0] <= 0.15
    assert budget.permits == 1
    assert budget.rebuilt == 0


def test_a_queued_slot_is_waited_for(server):
    budget, _ = make(server, 100.0)
    event = _Event()
    budget._cancelled = event
    now = redis_now(server)
    fakeredis.FakeRedis(server=server).hset(
        KEY, mapping={"tat": str(now + 0.3), "rate": "100", "ref": "100", "paused": "0", "cut": "0"}
    )
    budget.acquire()
    assert len(event.waits) == 1
    assert 0.2 < event.waits[0] <= 0.3
    assert budget.permits == 1


def test_a_permit_due_now_costs_no_recheck(server):
    client = fakeredis.FakeRedis(server=server)
    asked = []
    real = client.hget
    client.hget = lambda *args: (asked.append(args), real(*args))[1]
    budget = SharedRateLimiter(client, KEY, 100.0, fallback_rate=25.0, log=logging.getLogger("x"))
    budget.acquire()
    assert asked == []


def test_the_recheck_compares_the_pause_with_the_slot(server):
    budget, _ = make(server, 100.0)
    assert budget._paused_since(10.0, 0.02) is False  # no state: no pause
    fakeredis.FakeRedis(server=server).hset(KEY, "paused", "123.5")
    assert budget._paused_since(123.5, 0.02) is False
    assert budget._paused_since(123.0, 0.02) is True
    assert budget._paused_since(123.0, 0.019) is False  # too near to ask
    budget.cancel()
    assert budget._paused_since(123.0, 5.0) is False
    assert budget.shared
    assert budget.fallbacks == 0


def test_a_recheck_redis_does_not_answer_falls_back_and_asks_again(server):
    budget, _ = make(server, 100.0)
    server.connected = False
    assert budget._paused_since(123.0, 1.0) is True
    assert not budget.shared
    assert budget.fallbacks == 1


def test_cancel_stops_acquire_before_redis_and_cancels_both_limiters(server):
    budget, script = make(server, 100.0, max_rate=10.0)
    local, own = _Local(), _Local()
    budget._local, budget._own = local, own
    budget.cancel()
    budget.acquire()
    assert script.calls == []
    assert budget.permits == 0
    assert local.calls == own.calls == ["cancel"]


def test_the_own_cap_is_asked_before_each_permit(server):
    budget, _ = make(server, 100.0, max_rate=10.0)
    own = _Local()
    budget._own = own
    budget.acquire()
    budget.acquire()
    assert own.calls == ["acquire", "acquire"]


@pytest.mark.parametrize(("max_rate", "capped"), [(None, False), (100.0, False), (99.0, True)])
def test_an_own_cap_only_below_the_budget(server, max_rate, capped):
    budget, _ = make(server, 100.0, max_rate=max_rate)
    assert (budget._own is not None) is capped
    budget.cancel()  # with no cap of its own, nothing to cancel


def close_logs(server, caplog):
    budget, _ = make(server, 100.0)
    closed = []
    budget._redis.close = lambda: closed.append(True)
    budget.acquire()
    budget.acquire()
    with caplog.at_level(logging.INFO, logger="budget-exact"):
        budget.close()
    return closed, [r.getMessage() for r in caplog.records]


def test_close_logs_the_permits_and_closes_redis(server, caplog):
    closed, messages = close_logs(server, caplog)
    assert closed == [True]
    assert messages == [
        f"Rate budget {KEY}: 2 permits from Redis; fell back to this task's own limiter 0 times"
    ]


def test_fallback_logs_once_with_the_error_cut_short_and_probes_on_the_clock(server, caplog):
    clock = _Clock()
    budget, script = make(server, 100.0, fallback_rate=40.0, clock=clock)
    local = _Local()
    local.rate = 40.0
    budget._local = local
    script.fail = redis.exceptions.ConnectionError("x" * 300)
    with caplog.at_level(logging.INFO, logger="budget-exact"):
        budget.acquire()  # fails, falls back, takes a local permit
        assert not budget.shared
        assert budget.rate == 40.0
        assert budget.fallbacks == 1
        assert local.calls == ["acquire"]
        assert len(script.calls) == 1
        budget.succeeded()
        assert local.calls == ["acquire", "succeeded"]

        clock.now = 501.999
        budget.acquire()  # before the probe interval: no call
        assert len(script.calls) == 1
        clock.now = 502.0
        budget.acquire()  # a probe, failing again: local permit, next probe 2 s on
        assert len(script.calls) == 2
        assert budget.fallbacks == 1
        assert not budget._probing.locked()
        clock.now = 503.5
        budget.acquire()
        assert len(script.calls) == 2
        script.fail = None
        clock.now = 504.0
        budget.acquire()  # the probe answers: rejoined
        assert budget.shared
        assert len(script.calls) == 3
        assert not budget._probing.locked()
    assert local.calls == ["acquire", "succeeded", "acquire", "acquire", "acquire"]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        f"Rate budget {KEY}: Redis did not answer (ConnectionError: {'x' * 200}); this task paces "
        "itself alone at 40 requests/s and tries to rejoin the shared budget every 2 s",
        f"Rate budget {KEY}: Redis answers again; this task shares the budget again",
    ]
    assert budget.permits == 1
    budget.succeeded()
    assert local.calls[-1] == "acquire"  # shared again: counted for Redis


def test_a_429_answered_while_apart_is_carried_on_rejoining_and_only_then(server):
    clock = _Clock()
    budget, script = make(server, 100.0, clock=clock)
    local = _Local(paused=0.0)
    budget._local = local
    script.fail = redis.exceptions.ConnectionError("down")
    budget.acquire()
    script.fail = None
    clock.now += PROBE_INTERVAL
    budget.acquire()  # rejoins: nothing paused locally, nothing to carry
    assert [op for op, _, _ in script.ops()] == ["acquire", "acquire"]

    # Shared again: a local pause is not read (only a probe carries it).
    local.paused = 0.5
    budget.acquire()
    assert [op for op, _, _ in script.ops()] == ["acquire", "acquire", "acquire"]

    script.fail = redis.exceptions.ConnectionError("down")
    budget.acquire()
    script.fail = None
    clock.now += PROBE_INTERVAL
    local.paused = 0.5
    budget._cancelled = _Event()
    before = len(script.calls)
    budget.acquire()
    # The pause carried, then a permit asked behind it: refused, waited out, asked again.
    assert script.ops()[before:] == [("throttle", 0.5, 1e300), ("acquire", 0.0, 0.0), ("acquire", 0.0, 0.0)]
    assert len(budget._cancelled.waits) == 1
    assert 0.3 < budget._cancelled.waits[0] <= 0.5
    assert budget.shared


def test_a_probe_is_one_thread_at_a_time(server):
    clock = _Clock()
    budget, _ = make(server, 100.0, clock=clock)
    budget._shared = False
    budget._next_probe = 502.0
    assert budget._may_probe() is False
    clock.now = 502.0
    budget._probing.acquire()  # another thread is probing
    result = []
    thread = threading.Thread(target=lambda: result.append(budget._may_probe()), daemon=True)
    thread.start()
    thread.join(timeout=2)
    assert result == [False]
    budget._probing.release()
    assert budget._may_probe() is True
    assert budget._probing.locked()
    budget._probing.release()
    budget._shared = True
    assert budget._may_probe() is False  # rejoined meanwhile
    assert not budget._probing.locked()


def test_a_local_permit_then_a_429_after_the_task_rejoined_stays_local(server):
    clock = _Clock()
    budget, script = make(server, 100.0, clock=clock)
    local = _Local()
    budget._local = local
    script.fail = redis.exceptions.ConnectionError("down")
    took, rejoined = threading.Event(), threading.Event()

    def request() -> None:  # one thread: a local permit, then its 429 once the task rejoined
        budget.acquire()
        took.set()
        rejoined.wait(5)
        budget.throttled(1.0)

    worker = threading.Thread(target=request)
    worker.start()
    assert took.wait(5)
    script.fail = None
    clock.now += PROBE_INTERVAL
    budget.acquire()  # another thread rejoins
    assert budget.shared
    calls = len(script.calls)
    rejoined.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert len(script.calls) == calls
    assert local.calls[-1] == ("throttled", 1.0)


def test_configure_redis_sets_timeouts_and_no_retries():
    client = redis.Redis(host="127.0.0.1", port=1)
    assert configure_redis(client) is client
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.5
    assert kwargs["socket_connect_timeout"] == 0.5
    assert kwargs["retry"]._retries == 0
    connection = client.connection_pool.make_connection()
    assert connection.retry._retries == 0
    assert connection.socket_timeout == 0.5


def test_configure_redis_sets_a_pool_s_retry():
    class Pool:
        def __init__(self) -> None:
            self.connection_kwargs: dict[str, Any] = {}
            self.retries: list[Any] = []

        def set_retry(self, retry: Any) -> None:
            self.retries.append(retry)

    class Client:
        connection_pool = Pool()

    client = configure_redis(Client())
    pool = client.connection_pool
    assert [retry._retries for retry in pool.retries] == [0]
    assert pool.connection_kwargs["retry"] is pool.retries[0]


def test_configure_redis_sets_a_cluster_s_node_timeouts():
    class Nodes:
        connection_kwargs: dict[str, Any] = {}

    class Cluster:
        nodes_manager = Nodes()

    client = configure_redis(Cluster())
    assert client.nodes_manager.connection_kwargs == {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}


@pytest.mark.parametrize(("value", "flag"), [(b"1", True), ("1", True), (b"0", False), ("0", False)])
def test_flag(value, flag):
    assert shared_budget._flag(value) is flag
