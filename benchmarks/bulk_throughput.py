"""Throughput of the bulk engine.

1. 10,000 updates at 20 ms emulated latency, ``max_concurrency=32``: the operator's engine
   against a plain ``ThreadPoolExecutor(32)`` + ``requests`` loop sending the same PATCHes over
   one pooled session (target: the engine reaches >= 85% of the plain rate).
2. 500 rows under ``dag.test()``: as 500 mapped ``MoveworksUpdateConversationOperator`` tasks
   against one bulk operator task (target: bulk >= 50x the mapped rate).

    PYTHONPATH=. .venv/bin/python benchmarks/bulk_throughput.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from _setup import API_KEY, ASSISTANT, airflow_home, quiet_logger, use_emulator

HOME = airflow_home()
DAGS = Path(HOME) / "dags"
DAGS.mkdir(exist_ok=True)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)

import requests  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

from airflow_provider_moveworks.bulk.rows import RowSource  # noqa: E402
from airflow_provider_moveworks.bulk.runner import BulkOptions, BulkRun  # noqa: E402
from airflow_provider_moveworks.client.transport import USER_AGENT  # noqa: E402
from airflow_provider_moveworks.emulator import MoveworksEmulator  # noqa: E402
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook  # noqa: E402

CONCURRENCY = 32
DAG_FILE = textwrap.dedent(
    """
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
    from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator
    from airflow.providers.common.compat.sdk import DAG, task

    with DAG(dag_id="bench_mapped", schedule=None, params={"ids": []}) as mapped:
        @task
        def plan(params=None):
            return [{"conversation_id": cid, "title": "Mapped"} for cid in params["ids"]]

        MoveworksUpdateConversationOperator.partial(task_id="update").expand_kwargs(plan())

    with DAG(dag_id="bench_bulk", schedule=None, params={"ids": []}) as bulk:
        @task
        def plan_bulk(params=None):
            return [{"conversation_id": cid, "title": "Bulk"} for cid in params["ids"]]

        MoveworksBulkUpdateConversationsOperator(task_id="update", updates=plan_bulk(), max_concurrency=32)
    """
)


def engine_rate(emu: MoveworksEmulator, ids: list[str]) -> float:
    """Updates/s through the operator's engine (hook, limiter, accounting)."""
    updates = [{"conversation_id": cid, "title": f"Engine {n}"} for n, cid in enumerate(ids)]
    started = time.perf_counter()
    summary = BulkRun(
        partial(MoveworksHook().new_client, pool_maxsize=CONCURRENCY),
        RowSource(updates=updates),
        BulkOptions(max_concurrency=CONCURRENCY),
        quiet_logger(),
    ).run()
    elapsed = time.perf_counter() - started
    assert summary["updated"] == len(ids), summary
    return len(ids) / elapsed


def plain_rate(emu: MoveworksEmulator, ids: list[str]) -> float:
    """Updates/s of a plain thread pool sending the same PATCHes over one pooled session."""
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=CONCURRENCY))
    session.headers.update(
        {
            "Authorization": f"Bearer {API_KEY}",
            "Assistant-Name": ASSISTANT,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
    )

    def send(item: tuple[int, str]) -> None:
        n, cid = item
        response = session.patch(
            f"{emu.base_url}/conversations/{cid}", json={"title": f"Plain {n}"}, timeout=30
        )
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}")
        response.json()

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for _ in pool.map(send, enumerate(ids)):
            pass
    return len(ids) / (time.perf_counter() - started)


def dag_rates(rows: int) -> tuple[float, float, float]:
    """Rows/s of the mapped DAG run, of the bulk DAG run, and of the bulk task alone."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    (DAGS / "bench_dags.py").write_text(DAG_FILE)
    from airflow_provider_moveworks.version_compat import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert not bag.import_errors, bag.import_errors
    with MoveworksEmulator(
        api_keys=(API_KEY,), assistant_name=ASSISTANT, seed_conversations=rows, random_seed=2
    ) as emu:
        use_emulator(emu.base_url)
        ids = list(emu.conversations())
        started = time.perf_counter()
        run = bag.get_dag("bench_mapped").test(run_conf={"ids": ids})
        mapped = time.perf_counter() - started
        assert str(run.state) == "success", run.state
        started = time.perf_counter()
        run = bag.get_dag("bench_bulk").test(run_conf={"ids": ids})
        bulk = time.perf_counter() - started
        assert str(run.state) == "success", run.state
        assert emu.request_count(method="PATCH", status=200) == 2 * rows
        task_seconds = _task_seconds(run)
    return rows / mapped, rows / bulk, rows / task_seconds


def _task_seconds(run: object) -> float:
    for ti in run.get_task_instances():  # type: ignore[attr-defined]
        if ti.task_id == "update":
            return float(ti.duration)
    raise RuntimeError("no bulk task instance")


def main() -> None:
    """Run both comparisons and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dag-rows", type=int, default=500)
    args = parser.parse_args()
    with MoveworksEmulator(
        api_keys=(API_KEY,),
        assistant_name=ASSISTANT,
        seed_conversations=args.rows,
        random_seed=1,
        latency=0.02,
    ) as emu:
        use_emulator(emu.base_url)
        ids = list(emu.conversations())
        plain = plain_rate(emu, ids)
        engine = engine_rate(emu, ids)
    mapped, bulk, task = dag_rates(args.dag_rows)
    print(f"{args.rows} updates, 20 ms latency, 32 in flight:")
    print(f"  plain ThreadPoolExecutor(32) + requests: {plain:.0f} updates/s")
    print(f"  bulk engine (max_concurrency=32):        {engine:.0f} updates/s")
    print(f"  engine / plain:                          {100 * engine / plain:.1f}% (target >= 85%)")
    print(f"{args.dag_rows} rows under dag.test():")
    print(f"  mapped MoveworksUpdateConversationOperator: {mapped:.1f} rows/s (whole DAG run)")
    print(
        f"  bulk operator:                              {bulk:.1f} rows/s (whole DAG run), "
        f"{task:.0f} rows/s (task alone)"
    )
    print(f"  bulk / mapped:                              {bulk / mapped:.0f}x whole run (target >= 50x)")


if __name__ == "__main__":
    main()
