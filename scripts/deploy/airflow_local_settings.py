"""Cluster policy of the ``make test-deploy`` deployment (its components' PYTHONPATH holds this
folder, so Airflow imports it): the stale-archive example runs only when the asset scenario
triggers it. Its ``@daily`` schedule would start a run with the default params (90 days, a
work_dir in /tmp) as soon as the DAG is parsed, archiving thousands of the conversations the other
scenarios check. The digest DAG, and everything else, is left as a user deploys it."""

from __future__ import annotations

from typing import Any

STALE_DAG_ID = "example_moveworks_archive_stale_conversations"


def dag_policy(dag: Any) -> None:
    if dag.dag_id == STALE_DAG_ID:
        from airflow.timetables.simple import NullTimetable

        dag.timetable = NullTimetable()
