"""``skip_unchanged`` against a nightly mass archive: 20,000 rows to archive, 80% of them
archived already, an emulator limited to 200 requests/s. The same run with and without
``skip_unchanged``, side by side (each on its own emulator seeded alike). Goals: at most 4,100
PATCHes plus the listing pages, and a wall time at most 30% of the run without it.

    PYTHONPATH=. .venv/bin/python benchmarks/bulk_skip_unchanged.py [--rows 20000]
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
CONCURRENCY = 8


def run(rows: int, skip_unchanged: bool, current_state: str = "auto") -> dict[str, float]:
    with MoveworksEmulator(
        api_keys=(API_KEY,),
        assistant_name=ASSISTANT,
        seed_conversations=rows,
        archived_share=0.8,
        random_seed=1,
        rate_limit=RATE_LIMIT,
    ) as emu:
        use_emulator(emu.base_url)
        ids = list(emu.conversations())
        started = time.perf_counter()
        summary = BulkRun(
            partial(MoveworksHook().new_client, pool_maxsize=CONCURRENCY),
            RowSource(updates=[{"conversation_id": cid, "archived": True} for cid in ids]),
            BulkOptions(
                max_concurrency=CONCURRENCY,
                skip_unchanged=skip_unchanged,
                current_state=current_state,
            ),
            quiet_logger(),
        ).run()
        elapsed = time.perf_counter() - started
        assert all(c["archived"] for c in emu.conversations().values())
        return {
            "seconds": elapsed,
            "patches": emu.request_count(method="PATCH"),
            "pages": emu.request_count(method="GET", route="/conversations"),
            "gets": emu.request_count(method="GET", route="/conversations/{id}"),
            "throttled": emu.request_count(status=429),
            "unchanged": summary["unchanged"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    plain = run(args.rows, skip_unchanged=False)
    skipping = run(args.rows, skip_unchanged=True)
    print(f"{args.rows:,} rows to archive, 80% archived already, emulator limited to {RATE_LIMIT}/s")
    print(f"{'':24}{'PATCHes':>9}{'list pages':>12}{'GETs':>7}{'429s':>7}{'unchanged':>11}{'seconds':>9}")
    for name, figures in (("without skip_unchanged", plain), ("skip_unchanged=True", skipping)):
        print(
            f"{name:24}{figures['patches']:>9,}{figures['pages']:>12,}{figures['gets']:>7,}"
            f"{figures['throttled']:>7,}{figures['unchanged']:>11,}{figures['seconds']:>9.1f}"
        )
    share = skipping["seconds"] / plain["seconds"]
    print(f"wall time with / without: {share:.2f} (goal <= 0.30)")
    print(f"PATCHes with skip_unchanged: {skipping['patches']:,} (goal <= {round(args.rows * 0.205):,})")


if __name__ == "__main__":
    main()
