"""A bulk task that runs out of time (execution_timeout) part-way and is retried: the retry
resumes from the task state store (Airflow 3.3+) or report_file instead of sending every row."""

from __future__ import annotations

from datetime import timedelta

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from airflow_provider_moveworks.version_compat import DAG

with DAG(
    dag_id="moveworks_bulk_resume_test",
    schedule=None,
    params={"updates_file": "", "report_file": ""},
) as dag:
    MoveworksBulkUpdateConversationsOperator(
        task_id="bulk",
        updates_file="{{ params.updates_file }}",
        report_file="{{ params.report_file or '' }}",
        max_concurrency=2,
        execution_timeout=timedelta(seconds=3),
        retries=4,
        retry_delay=timedelta(seconds=0),
    )
