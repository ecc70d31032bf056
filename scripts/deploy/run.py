"""``make test-deploy``: the sharded-archive example DAG on a real distributed Airflow 3 deployment.

On loopback, in a temporary folder: PostgreSQL (metadata database), Redis (Celery broker), a
second Redis (the rate budget the bulk tasks share), the Moveworks emulator with a rate limit (its
own process), and Airflow with the CeleryExecutor: scheduler, DAG processor, API server and two
Celery workers (``worker-a``, ``worker-b``) (``deployment.py``), then the scenarios, each in a
module of its own (``scenario_*.py``), each printing its time.

Everything started is stopped at the end, whatever happened; on failure the components' logs are
printed. Exit status 0 only if every check held.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from deployment import Deployment
from scenario_assets import follow_the_asset
from scenario_fleet import Fleet
from scenario_workers import survive_a_killed_worker
from stack import Stack

KILLED_WORKER_ROWS = 2000


def main() -> int:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="moveworks-deploy-"))
    root.chmod(0o755)  # PostgreSQL runs as another user and must reach its folder
    stack = Stack(root)
    figures: dict[str, Any] = {}

    def on_signal(signum: int, frame: object) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    passed = False
    try:
        deployment = Deployment(stack)
        stages = deployment.start()
        figures["start-up"] = f"{time.monotonic() - started:.0f} s ({stages})"
        figures.update(follow_the_asset(deployment))  # first: it archives seeded conversations
        fleet = Fleet(deployment)
        figures.update(fleet.run_static())
        figures.update(fleet.run_shared())
        figures.update(fleet.side_by_side())
        figures.update(fleet.survive_lost_redis())
        figures.update(survive_a_killed_worker(deployment, fleet.spare[:KILLED_WORKER_ROWS]))
        passed = True
    except Exception as error:
        print(f"\nDEPLOY TEST FAILED: {type(error).__name__}: {error}\n", file=sys.stderr)
        print(stack.diagnostics(), file=sys.stderr)
        print(f"\nEverything the run wrote is kept in {root}", file=sys.stderr)
    finally:
        stack.stop()  # on success, failure, Ctrl-C or SIGTERM alike
    if not passed:
        return 1
    shutil.rmtree(root, ignore_errors=True)
    figures["total time"] = f"{time.monotonic() - started:.0f} s"
    print("\nmake test-deploy: every check held")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
