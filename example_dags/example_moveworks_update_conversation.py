"""Update one Moveworks conversation from a manual trigger.

Use it when a person or another system decides, case by case, that a conversation should be
renamed or archived: trigger the DAG with a run configuration such as

    {"conversation_id": "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV", "title": "Laptop refresh", "archived": true}

Either ``title`` or ``archived`` may be left out (null): only what is given is changed. The DAG
renders templates as native objects, so ``archived`` stays a boolean and a missing title stays
``None`` instead of becoming the string "None".
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator
from airflow_provider_moveworks.version_compat import DAG, Param

with DAG(
    dag_id="example_moveworks_update_conversation",
    description="Rename and/or archive one Moveworks conversation given at trigger time",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "conversation_id": Param(None, type=["null", "string"], description="conv_... id to update"),
        "title": Param(None, type=["null", "string"], maxLength=256, description="new title, or null"),
        "archived": Param(None, type=["null", "boolean"], description="new archived flag, or null"),
    },
    tags=["example", "moveworks"],
) as dag:
    MoveworksUpdateConversationOperator(
        task_id="update_conversation",
        conversation_id="{{ params.conversation_id }}",
        title="{{ params.title }}",
        archived="{{ params.archived }}",
        if_not_found="fail",
    )
