"""A DAG feeding MoveworksBulkUpdateConversationsOperator from an upstream task's XCom, and
handing its summary to a downstream task (which writes it where the test can read it)."""

from __future__ import annotations

import json
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

with DAG(
    dag_id="moveworks_bulk_test",
    schedule=None,
    params={"conversation_ids": [], "results_file": ""},
) as dag:

    @task
    def plan(params: dict | None = None) -> list[dict[str, object]]:
        assert params is not None
        ids = params["conversation_ids"]
        return [
            {"conversation_id": cid, "title": f"Bulk {n}", "archived": n % 2 == 0}
            for n, cid in enumerate(ids)
        ]

    @task
    def record(summary: dict, params: dict | None = None) -> None:
        assert params is not None
        Path(params["results_file"]).write_text(json.dumps(summary))

    bulk = MoveworksBulkUpdateConversationsOperator(task_id="bulk", updates=plan(), max_concurrency=4)
    record(bulk.output)
