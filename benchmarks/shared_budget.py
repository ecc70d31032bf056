"""How many permits per second the Redis-shared rate budget can hand out, against a local Redis.

The budget must never be what limits a fleet: the API allows a few hundred requests/s, so the
Redis round trip (one Lua script per permit) must allow far more. Measured with the budget set
so high (1,000,000/s) that only the round trip limits, in one process with 1 and 8 threads, and
in 4 processes of 8 threads each (4 bulk tasks on an account); the local limiter beside it, and
the latency of one permit; then, at a budget of 200/s that 16 threads wait for, the Redis calls
per request (a permit granted 20 ms or more ahead is checked against the pause once due: one
more call). Starts its own redis-server (Debian's, installed if missing and run
as root) on a free loopback port.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis

from airflow_provider_moveworks.bulk.ratelimit import AdaptiveRateLimiter
from airflow_provider_moveworks.bulk.shared_budget import SharedRateLimiter, configure_redis

UNLIMITED = 1_000_000.0
ACCOUNT_LIMIT = 200.0
SECONDS = 2.0
LOG = logging.getLogger("bench-budget")
LOG.addHandler(logging.NullHandler())
LOG.propagate = False


def redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"]
        subprocess.run(install, check=True, env=env, stdout=subprocess.DEVNULL)
        found = shutil.which("redis-server")
    if found is None:
        raise SystemExit("redis-server is missing: install Debian's redis-server (as root) to measure")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def budget(port: int, key: str) -> SharedRateLimiter:
    client = configure_redis(redis.Redis(host="127.0.0.1", port=port))
    return SharedRateLimiter(client, key, UNLIMITED, fallback_rate=1.0, log=LOG)


def permits_per_second(limiter: object, threads: int) -> float:
    """Permits taken by ``threads`` threads in SECONDS, per second."""
    counts = [0] * threads
    deadline = time.monotonic() + SECONDS

    def take(n: int) -> None:
        while time.monotonic() < deadline:
            limiter.acquire()  # type: ignore[attr-defined]
            limiter.succeeded()  # type: ignore[attr-defined]
            counts[n] += 1

    workers = [threading.Thread(target=take, args=(n,)) for n in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


def _task(port: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    results.put(permits_per_second(budget(port, "bench:fleet"), 8))


def fleet_permits_per_second(port: int, tasks: int) -> float:
    results: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    processes = [multiprocessing.Process(target=_task, args=(port, results)) for _ in range(tasks)]
    for process in processes:
        process.start()
    total = sum(results.get(timeout=60) for _ in processes)
    for process in processes:
        process.join()
    return total


def main() -> None:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="moveworks-bench-redis-")
    server = subprocess.Popen(
        [redis_server(), "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", folder],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        one = budget(port, "bench:one")
        latencies = []
        for _ in range(2000):
            started = time.perf_counter()
            one.acquire()
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        single = permits_per_second(budget(port, "bench:single"), 1)
        eight = permits_per_second(budget(port, "bench:eight"), 8)
        fleet = fleet_permits_per_second(port, 4)
        local = permits_per_second(AdaptiveRateLimiter(UNLIMITED), 8)
        client.config_resetstat()
        paced = SharedRateLimiter(
            configure_redis(redis.Redis(host="127.0.0.1", port=port)),
            "bench:paced",
            ACCOUNT_LIMIT,
            fallback_rate=1.0,
            log=LOG,
        )
        paced_rate = permits_per_second(paced, 16)
        stats = client.info("commandstats")
        calls = sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval", "hget"))
        per_request = calls / (paced_rate * SECONDS)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"shared budget, one permit: median {statistics.median(latencies) * 1e6:.0f} us, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1e6:.0f} us (one round trip to a local Redis)"
    )
    print(f"permits/s, 1 thread:                 {single:>9,.0f}")
    print(f"permits/s, 8 threads, 1 process:     {eight:>9,.0f}")
    print(f"permits/s, 4 processes x 8 threads:  {fleet:>9,.0f}  (4 bulk tasks sharing one budget)")
    print(f"permits/s, local limiter, 8 threads: {local:>9,.0f}")
    print(f"headroom over an account limit of {ACCOUNT_LIMIT:.0f}/s: {fleet / ACCOUNT_LIMIT:.0f}x (fleet)")
    print(
        f"budget of {ACCOUNT_LIMIT:.0f}/s, 16 threads: {paced_rate:.0f} permits/s, "
        f"{per_request:.2f} Redis calls per request"
    )
    print(f"CPU cores here: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
