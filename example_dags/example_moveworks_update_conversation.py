"""Update one Moveworks conversation from a manual trigger.

Use it when a person or another system decides, case by case, that a conversation should be
renamed or archived: trigger the DAG with a run configuration such as

    {"conversation_id": "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV", "title": "Laptop refresh", "archived": true}

or from the trigger form. ``title`` left empty keeps the current title; ``archived`` is one of
"unchanged" (the default: the flag is not sent), true (archive) or false (unarchive), so that
leaving it alone never reads as "false". A run must change something: the form cannot compare
two fields, so a run with neither a title nor an archive choice fails before any request is
sent. The DAG renders templates as native objects, so ``archived`` stays a boolean and a missing
title stays ``None`` instead of becoming the string "None".
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.providers.common.compat.sdk import DAG, Param

from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

UNCHANGED = "unchanged"

with DAG(
    dag_id="example_moveworks_update_conversation",
    description="Rename and/or archive one Moveworks conversation given at trigger time",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        # No default: the form asks for it before it lets a run start.
        "conversation_id": Param(
            type="string", pattern="^conv_[A-Za-z0-9]+$", description="the conv_... id to update"
        ),
        "title": Param(
            None,
            type=["null", "string"],
            minLength=1,
            maxLength=256,
            description="the new title; leave empty to keep the current one",
        ),
        "archived": Param(
            UNCHANGED,
            type=["string", "boolean"],
            enum=[UNCHANGED, True, False],
            values_display={UNCHANGED: "leave unchanged", "true": "archive", "false": "unarchive"},
            description="archive, unarchive, or leave the flag as it is",
        ),
    },
    tags=["example", "moveworks"],
) as dag:
    MoveworksUpdateConversationOperator(
        task_id="update_conversation",
        conversation_id="{{ params.conversation_id }}",
        title="{{ params.title }}",
        archived="{{ none if params.archived == 'unchanged' else params.archived }}",
        if_not_found="fail",
    )
