"""Archive, every day, the conversations nobody has touched for ``max_age_days`` (default 90).

Use it to keep assistants' conversation lists short without losing anything: archived
conversations stay readable and can be unarchived. Three steps:

1. ``select_stale`` lists every unarchived conversation through the hook (all pages) and writes
   the stale ones to ``updates.jsonl`` (what to change) and ``selected.csv`` (what they were),
   streaming, so that a hundred thousand conversations never sit in memory or in XCom.
   ``updated_at`` is read leniently (``parse_updated_at``): ISO 8601 with an offset, ``Z`` or
   ``z``, or none (then UTC), or an epoch number in seconds (milliseconds when it is clearly
   so). A conversation whose ``updated_at`` still cannot be read is skipped with a warning
   naming it, and counted.
2. ``archive`` hands the file to ``MoveworksBulkUpdateConversationsOperator``: one task, many
   requests in flight, every row accounted for in ``report.jsonl``.
3. ``write_audit`` joins the two into ``audit.csv`` (id, title, last update, outcome) and says
   "Archived X of Y conversations". A title that a spreadsheet would run as a formula (starting
   with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, also after blanks or in their
   full-width forms) is written with a leading apostrophe.

Files go under ``params.work_dir`` (any Airflow object-storage URI: ``file://``, ``s3://``...),
one folder per run. On several workers, point it at storage they all reach. Each file is written
under a temporary name and renamed once whole, so a task that fails leaves no partial file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_moveworks.assets import moveworks_conversations_asset
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

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


# An epoch number at or above this is in milliseconds: as seconds it would be after the year 5000.
EPOCH_MILLISECONDS_FROM = 1e11
# At most this many unreadable timestamps are named one by one in the log; the rest are counted.
WARNINGS_NAMED = 100
log = logging.getLogger("airflow.task")


def parse_updated_at(value: Any) -> datetime | None:
    """``value`` as an aware UTC datetime, read leniently; ``None`` when it cannot be read.

    ISO 8601 with any offset, ``Z`` or ``z``, or none (naive means UTC); an epoch number, or a
    string of one, in seconds, or in milliseconds when it is clearly so (from 1e11 up).
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            if text[-1:] in ("Z", "z"):
                text = text[:-1] + "+00:00"
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc)
        value = number
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    seconds = value / 1000 if abs(value) >= EPOCH_MILLISECONDS_FROM else value
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def temporary_beside(path: ObjectStoragePath) -> ObjectStoragePath:
    """A name beside ``path`` to write it under until it is whole (then renamed to ``path``)."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"


def remove_quietly(path: ObjectStoragePath) -> None:
    """Delete ``path`` if it is there; a failure to do so must not hide the error being raised."""
    with contextlib.suppress(Exception):
        if path.exists():
            path.unlink()


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
        "dry_run": Param(
            False, type="boolean", description="preview: report what would change, send nothing"
        ),
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
        listed = selected = unreadable = 0
        targets = [folder / "updates.jsonl", folder / "selected.csv"]
        temporaries = [temporary_beside(target) for target in targets]
        try:
            # newline="": the csv module's own line endings, so a title's carriage return survives.
            selected_csv = temporaries[1].open("w", newline="")
            with temporaries[0].open("w") as updates, selected_csv as chosen:
                writer = csv.writer(chosen)
                writer.writerow(["conversation_id", "title", "updated_at"])
                for conversation in MoveworksHook().list_conversations(archived=False):
                    listed += 1
                    updated_at = parse_updated_at(conversation.get("updated_at"))
                    if updated_at is None:
                        unreadable += 1
                        if unreadable <= WARNINGS_NAMED:
                            log.warning(
                                "Skipped conversation %s: its updated_at %r is not a timestamp",
                                conversation.get("conversation_id"),
                                conversation.get("updated_at"),
                            )
                        continue
                    if updated_at < cutoff:
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
            # Whole at last: only now do they take their names (replacing an earlier try's).
            for temporary, target in zip(temporaries, targets, strict=True):
                temporary.rename(target)
        except BaseException:
            for temporary in temporaries:
                remove_quietly(temporary)
            raise
        if unreadable > WARNINGS_NAMED:
            log.warning(
                "Skipped %d more conversations whose updated_at is not a timestamp",
                unreadable - WARNINGS_NAMED,
            )
        skipped = f"; {unreadable} skipped: updated_at unreadable" if unreadable else ""
        print(
            f"Selected {selected} of {listed} unarchived conversations not updated since "
            f"{cutoff:%Y-%m-%d}{skipped}"
        )
        return {"folder": str(folder), "listed": listed, "selected": selected, "unreadable": unreadable}

    @task
    def write_audit(selection: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
        """``audit.csv``: each selected conversation with the outcome of its archive request."""
        folder = ObjectStoragePath(selection["folder"])
        outcomes = {}
        with (folder / "report.jsonl").open("r") as report:
            for line in lines(report):
                row = json.loads(line)
                outcomes[row["conversation_id"]] = row["outcome"]
        temporary = temporary_beside(folder / "audit.csv")
        try:
            chosen_csv = (folder / "selected.csv").open("r", newline="")
            with chosen_csv as chosen, temporary.open("w", newline="") as audit:
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
            temporary.rename(folder / "audit.csv")
        except BaseException:
            remove_quietly(temporary)
            raise
        archived, selected = summary["updated"], selection["selected"]
        if summary.get("dry_run"):
            would = summary["would_update"]
            print(
                f"Dry run: would archive {would} of {selected} conversations; audit in {folder / 'audit.csv'}"
            )
        else:
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
        dry_run="{{ params.dry_run }}",
        # Tells example_moveworks_archive_digest (scheduled on it) what changed.
        outlets=[moveworks_conversations_asset("moveworks_default")],
    )
    selection >> archive
    write_audit(selection, archive.output)
