"""Archive, every day, the conversations nobody has touched for ``max_age_days`` (default 90).

Use it to keep assistants' conversation lists short without losing anything: archived
conversations stay readable and can be unarchived. Three steps:

1. ``select_stale`` lists every unarchived conversation through the hook (all pages) and writes
   the stale ones to ``updates.jsonl`` (what to change) and ``selected.csv`` (what they were),
   streaming, so that a hundred thousand conversations never sit in memory or in XCom.
2. ``archive`` hands the file to ``MoveworksBulkUpdateConversationsOperator``: one task, many
   requests in flight, every row accounted for in ``report.jsonl``.
3. ``write_audit`` joins the two into ``audit.csv`` (id, title, last update, outcome) and says
   "Archived X of Y conversations". A title that a spreadsheet would run as a formula (starting
   with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, also after blanks or in their
   full-width forms) is written with a leading apostrophe.

Files go under ``params.work_dir`` (any Airflow object-storage URI: ``file://``, ``s3://``...),
one folder per run. On several workers, point it at storage they all reach.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_moveworks.operators.moveworks import MoveworksBulkUpdateConversationsOperator

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets; the
# full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) are folded into them by some spreadsheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet shows as text: a leading apostrophe stops a title such as
    ``=HYPERLINK(...)`` from becoming a formula when someone opens ``audit.csv``. Blanks before
    the sign do not hide it (a spreadsheet that trims cells on import would still run it)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) or text.lstrip().startswith(FORMULA_STARTS) else text


def lines(handle: IO[str]) -> Iterator[str]:
    """A file's lines, read with readline: Airflow 2.11's object-storage files are not iterable."""
    return iter(handle.readline, "")


with DAG(
    dag_id="example_moveworks_archive_stale_conversations",
    description="Archive conversations not updated for max_age_days, with an audit CSV",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={
        "max_age_days": Param(90, type="integer", minimum=1, description="archive what is older"),
        "work_dir": Param("file:///tmp/moveworks-archive-stale", type="string", description="output URI"),
    },
    tags=["example", "moveworks"],
) as dag:

    @task
    def select_stale(params: dict[str, Any] | None = None, run_id: str | None = None) -> dict[str, Any]:
        """Stream the stale conversations to files; return where they are and how many."""
        from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

        assert params is not None
        assert run_id is not None
        cutoff = datetime.now(timezone.utc) - timedelta(days=int(params["max_age_days"]))
        folder = ObjectStoragePath(params["work_dir"]) / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
        folder.mkdir(parents=True, exist_ok=True)
        listed = selected = 0
        # newline="": the csv module's own line endings, so a title's carriage return survives.
        selected_csv = (folder / "selected.csv").open("w", newline="")
        with (folder / "updates.jsonl").open("w") as updates, selected_csv as chosen:
            writer = csv.writer(chosen)
            writer.writerow(["conversation_id", "title", "updated_at"])
            for conversation in MoveworksHook().list_conversations(archived=False):
                listed += 1
                if datetime.fromisoformat(conversation["updated_at"].replace("Z", "+00:00")) < cutoff:
                    selected += 1
                    updates.write(
                        json.dumps({"conversation_id": conversation["conversation_id"], "archived": True})
                    )
                    updates.write("\n")
                    writer.writerow(
                        [
                            conversation["conversation_id"],
                            conversation.get("title") or "",
                            conversation["updated_at"],
                        ]
                    )
        print(f"Selected {selected} of {listed} unarchived conversations not updated since {cutoff:%Y-%m-%d}")
        return {"folder": str(folder), "listed": listed, "selected": selected}

    @task
    def write_audit(selection: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
        """``audit.csv``: each selected conversation with the outcome of its archive request."""
        folder = ObjectStoragePath(selection["folder"])
        outcomes = {}
        with (folder / "report.jsonl").open("r") as report:
            for line in lines(report):
                row = json.loads(line)
                outcomes[row["conversation_id"]] = row["outcome"]
        chosen_csv = (folder / "selected.csv").open("r", newline="")
        with chosen_csv as chosen, (folder / "audit.csv").open("w", newline="") as audit:
            writer = csv.writer(audit)
            writer.writerow(["conversation_id", "title", "last_updated_at", "outcome"])
            for row in csv.DictReader(lines(chosen)):
                writer.writerow(
                    [
                        row["conversation_id"],
                        spreadsheet_safe(row["title"]),
                        row["updated_at"],
                        outcomes.get(row["conversation_id"], "not sent"),
                    ]
                )
        archived, selected = summary["updated"], selection["selected"]
        print(f"Archived {archived} of {selected} conversations; audit in {folder / 'audit.csv'}")
        return {
            "audit_file": str(folder / "audit.csv"),
            "archived": summary["updated"],
            "selected": selection["selected"],
        }

    selection = select_stale()
    archive = MoveworksBulkUpdateConversationsOperator(
        task_id="archive",
        updates_file="{{ ti.xcom_pull(task_ids='select_stale')['folder'] }}/updates.jsonl",
        report_file="{{ ti.xcom_pull(task_ids='select_stale')['folder'] }}/report.jsonl",
        max_concurrency=8,
    )
    selection >> archive
    write_audit(selection, archive.output)
