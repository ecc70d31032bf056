"""One rate budget for every bulk task on a Moveworks account, kept in Redis.

The budget is the local limiter's algorithm (:mod:`~airflow_provider_moveworks.bulk.ratelimit`)
with its state in one Redis hash that every task shares: the next free slot (GCRA), the adaptive
rate and the rate at the last cut (AIMD), the end of any ``Retry-After`` pause and the time of
the last cut. One Lua script reads, updates and writes the hash atomically, on Redis' own clock
(workers' clocks may disagree), so taking a permit is one round trip. A 429 seen by any task
pauses and slows them all; the recovery ramp is shared too. Successes are counted locally and
sent with the next permit request.

State that is missing (first use, expired, or a restarted Redis) starts afresh at the stated
limit; state that is corrupt (not a hash, not numbers, a slot or pause impossibly far ahead) is
rebuilt the same way, never trusted.

When Redis does not answer within ``REDIS_TIMEOUT`` (down, unreachable, refusing the script),
the task falls back to its own adaptive limiter at ``fallback_rate``, logs it once, and tries
Redis again every ``PROBE_INTERVAL`` seconds; the first answer rejoins the shared budget. The run
never fails because of Redis.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry

from airflow_provider_moveworks.bulk.ratelimit import (
    BURST_SECONDS,
    DECREASE,
    INCREASE_PER_SECOND,
    MIN_RATE,
    AdaptiveRateLimiter,
)
from airflow_provider_moveworks.client.retry import MAX_RETRY_AFTER

# Seconds one Redis call may take (connecting included) before the task paces itself alone.
REDIS_TIMEOUT = 0.5
# Seconds between attempts to rejoin the shared budget while Redis is away.
PROBE_INTERVAL = 2.0
# Seconds the state outlives its last use (plus any pause still running).
STATE_TTL = 60
# The longest pause a 429 sets (the client's own cap on Retry-After); one further ahead is corrupt.
MAX_PAUSE = MAX_RETRY_AFTER
# The most permits queued ahead of now (64 worker threads of a thousand tasks); a next free slot
# further ahead is corrupt.
MAX_QUEUED = 65536
# A thread whose permit is at least this far ahead (s) checks, once it is due, that no task's 429
# paused the budget meanwhile; nearer permits go, as requests already in flight do.
RECHECK_AFTER = 0.02
KEY_PREFIX = "moveworks:rate-budget:"
MAX_KEY_LENGTH = 200

# KEYS[1]: the budget's hash. ARGV: op ("acquire" | "throttle"), the budget's limit (the same for
# every caller: it is part of the key), then for acquire the successes since the caller's last
# call, for throttle the pause (s) and when the request that got the 429 left (Redis clock, s);
# then burst, decrease, increase per second, minimum rate, TTL, longest pause, most permits
# queued. Times are on Redis' clock; if it went back (a failover), the state moves back with it.
# Replies are strings: Lua numbers would be cut to integers.
SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: TIME, then writes
local key, op = KEYS[1], ARGV[1]
local limit = tonumber(ARGV[2])
local burst, decrease, increase = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local min_rate, ttl = tonumber(ARGV[8]), tonumber(ARGV[9])
local max_pause, max_queued = tonumber(ARGV[10]), tonumber(ARGV[11])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000

local function number(x, low, high)
  x = tonumber(x)
  if x == nil or x ~= x or x < low or x > high then return nil end
  return x
end
local stored = redis.pcall('HMGET', key, 'tat', 'rate', 'ref', 'paused', 'cut', 'seen')
if type(stored) ~= 'table' or stored['err'] then stored = {} end
local floor = math.min(min_rate, limit)
local back = 0
local seen = number(stored[6], 0, 1e300)
if seen and seen > now then back = seen - now end  -- Redis' clock went back
local function time(x, high) x = number(x, 0, 1e300); return x and number(math.max(0, x - back), 0, high) end
local rate = number(stored[2], floor, 1e300)
local ref = number(stored[3], floor, 1e300)
local paused = time(stored[4], now + max_pause)
local tat = time(stored[1], math.max(now, paused or 0) + max_queued / (rate or limit))
local cut = time(stored[5], now + 1)
local rebuilt = '0'
if not (tat and rate and ref and paused and cut) then
  tat, rate, ref, paused, cut, rebuilt = now, limit, limit, 0, 0, '1'
end
rate, ref = math.min(rate, limit), math.min(ref, limit)

local granted, wait, slot = '0', 0, 0
if op == 'acquire' then
  local successes = tonumber(ARGV[3])
  if successes > 0 and rate < limit then
    rate = math.min(limit, rate + successes * increase * ref / rate)
  end
  if now < paused then
    wait = paused - now
  else
    slot = math.max(tat, now - burst)
    tat = slot + 1 / rate
    wait = math.max(0, slot - now)
    granted = '1'
  end
else
  paused = math.max(paused, now + math.min(max_pause, math.max(0, tonumber(ARGV[3]))))
  if tonumber(ARGV[4]) >= cut then
    ref = rate
    rate = math.max(floor, rate * decrease)
    cut = now
  end
  tat = math.max(tat, paused)
end
local function text(x) return string.format('%.17g', x) end
redis.call('DEL', key)
redis.call('HSET', key, 'tat', text(tat), 'rate', text(rate), 'ref', text(ref), 'paused', text(paused),
  'cut', text(cut), 'seen', text(now))
redis.call('PEXPIRE', key, math.floor(1000 * (ttl + math.max(0, paused - now, tat - now))))
return {granted, text(wait), text(slot), text(rate), rebuilt}
"""

