"""`make bench`: every benchmark in turn, each in a fresh interpreter, printing its figures.

python benchmarks/run_all.py            # all (about 7 minutes on 2 cores)
python benchmarks/run_all.py overhead   # those whose file name contains a word
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "import_cost.py",
    "emulator_throughput.py",
    "client_cpu.py",
    "bulk_overhead.py",
    "bulk_throughput.py",
    "bulk_rate_limit.py",
    "bulk_skip_unchanged.py",
    "bulk_memory.py",
    "shared_budget.py",
]


def main() -> int:
    wanted = [name for name in ORDER if not sys.argv[1:] or any(word in name for word in sys.argv[1:])]
    failed = []
    for name in wanted:
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(HERE / name)], cwd=HERE.parent, check=False)
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
