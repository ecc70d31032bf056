"""What importing the operator module adds to a DAG file's parse time, beside HttpOperator.

Each figure is the median of fresh interpreters that first import what every DAG file has
already loaded (``airflow.sdk``'s DAG and BaseOperator), then time one import.

    python benchmarks/import_cost.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys

RUNS = 9
TARGETS = {
    "MoveworksUpdateConversationOperator": "airflow_provider_moveworks.operators.moveworks",
    "HttpOperator": "airflow.providers.http.operators.http",
}
PROBE = """
import sys, time
from airflow.sdk import DAG, BaseOperator
had_requests = "requests" in sys.modules
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
print(elapsed, "requests" in sys.modules and not had_requests)
"""


def measure(module: str) -> tuple[float, bool]:
    times, pulled_requests = [], False
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
        ).stdout.split()
        times.append(float(out[0]))
        pulled_requests = out[1] == "True"
    return statistics.median(times) * 1000, pulled_requests


def main() -> None:
    print(f"import cost after airflow.sdk (median of {RUNS} fresh interpreters)")
    for name, module in TARGETS.items():
        ms, pulled_requests = measure(module)
        print(f"  {name:<38} {ms:7.1f} ms   imports requests: {'yes' if pulled_requests else 'no'}")


if __name__ == "__main__":
    main()
