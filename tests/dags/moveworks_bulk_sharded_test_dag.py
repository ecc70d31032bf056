"""The README's sharding pattern: the bulk operator mapped over several update files under a pool,
each shard with its own share of the request rate."""

from __future__ import annotations

from airflow.providers.common.compat.sdk import DAG, task

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

with DAG(dag_id="moveworks_bulk_sharded_test", schedule=None, params={"shards": []}) as dag:

    @task
    def shards(params: dict | None = None) -> list[str]:
        assert params is not None
        return list(params["shards"])

    MoveworksBulkUpdateConversationsOperator.partial(
        task_id="archive_shard",
        pool="default_pool",
        max_concurrency=4,
        max_requests_per_second=50,
    ).expand(updates_file=shards())
