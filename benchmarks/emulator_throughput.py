"""Sequential keep-alive PATCH throughput of the in-process emulator.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/emulator_throughput.py [--requests 3000]``.
Prints ``emulator: N PATCH/s sequential keep-alive (target >= 1500)``.
"""

from __future__ import annotations

import argparse
import time

import requests

from airflow_provider_moveworks.emulator import DEFAULT_API_KEY, DEFAULT_ASSISTANT, MoveworksEmulator

TARGET = 1500


def run(count: int) -> float:
    """Send ``count`` PATCHes over one keep-alive session; return requests per second."""
    with MoveworksEmulator(seed_conversations=1, random_seed=0) as emu, requests.Session() as session:
        # No proxy/netrc lookups from the environment on every request: we measure the server.
        session.trust_env = False
        session.headers.update(
            {"Authorization": f"Bearer {DEFAULT_API_KEY}", "Assistant-Name": DEFAULT_ASSISTANT}
        )
        url = f"{emu.base_url}/conversations/{next(iter(emu.conversations()))}"
        for _ in range(50):  # warm up the connection and code paths
            session.patch(url, json={"archived": False}).raise_for_status()
        start = time.perf_counter()
        for i in range(count):
            response = session.patch(url, json={"archived": bool(i % 2)})
            if response.status_code != 200:
                raise SystemExit(f"unexpected status {response.status_code}")
        elapsed = time.perf_counter() - start
        assert emu.request_count(method="PATCH", status=200) == count + 50
    return count / elapsed


def main() -> None:
    """Parse arguments, run the benchmark and print the figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    rate = run(parser.parse_args().requests)
    print(f"emulator: {rate:.0f} PATCH/s sequential keep-alive (target >= {TARGET})")


if __name__ == "__main__":
    main()
