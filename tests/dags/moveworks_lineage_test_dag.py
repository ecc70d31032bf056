"""The operators under the OpenLineage listener: a bulk update from a file, one from inline rows,
and one single update; and a DAG whose updates fail (a 404 with if_not_found="fail", an invalid id)."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import DAG

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

with DAG(
    dag_id="moveworks_lineage_test",
    schedule=None,
    params={"updates_file": "", "updates": [], "conversation_id": ""},
) as dag:
    MoveworksBulkUpdateConversationsOperator(task_id="bulk_file", updates_file="{{ params.updates_file }}")
    MoveworksBulkUpdateConversationsOperator(
        task_id="bulk_inline", updates="{{ params.updates | tojson }}", on_invalid="skip"
    )
    MoveworksUpdateConversationOperator(
        task_id="update_one", conversation_id="{{ params.conversation_id }}", title="Lineage"
    )

with DAG(
    dag_id="moveworks_lineage_failure_test",
    schedule=None,
    params={"updates_file": "", "conversation_id": ""},
) as failing_dag:
    MoveworksBulkUpdateConversationsOperator(
        task_id="bulk_not_found", updates_file="{{ params.updates_file }}", if_not_found="fail"
    )
    MoveworksUpdateConversationOperator(
        task_id="update_invalid", conversation_id="{{ params.conversation_id }}", archived=True
    )
