"""Peak memory of the bulk operator against the number of rows: 1,000, 100,000 and 1,000,000
distinct conversations from a JSON Lines ``updates_file``, each run in a fresh subprocess that
reports its own peak RSS (``VmHWM``). The emulator (zero latency) runs in this parent
process, so its store is not counted. Target: the 1,000,000-row run within 150 MB of the 1k run.

    PYTHONPATH=. .venv/bin/python benchmarks/bulk_memory.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import API_KEY, ASSISTANT, airflow_home, use_emulator

SIZES = (1_000, 100_000, 1_000_000)
TARGET_MB = 150


def peak_rss_kib() -> int:
    """This process's peak RSS. ``VmHWM`` belongs to this program's own address space; the
    ``ru_maxrss`` of a child keeps its parent's peak across ``exec`` (the parent holds the
    emulator's million conversations), so it is only the fallback."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(updates_file: str) -> None:
    """Run the operator on ``updates_file`` and print ``peak_kib seconds updated``."""
    airflow_home()
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="memory", updates_file=updates_file, max_concurrency=8, report_file=updates_file + ".report"
    )
    started = time.perf_counter()
    summary = operator.execute({})
    elapsed = time.perf_counter() - started
    peak_kib = peak_rss_kib()
    print(f"RESULT {peak_kib} {elapsed:.1f} {summary['updated']}")


def parent(sizes: tuple[int, ...]) -> None:
    """Start the emulator, write the files, measure each size in a fresh subprocess."""
    airflow_home()
    from airflow_provider_moveworks.emulator import MoveworksEmulator

    folder = Path(tempfile.mkdtemp(prefix="moveworks-bench-memory-"))
    with MoveworksEmulator(
        api_keys=(API_KEY,), assistant_name=ASSISTANT, seed_conversations=max(sizes), random_seed=3
    ) as emu:
        use_emulator(emu.base_url)
        ids = list(emu.conversations())
        results = {}
        for size in sizes:
            path = folder / f"updates-{size}.jsonl"
            with path.open("w") as out:
                for n, cid in enumerate(ids[:size]):
                    out.write(
                        json.dumps({"conversation_id": cid, "title": f"Memory {n}", "archived": n % 2 == 0})
                        + "\n"
                    )
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ.copy(),
            )
            line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
            peak_kib, seconds, updated = line.split()[1:]
            results[size] = int(peak_kib) / 1024
            print(f"{size:>7} rows: peak RSS {results[size]:.1f} MB, {seconds} s ({updated} updated)")
    small, large = results[min(sizes)], results[max(sizes)]
    difference = large - small
    print(f"difference {max(sizes):,} - {min(sizes):,} rows: {difference:.1f} MB (target <= {TARGET_MB} MB)")


def main() -> None:
    """Parent by default; ``--child FILE`` is the measured run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    if args.child:
        child(args.child)
    else:
        parent(tuple(args.sizes))


if __name__ == "__main__":
    main()
