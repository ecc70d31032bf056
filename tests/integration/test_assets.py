"""Moveworks assets on Airflow 3.3: both operators add an event with the counts when they
update anything (none for a dry run), and a DAG scheduled on the connection's asset is queued
by that event: no sensor, no polling."""

from __future__ import annotations

import pytest

from airflow_provider_moveworks.assets import asset_uri
from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS
from tests.conftest import ASSISTANT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events are tested on Airflow 3"),
]


def events_of(run_id: str) -> list[tuple[str, str, dict]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        found = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run_id)).all()
        return sorted((event.source_task_id, event.asset.uri, dict(event.extra)) for event in found)


def queued_for(dag_id: str) -> int:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(select(func.count()).where(AssetDagRunQueue.target_dag_id == dag_id)) or 0


def unpause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))


def test_updates_add_an_event_with_the_counts_and_queue_the_dag_scheduled_on_the_asset(
    load_dag, emulator_connection
) -> None:
    emu = emulator_connection
    ids = [emu.add_conversation(title="t")["conversation_id"] for _ in range(3)]
    producer = load_dag("moveworks_assets_producer_test")
    uri = asset_uri(emu.base_url, ASSISTANT)
    updates = [{"conversation_id": c, "archived": True} for c in ids[:2]]

    preview = producer.test(run_conf={"updates": updates, "conversation_id": ids[2], "dry_run": True})
    assert str(preview.state) == "success"
    assert events_of(preview.run_id) == []  # a dry run changes nothing and says nothing changed
    unpause("moveworks_assets_consumer_test")

    run = producer.test(run_conf={"updates": updates, "conversation_id": ids[2], "dry_run": False})

    assert str(run.state) == "success"
    assert events_of(run.run_id) == [
        ("bulk", uri, {"updated": 2, "not_found": 0, "failed": 0, "unchanged": 0}),
        ("single", uri, {"updated": 1, "not_found": 0, "failed": 0, "unchanged": 0}),
    ]
    assert queued_for("moveworks_assets_consumer_test") == 1
