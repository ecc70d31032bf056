"""A bulk update and a single update with the connection's Moveworks asset among their outlets,
and a DAG scheduled on that asset."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_moveworks.assets import moveworks_conversations_asset
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

CONVERSATIONS = moveworks_conversations_asset("moveworks_default")

with DAG(
    dag_id="moveworks_assets_producer_test",
    schedule=None,
    params={"updates": [], "conversation_id": "conv_unset", "dry_run": False},
) as producer:
    MoveworksBulkUpdateConversationsOperator(
        task_id="bulk",
        updates="{{ params.updates | tojson }}",
        dry_run="{{ params.dry_run }}",
        outlets=[CONVERSATIONS],
    )
    MoveworksUpdateConversationOperator(
        task_id="single",
        conversation_id="{{ params.conversation_id }}",
        archived=True,
        dry_run="{{ params.dry_run }}",
        outlets=[CONVERSATIONS],
    )

with DAG(
    dag_id="moveworks_assets_consumer_test",
    schedule=[CONVERSATIONS],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
) as consumer:

    @task
    def digest() -> None:
        pass

    digest()
