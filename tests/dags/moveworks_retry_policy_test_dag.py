"""One update with task retries, under the operator's default retry_policy (Airflow 3.3+)."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

with DAG(
    dag_id="moveworks_retry_policy_test", schedule=None, params={"conversation_id": "conv_unset"}
) as dag:
    MoveworksUpdateConversationOperator(
        task_id="update",
        conversation_id="{{ params.conversation_id }}",
        archived=True,
        retries=3,
        retry_delay=timedelta(seconds=0),
    )
