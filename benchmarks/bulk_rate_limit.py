"""The bulk engine against a server rate limit: 5,000 updates to an emulator limited to 200
requests/s, with and without ``Retry-After``. Prints the achieved updates/s (target >= 180), the
429s as a share of requests (target <= 5%) and whether every row reached the emulator.

    PYTHONPATH=. .venv/bin/python benchmarks/bulk_rate_limit.py
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from _setup import API_KEY, ASSISTANT, airflow_home, quiet_logger, use_emulator

airflow_home()

from airflow_provider_moveworks.bulk.rows import RowSource  # noqa: E402
from airflow_provider_moveworks.bulk.runner import BulkOptions, BulkRun  # noqa: E402
from airflow_provider_moveworks.emulator import MoveworksEmulator  # noqa: E402
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook  # noqa: E402

RATE_LIMIT = 200


def run(rows: int, retry_after: bool, concurrency: int) -> dict[str, float]:
    """One run; returns the figures."""
    with MoveworksEmulator(
        api_keys=(API_KEY,), assistant_name=ASSISTANT, seed_conversations=rows, random_seed=1
    ) as emu:
        use_emulator(emu.base_url)
        ids = list(emu.conversations())
        updates = [{"conversation_id": cid, "title": f"Rate {n}"} for n, cid in enumerate(ids)]
        emu.configure(rate_limit=RATE_LIMIT, retry_after=retry_after)
        started = time.perf_counter()
        summary = BulkRun(
            partial(MoveworksHook().new_client, pool_maxsize=concurrency),
            RowSource(updates=updates),
            BulkOptions(max_concurrency=concurrency),
            quiet_logger(),
        ).run()
        elapsed = time.perf_counter() - started
        state = emu.conversations()
        all_updated = all(state[cid]["title"] == f"Rate {n}" for n, cid in enumerate(ids))
        return {
            "rate": summary["updated"] / elapsed,
            "share": summary["throttled"] / summary["requests"],
            "throttled": summary["throttled"],
            "requests": summary["requests"],
            "emulator_429": emu.request_count(method="PATCH", status=429),
            "all_updated": all_updated,
            "seconds": elapsed,
        }


def main() -> None:
    """Run both variants and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    for retry_after in (True, False):
        r = run(args.rows, retry_after, args.concurrency)
        label = "with Retry-After   " if retry_after else "without Retry-After"
        print(
            f"{label}: {r['rate']:.1f} updates/s (target >= 180) in {r['seconds']:.1f} s; "
            f"429s {r['throttled']:.0f} of {r['requests']:.0f} requests = {100 * r['share']:.2f}% "
            f"(target <= 5%; emulator counted {r['emulator_429']:.0f}); every row updated: {r['all_updated']}"
        )


if __name__ == "__main__":
    main()
