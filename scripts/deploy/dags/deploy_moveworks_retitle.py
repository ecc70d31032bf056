"""Deploy-only DAGs for ``make test-deploy``: a second team's retitle job on the same Moveworks account
(connection ``moveworks_default``) that runs while the sharded-archive example does.

One bulk task reads ``params.updates_file`` (JSON Lines) and writes ``params.report_file``:

* ``deploy_moveworks_retitle_static``: at a rate of its own, ``RETITLE_STATIC_REQUESTS_PER_SECOND``,
  as a second job is paced today (it knows nothing of the other job's split);
* ``deploy_moveworks_retitle_shared``: from the account's budget shared through the Redis connection
  ``MOVEWORKS_RATE_LIMIT_CONN_ID`` (the same key as the example's shards: same API host and
  assistant), at account limit / pool slots alone while Redis does not answer.

Two DAGs rather than one with a param: the rate keywords are fixed when the file is parsed, and a
mapped task only to choose them would cost each run a task start-up.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

# The deployment sets these for every component; a missing one fails the import (the test names it).
ACCOUNT_REQUESTS_PER_SECOND = float(os.environ["MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND"])
POOL_SLOTS = int(os.environ["MOVEWORKS_POOL_SLOTS"])
RATE_LIMIT_CONN_ID = os.environ["MOVEWORKS_RATE_LIMIT_CONN_ID"]
RETITLE_STATIC_REQUESTS_PER_SECOND = float(os.environ["DEPLOY_RETITLE_STATIC_REQUESTS_PER_SECOND"])

PACING: dict[str, dict[str, Any]] = {
    "static": {"max_requests_per_second": RETITLE_STATIC_REQUESTS_PER_SECOND},
    "shared": {
        "rate_limit_conn_id": RATE_LIMIT_CONN_ID,
        "rate_limit_requests_per_second": ACCOUNT_REQUESTS_PER_SECOND,
        "fallback_requests_per_second": ACCOUNT_REQUESTS_PER_SECOND / POOL_SLOTS,
    },
}

for budget, pacing in PACING.items():
    with DAG(
        dag_id=f"deploy_moveworks_retitle_{budget}",
        description=f"Retitle conversations on the archive's account ({budget} rate budget)",
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        params={
            "updates_file": Param("file:///tmp/retitle.jsonl", type="string", description="input URI"),
            "report_file": Param("file:///tmp/retitle-report.jsonl", type="string", description="report"),
        },
        tags=["deploy", "moveworks"],
    ):
        MoveworksBulkUpdateConversationsOperator(
            task_id="retitle",
            updates_file="{{ params.updates_file }}",
            report_file="{{ params.report_file }}",
            max_concurrency=8,
            **pacing,
        )
