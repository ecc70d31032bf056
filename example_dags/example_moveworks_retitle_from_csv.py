"""Retitle the conversations listed in a CSV that an upstream job drops.

Use it when titles come from a table, for example a weekly export that names conversations
after their ticket. The CSV has a header ``conversation_id,title`` (a sample ships beside this
file in ``data/conversation_titles.csv``). ``read_titles`` checks every row with the provider's
own rules and fails, naming each bad row (or a conversation given two titles), before any
conversation is touched; a byte-order mark (a spreadsheet's "CSV UTF-8") is fine; each valid row
then becomes one mapped ``MoveworksUpdateConversationOperator``; ``report`` sums up.

Airflow renders the values that ``expand_kwargs`` maps as Jinja templates: each row is wrapped in
``literal`` on the way, so a title such as ``{{ conn.my_db.password }}`` is sent as written.

For thousands of rows prefer ``MoveworksBulkUpdateConversationsOperator``: one task instead of
a task instance per row.

Trigger with ``{"csv_path": "/data/exports/titles.csv"}``; without it the sample is used.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from airflow.providers.common.compat.sdk import DAG, literal, task

from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator

SAMPLE_CSV = Path(__file__).parent / "data" / "conversation_titles.csv"


def csv_rows(path: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    """Each row of the CSV: its cells by column, or why it cannot be read whole."""
    # utf-8-sig: a spreadsheet's "CSV UTF-8" export starts with a byte-order mark. strict: a quote
    # left open fails instead of swallowing the lines after it.
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True, strict=True)
        try:  # the header first: line_num then counts from it
            reader.fieldnames  # noqa: B018
        except csv.Error as error:
            raise ValueError(f"{path}: the header line is not valid CSV ({error})") from None
        number = 0
        while True:
            after = reader.line_num  # the lines read before this record (and any blank ones)
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise ValueError(
                    f"{path}: row {number + 1}, the first record after line {after}, is not valid CSV "
                    f"({error}): a field that opens a quote must close it"
                ) from None
            number += 1
            if None in row:  # cells past the header's: an unquoted comma would cut the title
                header = len(row) - 1
                yield number, f"has {header + len(row[None])} cells, the header has {header}"
            else:
                yield number, row


def as_written(row: dict[str, str]) -> dict[str, object]:
    """A row's values marked as data, never rendered as templates (runs where the row is read)."""
    return {name: literal(value) for name, value in row.items()}


with DAG(
    dag_id="example_moveworks_retitle_from_csv",
    description="Retitle conversations listed in a CSV, one mapped task per row",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={"csv_path": str(SAMPLE_CSV)},
    tags=["example", "moveworks"],
) as dag:

    @task
    def read_titles(params: dict | None = None) -> list[dict[str, str]]:
        """Rows of the CSV as operator arguments; every bad row named before anything is sent."""
        from airflow_provider_moveworks.exceptions import MoveworksValidationError
        from airflow_provider_moveworks.validation import validate_conversation_id, validate_title

        assert params is not None
        rows: list[dict[str, str]] = []
        problems: list[str] = []
        first_row: dict[str, int] = {}  # conversation id -> the row that names it first
        for number, row in csv_rows(params["csv_path"]):
            if isinstance(row, str):
                problems.append(f"row {number} {row}")
                continue
            try:
                conversation_id = validate_conversation_id(row.get("conversation_id"))
                title = validate_title(row.get("title"))
            except MoveworksValidationError as error:
                problems.append(f"row {number}: {error}")
                continue
            if conversation_id in first_row:
                # Two mapped updates of one conversation would race: the last to land wins.
                earlier = rows[first_row[conversation_id]]
                if earlier["title"] != title:
                    problems.append(f"row {number}: {conversation_id} already has another title in the file")
                continue
            first_row[conversation_id] = len(rows)
            rows.append({"conversation_id": conversation_id, "title": title})
        if problems:
            raise ValueError(f"{len(problems)} invalid rows in {params['csv_path']}: " + "; ".join(problems))
        return rows

    # none_failed: a header-only file maps no update (the mapped task is skipped); say so anyway.
    @task(trigger_rule="none_failed")
    def report(updated: list[dict | None] | None) -> dict[str, int]:
        """How many rows changed a conversation (missing conversations are ignored, not failed)."""
        results = [] if updated is None else list(updated)  # None: nothing mapped (Airflow 2.11)
        summary = {
            "rows": len(results),
            "retitled": sum(1 for r in results if r),
            "not_found": results.count(None),
        }
        retitled, rows, missing = summary["retitled"], summary["rows"], summary["not_found"]
        print(f"Retitled {retitled} of {rows} conversations ({missing} not found)")
        return summary

    retitled = MoveworksUpdateConversationOperator.partial(
        task_id="retitle", if_not_found="ignore"
    ).expand_kwargs(read_titles().map(as_written))
    report(retitled.output)
