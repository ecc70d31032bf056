"""What the hook costs per request: 2,000 sequential ``hook.update_conversation`` calls against
a bare ``requests.Session`` PATCH loop sending the same headers and body to the same in-process
emulator. The two alternate over several rounds; the medians are printed with their time ratio
(target <= 1.00).

    PYTHONPATH=. .venv/bin/python benchmarks/bulk_overhead.py
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import API_KEY, ASSISTANT, airflow_home, bare_patches, hook_patches, use_emulator

airflow_home()

import requests  # noqa: E402

from airflow_provider_moveworks.client.transport import USER_AGENT  # noqa: E402
from airflow_provider_moveworks.emulator import MoveworksEmulator  # noqa: E402
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook  # noqa: E402


def hook_loop(hook: MoveworksHook, ids: list[str], calls: int) -> float:
    """Seconds for ``calls`` updates through the hook."""
    started = time.perf_counter()
    hook_patches(hook, ids, calls)
    return time.perf_counter() - started


def bare_loop(session: requests.Session, base_url: str, ids: list[str], calls: int) -> float:
    """Seconds for ``calls`` bare PATCHes (status checked, body parsed, as the hook does)."""
    started = time.perf_counter()
    bare_patches(session, base_url, ids, calls)
    return time.perf_counter() - started


def main() -> None:
    """Alternate the two loops and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with MoveworksEmulator(
        api_keys=(API_KEY,), assistant_name=ASSISTANT, seed_conversations=100, random_seed=0
    ) as emu:
        use_emulator(emu.base_url)
        ids = list(emu.conversations())
        hook = MoveworksHook()
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {API_KEY}",
                "Assistant-Name": ASSISTANT,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        hook_loop(hook, ids, 100)  # warm up both connections and code paths
        bare_loop(session, emu.base_url, ids, 100)
        hook_times, bare_times = [], []
        for _ in range(args.rounds):
            bare_times.append(bare_loop(session, emu.base_url, ids, args.calls))
            hook_times.append(hook_loop(hook, ids, args.calls))
    hook_time, bare_time = statistics.median(hook_times), statistics.median(bare_times)
    print(f"bare requests.Session: {args.calls / bare_time:.0f} PATCH/s (median of {args.rounds} rounds)")
    print(f"MoveworksHook:         {args.calls / hook_time:.0f} PATCH/s (median of {args.rounds} rounds)")
    print(f"time ratio hook/bare:  {hook_time / bare_time:.3f} (target <= 1.00)")


if __name__ == "__main__":
    main()
