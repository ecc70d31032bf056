"""The asset scenario: the scheduler follows the stale archive's asset event.

``example_moveworks_archive_stale_conversations`` is triggered to archive the conversations not
updated for ``MAX_AGE_DAYS``: a few hundred of the emulator's seeded ones, whose ``updated_at``
lie in the 365 days before today, most of them recent. Its bulk task has the connection's asset
alias among its outlets, so its event must make the scheduler start
``example_moveworks_archive_digest`` (scheduled on that alias) on its own: a run of type
``asset_triggered``, which must succeed and count exactly the conversations the archive updated.

It runs first, so that the seeded state alone decides what it archives (the other scenarios
update thousands of conversations, which are then no longer stale).
The deployment's scheduler creates runs (``use_job_schedule``, as by default); the stale example's
own ``@daily`` schedule is turned off there (``airflow_local_settings.py``).
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from deployment import DIGEST_DAG_ID, STALE_DAG_ID, Deployment
from stack import DeployError, wait_for

MAX_AGE_DAYS = 300  # about 1.5% of the seeded conversations are older


def follow_the_asset(deployment: Deployment) -> dict[str, Any]:
    started = time.monotonic()
    # The digest must be scheduled on the alias before the event, or nothing queues it.
    scheduled = "SELECT 1 FROM dag_schedule_asset_alias_reference WHERE dag_id = %s"
    parsed = "SELECT 1 FROM serialized_dag WHERE dag_id = %s"
    ready = lambda: bool(deployment.sql(scheduled, DIGEST_DAG_ID) and deployment.sql(parsed, STALE_DAG_ID))  # noqa: E731
    wait_for("the stale-archive and digest DAGs to be parsed", ready, 60, deployment.stack)

    before = deployment.emulator_get("/state")["conversations"]
    cutoff = _stamp(datetime.now(timezone.utc) - timedelta(days=MAX_AGE_DAYS))
    run_id = "deploy_assets"
    conf = {"max_age_days": MAX_AGE_DAYS, "work_dir": deployment.work.as_uri()}
    deployment.api_post(
        f"/api/v2/dags/{STALE_DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": conf}
    )
    _wait_for_success(deployment, STALE_DAG_ID, run_id, timeout=120)
    triggered = "SELECT run_id FROM dag_run WHERE dag_id = %s AND run_type = 'asset_triggered'"
    runs = lambda: deployment.sql(triggered, DIGEST_DAG_ID)  # noqa: E731
    wait_for("the scheduler to start the digest DAG", lambda: bool(runs()), 60, deployment.stack)
    ((digest_run,),) = runs()
    _wait_for_success(deployment, DIGEST_DAG_ID, digest_run, timeout=60)

    # What the archive updated: exactly the stale ones (a margin of the run's own seconds).
    after = deployment.emulator_get("/state")["conversations"]
    archived = {cid for cid, old in before.items() if not old["archived"] and after[cid]["archived"]}
    stale = {cid for cid, old in before.items() if not old["archived"] and old["updated_at"] < cutoff}
    latest = _stamp(datetime.now(timezone.utc) - timedelta(days=MAX_AGE_DAYS))
    assert stale <= archived, f"{len(stale - archived)} stale conversations not archived"
    assert all(before[cid]["updated_at"] < latest for cid in archived), "a recent conversation was archived"
    updated = _xcom(deployment, STALE_DAG_ID, run_id, "archive")["updated"]
    assert updated == len(archived) > 0, f"archive: {updated} updated; emulator: {len(archived)} archived"

    digest = _xcom(deployment, DIGEST_DAG_ID, digest_run, "digest")
    digest_file = Path(digest["digest_file"].removeprefix("file://"))
    lines = json.loads(digest_file.read_text())
    digest_file.unlink()  # in the example's default folder, /tmp/moveworks-digest
    assert (digest["events"], digest["updated"]) == (1, updated), f"digest {digest}; archive: {updated}"
    assert f"({run_id})" in lines[0]["changed_by"], f"the digest's event came from {lines[0]['changed_by']}"
    took = time.monotonic() - started
    return {
        "assets": (
            f"the stale archive updated {updated} conversations (max_age_days={MAX_AGE_DAYS}); the "
            f"scheduler's asset-triggered digest counted {digest['updated']}; scenario {took:.0f} s"
        )
    }


def _stamp(moment: datetime) -> str:
    """A time as the emulator writes ``updated_at`` (comparable as text)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _wait_for_success(deployment: Deployment, dag_id: str, run_id: str, timeout: float) -> None:
    query = "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s"
    state = lambda: (deployment.sql(query, dag_id, run_id) or [(None,)])[0][0]  # noqa: E731
    finished = lambda: state() in ("success", "failed")  # noqa: E731
    wait_for(f"{dag_id} run {run_id} to finish", finished, timeout, deployment.stack)
    if state() != "success":
        tasks = deployment.sql(
            "SELECT task_id, state, try_number, hostname FROM task_instance "
            "WHERE dag_id = %s AND run_id = %s",
            dag_id,
            run_id,
        )
        raise DeployError(f"{dag_id} run {run_id} {state()}: {tasks}")


def _xcom(deployment: Deployment, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    ((value,),) = deployment.sql(
        "SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = 'return_value'",
        dag_id,
        run_id,
        task_id,
    )
    return json.loads(value) if isinstance(value, (str, bytes)) else value  # JSON, or JSON text
