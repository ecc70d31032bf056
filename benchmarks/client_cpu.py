"""Client CPU time per update: ``MoveworksHook.update_conversation`` against a bare
``requests.Session`` PATCH loop, with the emulator in its own process so that only the client's
work is counted (``time.process_time`` of this process). The two alternate over several rounds;
the medians are printed with their ratio (goal: hook <= 0.90 x bare).

    PYTHONPATH=. .venv/bin/python benchmarks/client_cpu.py
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time

from _setup import API_KEY, ASSISTANT, airflow_home, bare_patches, hook_patches, use_emulator

airflow_home()

import requests  # noqa: E402

from airflow_provider_moveworks.client.transport import USER_AGENT  # noqa: E402
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook  # noqa: E402


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    """The emulator in a process of its own; returns it and its base URL."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_moveworks.emulator",
        "--api-key",
        API_KEY,
        "--assistant-name",
        ASSISTANT,
        "--seed-conversations",
        "100",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+\S*/rest/v1beta1)", line)
        if found:
            return process, found.group(1)
    raise SystemExit("the emulator did not start")


def seed(session: requests.Session, base_url: str) -> list[str]:
    """Conversations to update: the emulator's own, listed once."""
    answer = session.get(f"{base_url}/conversations", params={"limit": 100}, timeout=30).json()
    ids = [item["conversation_id"] for item in answer["conversations"]]
    if not ids:
        raise SystemExit("the emulator has no conversations")
    return ids


def hook_cpu(hook: MoveworksHook, ids: list[str], calls: int) -> float:
    started = time.process_time()
    hook_patches(hook, ids, calls)
    return (time.process_time() - started) / calls


def bare_cpu(session: requests.Session, base_url: str, ids: list[str], calls: int) -> float:
    """The same PATCHes, status checked and body parsed, as the hook does."""
    started = time.process_time()
    bare_patches(session, base_url, ids, calls)
    return (time.process_time() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    process, base_url = start_emulator()
    try:
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {API_KEY}",
                "Assistant-Name": ASSISTANT,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        ids = seed(session, base_url)
        use_emulator(base_url)
        hook = MoveworksHook()
        hook_cpu(hook, ids, 100)  # warm up both connections and code paths
        bare_cpu(session, base_url, ids, 100)
        hook_times, bare_times = [], []
        for _ in range(args.rounds):
            bare_times.append(bare_cpu(session, base_url, ids, args.calls))
            hook_times.append(hook_cpu(hook, ids, args.calls))
    finally:
        process.terminate()
        process.wait(10)
    hook_time, bare_time = statistics.median(hook_times), statistics.median(bare_times)
    print(f"bare requests.Session: {bare_time * 1e6:.0f} us CPU per PATCH (median of {args.rounds} rounds)")
    print(f"MoveworksHook:         {hook_time * 1e6:.0f} us CPU per PATCH (median of {args.rounds} rounds)")
    print(f"CPU ratio hook/bare:   {hook_time / bare_time:.3f} (goal <= 0.90)")


if __name__ == "__main__":
    main()
