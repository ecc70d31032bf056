"""A DAG that exercises MoveworksUpdateConversationOperator the ways users feed it: Jinja from
params / ``dag_run.conf``, an upstream XCom, and a mapped ``expand_kwargs``."""

from __future__ import annotations

import json
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

with DAG(
    dag_id="moveworks_operator_test",
    schedule=None,
    params={"conversation_id": "conv_unset", "archive": "no", "mapped_ids": [], "results_file": ""},
) as dag:

    @task
    def plan(params: dict | None = None) -> list[dict[str, str]]:
        assert params is not None
        return [
            {"conversation_id": cid, "title": f"Retitled {n}"} for n, cid in enumerate(params["mapped_ids"])
        ]

    @task
    def record(single: dict, mapped: list[dict], params: dict | None = None) -> None:
        assert params is not None
        Path(params["results_file"]).write_text(json.dumps({"single": single, "mapped": list(mapped)}))

    single = MoveworksUpdateConversationOperator(
        task_id="from_params",
        conversation_id="{{ params.conversation_id }}",
        title="Renamed in {{ dag.dag_id }}",
        archived="{{ params.archive }}",
    )
    mapped = MoveworksUpdateConversationOperator.partial(task_id="from_xcom").expand_kwargs(plan())
    record(single.output, mapped.output)