# A send time later than any cut: a 429 that always starts a new episode.
LATEST = 1e300

# What a Redis call may raise when Redis is down, slow or answers nonsense.
REDIS_FAULTS = (RedisError, RedisClusterException, OSError, ValueError, TypeError, IndexError)


def budget_key(name: str, limit: float) -> str:
    """The Redis key of the budget ``name`` of ``limit`` requests/s: under one prefix, so that no
    name reaches another application's keys; tasks stating another limit keep another budget."""
    return f"{KEY_PREFIX}{name}@{float(limit)!r}/s"


def configure_redis(client: Any) -> Any:
    """Make ``client`` (a redis-py client) fail fast: a timeout of ``REDIS_TIMEOUT`` on connecting
    and on each answer, and no retries (redis-py's default retries for seconds; the limiter has
    its own fallback). Returns the client."""
    settings = {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    no_retry = Retry(backoff=NoBackoff(), retries=0)
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        pool.connection_kwargs.update(settings, retry=no_retry)
        if hasattr(pool, "set_retry"):
            pool.set_retry(no_retry)
    nodes = getattr(client, "nodes_manager", None)  # a RedisCluster: its nodes' connections
    if nodes is not None:
        nodes.connection_kwargs.update(settings)
    return client


class SharedRateLimiter:
    """The local limiter's interface (:meth:`acquire`, :meth:`throttled`, :meth:`succeeded`,
    :meth:`cancel`) over a budget in Redis; see the module docstring.

    :param redis: a redis-py client (see :func:`configure_redis`).
    :param key: the budget's key (:func:`budget_key`): every task naming it shares one budget.
    :param budget_rate: the budget (requests/s): the account's limit, part of the key.
    :param max_rate: this task's own cap, kept whatever the budget allows (``None``: none).
    :param fallback_rate: this task's own limit while Redis is away.
    :param clock: monotonic seconds, for the probe interval (tests pass a fake).
    """

    def __init__(
        self,
        redis: Any,
        key: str,
        budget_rate: float,
        *,
        max_rate: float | None = None,
        fallback_rate: float,
        log: logging.Logger | Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self._redis = redis
        self._script = redis.register_script(SCRIPT)
        self._budget_rate = budget_rate
        self._local = AdaptiveRateLimiter(fallback_rate)
        # This task's own cap, below the budget: waited for before each shared permit.
        self._own = AdaptiveRateLimiter(max_rate) if max_rate is not None and max_rate < budget_rate else None
        self._log = log
        self._clock = clock
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._shared = True
        self._probing = threading.Lock()
        self._next_probe = 0.0
        self._successes = 0  # not yet sent to Redis
        self._throttles = 0  # 429s seen by this task: a slot reserved before one is asked again
        self._rate: float | None = budget_rate
        self._sent_at = threading.local()  # this thread's request: when it left, and from which budget
        self.permits = 0  # permits Redis granted
        self.fallbacks = 0  # times this task fell back to its own limiter
        self.rebuilt = 0  # times the script found no usable state

    @property
    def rate(self) -> float | None:
        """Requests per second now: the shared rate last seen, or this task's own while apart."""
        return self._rate if self._shared else self._local.rate

    @property
    def shared(self) -> bool:
        """True while the task paces itself by the shared budget."""
        return self._shared

    def acquire(self) -> None:
        """Wait for this request's permit; returns at once after :meth:`cancel`."""
        while not self._cancelled.is_set():
            probing = not self._shared and self._may_probe()
            if not self._shared and not probing:
                self._sent_at.shared = False
                self._local.acquire()  # at the fallback rate, never above the task's own cap
                return
            if self._own is not None:
                self._own.acquire()  # each ask, so that no pause lets the task's threads bunch up
            with self._lock:
                successes, self._successes = self._successes, 0
                throttles = self._throttles
            try:
                if probing and (left := self._local.paused_for()) > 0:
                    # A 429 answered while apart: every task of the budget waits it out too.
                    self._call("throttle", left, LATEST)
                reply = self._call("acquire", successes, 0)
                granted, wait, slot, rate = _flag(reply[0]), float(reply[1]), float(reply[2]), float(reply[3])
                self._note_rebuilt(reply[4])
            except REDIS_FAULTS as error:
                self._fall_back(error)
                continue
            finally:
                if probing:
                    self._probing.release()
            if probing:
                self._rejoin()
            self._rate = rate
            if wait > 0:
                self._cancelled.wait(wait)
            # A 429 here while this thread waited, or in another task: queue again, behind its pause.
            if granted and throttles == self._throttles and not self._paused_since(slot, wait):
                self.permits += 1
                self._sent_at.shared, self._sent_at.value = True, slot
                return

    def throttled(self, delay: float) -> None:
        """A 429 arrived: pause every task of the budget and cut the shared rate once per episode."""
        with self._lock:
            self._throttles += 1
        if getattr(self._sent_at, "shared", False) and self._shared:
            try:
                reply = self._call("throttle", max(delay, 0.0), getattr(self._sent_at, "value", 0.0))
                self._rate = float(reply[3])
                self._note_rebuilt(reply[4])
                return
            except REDIS_FAULTS as error:
                self._fall_back(error)
        self._local.throttled(delay)

    def succeeded(self) -> None:
        """A request succeeded: one more step up the shared ramp (sent with the next permit)."""
        if self._shared:
            with self._lock:
                self._successes += 1
        else:
            self._local.succeeded()

    def cancel(self) -> None:
        """Release every waiting thread for good (the run is stopping)."""
        self._cancelled.set()
        self._local.cancel()
        own = self._own
        if own is not None:
            own.cancel()

    def close(self) -> None:
        """Log what the budget gave, and close the Redis connections (the run is over)."""
        self._log.info(
            "Rate budget %s: %d permits from Redis; fell back to this task's own limiter %d times",
            self.key,
            self.permits,
            self.fallbacks,
        )
        with contextlib.suppress(*REDIS_FAULTS):
            self._redis.close()

    def _call(self, op: str, first: float, second: float) -> Any:
        return self._script(
            keys=[self.key],
            args=[
                op,
                repr(float(self._budget_rate)),
                repr(float(first)),
                repr(float(second)),
                repr(BURST_SECONDS),
                repr(DECREASE),
                repr(INCREASE_PER_SECOND),
                repr(MIN_RATE),
                STATE_TTL,
                repr(MAX_PAUSE),
                MAX_QUEUED,
            ],
        )

    def _paused_since(self, slot: float, waited: float) -> bool:
        """True if a 429 paused the budget past ``slot`` while this thread waited for it (asked
        only after a wait of ``RECHECK_AFTER`` or more: one more round trip)."""
        if waited < RECHECK_AFTER or self._cancelled.is_set():
            return False
        try:
            paused = self._redis.hget(self.key, "paused")
            return paused is not None and float(paused) > slot
        except REDIS_FAULTS as error:
            self._fall_back(error)
            return True  # ask again, from this task's own limiter

    def _note_rebuilt(self, flag: Any) -> None:
        if _flag(flag):
            self.rebuilt += 1

    def _may_probe(self) -> bool:
        """True for the one thread that should try Redis again now."""
        if self._clock() < self._next_probe or not self._probing.acquire(blocking=False):
            return False
        if self._clock() < self._next_probe or self._shared:  # another thread got there first
            self._probing.release()
            return False
        return True

    def _fall_back(self, error: BaseException) -> None:
        with self._lock:
            self._next_probe = self._clock() + PROBE_INTERVAL
            if not self._shared:
                return
            self._shared = False
            self.fallbacks += 1
        self._log.warning(
            "Rate budget %s: Redis did not answer (%s: %s); this task paces itself alone at %.3g "
            "requests/s and tries to rejoin the shared budget every %g s",
            self.key,
            type(error).__name__,
            str(error)[:200],
            self._local.rate,
            PROBE_INTERVAL,
        )

    def _rejoin(self) -> None:
        with self._lock:
            if self._shared:
                return
            self._shared = True
        self._log.info("Rate budget %s: Redis answers again; this task shares the budget again", self.key)


def _flag(value: Any) -> bool:
    """A script's "1" (bytes, or text with ``decode_responses``)."""
    return value in (b"1", "1")
