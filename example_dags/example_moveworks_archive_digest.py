"""Run when conversations were archived: a DAG scheduled on the Moveworks asset of
``moveworks_default``, which the stale-archive example updates. It writes a digest of what
changed from the asset event's ``extra`` (the counts the bulk operator recorded): no sensor,
no polling. Triggered by hand, it digests the latest such event.

Airflow 3 (asset events through an alias).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_moveworks.assets import moveworks_conversations_asset

CONVERSATIONS = moveworks_conversations_asset("moveworks_default")

with DAG(
    dag_id="example_moveworks_archive_digest",
    schedule=[CONVERSATIONS],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["moveworks", "example"],
    params={"digest_dir": Param("file:///tmp/moveworks-digest", type="string", description="output URI")},
) as dag:

    @task(inlets=[CONVERSATIONS])
    def digest(
        params: dict[str, Any] | None = None,
        run_id: str | None = None,
        triggering_asset_events: Any = None,
        inlet_events: Any = None,
    ) -> dict[str, Any]:
        """One line per asset event: which conversations, which run, and its counts."""
        assert params is not None
        assert run_id is not None
        # Airflow lists an event added through an alias under the alias and again under its asset:
        # read the alias's entry, which holds each event once.
        events = list((triggering_asset_events or {}).get(CONVERSATIONS, ()))
        if not events and inlet_events is not None:  # triggered by hand: the latest event
            events = list(inlet_events[CONVERSATIONS].ascending(False).limit(1))
        lines = [
            {
                "conversations": event.asset.uri,
                "changed_by": f"{event.source_dag_id}/{event.source_task_id} ({event.source_run_id})",
                **event.extra,
            }
            for event in events
        ]
        folder = ObjectStoragePath(params["digest_dir"])
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{run_id.replace(':', '_').replace('+', '_')}.json"
        target.write_text(json.dumps(lines, indent=2))
        updated = sum(int(line.get("updated", 0)) for line in lines)
        print(f"Digest of {len(lines)} change(s), {updated} conversation(s) updated: {target}")
        return {"digest_file": str(target), "events": len(lines), "updated": updated}

    digest()
