"""Apply a large export of conversation updates on several workers at once, within the API's limit.

One bulk task is enough for tens of thousands of rows; past that, or to spread the load over a
Celery or Kubernetes deployment, split the export into shards and run one bulk task per shard:

1. ``split_export`` streams ``params.export`` (JSON Lines or CSV on any Airflow object-storage URI
   every worker reaches) into ``params.shards`` shard files under ``params.work_dir``/<run id>/.
   A conversation's rows all go to one shard (by a hash of its id), so that the bulk operator
   still finds duplicates and conflicting rows across the whole export.
2. ``archive_shard``: ``MoveworksBulkUpdateConversationsOperator`` mapped over the shards, under
   the Airflow pool ``MOVEWORKS_POOL`` (at most ``MOVEWORKS_POOL_SLOTS`` shards at once), each
   with its own ``report_file``. How the shards share the account's limit:

   * with a Redis connection named by ``MOVEWORKS_RATE_LIMIT_CONN_ID`` (and the ``shared_budget``
     param left on), every shard takes its requests from one budget of the whole limit, shared
     with any other bulk task on the account: a shard that finishes early leaves its share to
     the others. While Redis does not answer, each shard paces itself at limit / pool slots;
   * without one, the static split: each shard at ``account limit / pool slots``. However the
     shards are spread over workers, together they stay under the limit.
3. ``combine`` adds the shard summaries into one (returned, and written to ``summary.json``
   beside the reports), checks that they add up, and fails if any shard failed.

The account limit, the pool and its slots are deployment settings, read from the environment
when the file is parsed (``MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND``, default 100;
``MOVEWORKS_POOL``, default ``moveworks``; ``MOVEWORKS_POOL_SLOTS``, default 4). Create the pool
with as many slots: ``airflow pools set moveworks 4 "Moveworks API"``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import IO, Any

from airflow.providers.common.compat.sdk import DAG, AirflowFailException, ObjectStoragePath, Param, task

from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator


def _setting(name: str, default: str, kind: type[int] | type[float], problems: list[str]) -> Any:
    """A positive, finite number from the environment; a bad one is recorded in ``problems`` (the
    run then fails naming it, instead of the file failing to import) and the default is used."""
    raw = os.environ.get(name, default)
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        problems.append(f"{name}={raw!r} must be a {'whole ' if kind is int else ''}number > 0")
        return kind(default)
    return value


# Deployment settings that are not usable; split_export fails naming them before anything runs.
SETTING_PROBLEMS: list[str] = []
ACCOUNT_REQUESTS_PER_SECOND = _setting(
    "MOVEWORKS_ACCOUNT_REQUESTS_PER_SECOND", "100", float, SETTING_PROBLEMS
)
POOL = os.environ.get("MOVEWORKS_POOL", "moveworks")
if not POOL.strip() or POOL.strip() != POOL:
    # No pool has that name: the shards would wait for it forever.
    SETTING_PROBLEMS.append(f"MOVEWORKS_POOL={POOL!r} must name a pool")
    POOL = "moveworks"
POOL_SLOTS = _setting("MOVEWORKS_POOL_SLOTS", "4", int, SETTING_PROBLEMS)
# A Redis connection for a rate budget shared by every bulk task on the account (blank: none).
RATE_LIMIT_CONN_ID = os.environ.get("MOVEWORKS_RATE_LIMIT_CONN_ID", "").strip() or None
# The counts every bulk summary carries; ``total`` is their sum.
COUNTS = ("updated", "not_found", "failed", "invalid", "duplicates")
# The most shard files split_export keeps open at once.
OPEN_SHARDS = 128
# A JSON Lines record longer than this is cut where it stands: the bulk operator refuses any line
# over 1 MiB, and the split must not hold a whole file of \r line endings in memory.
MAX_RECORD_CHARS = 1 << 20


def lines(handle: IO[str]) -> Iterator[str]:
    """A file's lines, read with readline: Airflow 2.11's object-storage files are not iterable."""
    return iter(handle.readline, "")


def shard_of(conversation_id: object, shards: int) -> int:
    """The shard of a conversation: stable across runs and workers (unlike ``hash()``)."""
    return zlib.crc32(str(conversation_id).encode()) % shards


def _chain(first: list[str], rest: IO[str]) -> Iterator[str]:
    """The lines already read, then the rest of the file."""
    yield from first
    yield from lines(rest)


def _records(pieces: Iterator[str]) -> Iterator[str]:
    """JSON Lines records: text up to each \\n. Read with ``newline=""``, a bare \\r (JSON
    whitespace inside a record) also ends a line; such pieces are joined again."""
    record = ""
    for piece in pieces:
        record += piece
        # Past the bulk operator's longest line (a file of \r alone) it is invalid anyway.
        if record.endswith("\n") or len(record) > MAX_RECORD_CHARS:
            yield record
            record = ""
    if record:
        yield record


def _leading_lines(handle: IO[str]) -> list[str]:
    """The lines up to and including the first that is not blank (all of them if none is)."""
    read = []
    for line in lines(handle):
        read.append(line)
        if line.strip():
            break
    return read


def is_csv(uri: str, first_line: str) -> bool:
    """The bulk operator's own rule: the extension (before any query), else ``{`` at the first
    character that is not blank starts JSON Lines."""
    name = uri.lower().rsplit("?", 1)[0]
    if name.endswith((".jsonl", ".ndjson")):
        return False
    return name.endswith(".csv") or not first_line.lstrip().startswith("{")


def id_column(header: list[str]) -> int:
    """The column of ``conversation_id``, named as the bulk operator reads a header (cells
    stripped); 0 when none names it (the shard's bulk task then rejects the header)."""
    names = [cell.strip() for cell in header]
    return names.index("conversation_id") if "conversation_id" in names else 0


def _split(
    source: IO[str],
    first: list[str],
    csv_input: bool,
    shards: int,
    outputs: dict[int, IO[str]],
    counts: list[int],
    export: str,
) -> None:
    """Write each row of ``source`` (after the ``first`` lines already read) to its shard, if that
    shard is one of ``outputs`` (the shards of this pass)."""
    if csv_input:
        # The csv module keeps quoted line breaks inside one record; strict, as the bulk operator
        # reads: a quote left open is an error, not a field that swallows the rest of the file.
        reader = csv.reader(_chain(first, source), strict=True, skipinitialspace=True)
        # The header is the first record that is not blank, as the bulk operator reads it.
        header = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
        if header is None:
            raise AirflowFailException(f"{export} is empty")
        # Every cell quoted: blanks at the start of a cell, or a cell of blanks only, then read
        # back in the shard as they were in the export.
        writers = {shard: csv.writer(out, quoting=csv.QUOTE_ALL) for shard, out in outputs.items()}
        for writer in writers.values():
            writer.writerow(header)
        column = id_column(header)
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue  # a blank line is not a row
            shard = shard_of(record[column] if column < len(record) else "", shards)
            if shard in writers:
                writers[shard].writerow(record)
                counts[shard] += 1
    else:
        for line in _records(_chain(first, source)):
            if not line.strip():
                continue
            try:
                conversation_id = json.loads(line).get("conversation_id")
            except (ValueError, AttributeError, RecursionError):
                conversation_id = None  # the shard's bulk task reports it invalid
            shard = shard_of(conversation_id, shards)
            if shard in outputs:
                outputs[shard].write(line if line.endswith("\n") else line + "\n")
                counts[shard] += 1


def _split_pass(export: str, folder: Any, shards: int, these: range, counts: list[int]) -> list[Any]:
    """Read the whole export, writing the rows of the shards ``these``; return every shard's path."""
    with ObjectStoragePath(export).open("r", encoding="utf-8-sig", newline="") as source:
        try:
            first = _leading_lines(source)
        except UnicodeDecodeError:
            raise AirflowFailException(f"{export} is not UTF-8 text: re-export it as UTF-8") from None
        csv_input = is_csv(export, first[-1] if first else "")
        suffix = "csv" if csv_input else "jsonl"
        paths = [folder / f"shard-{n:04d}.{suffix}" for n in range(shards)]
        outputs: dict[int, IO[str]] = {}
        try:
            for n in these:
                outputs[n] = paths[n].open("w", encoding="utf-8", newline="")
            _split(source, first, csv_input, shards, outputs, counts, export)
        except UnicodeDecodeError:
            raise AirflowFailException(
                f"{export} is not UTF-8 text (after about {sum(counts)} rows): re-export it as UTF-8"
            ) from None
        except csv.Error as error:
            raise AirflowFailException(
                f"{export} is not valid CSV ({error}); check its quotes: a field that opens a quote "
                "must close it"
            ) from None
        finally:
            for out in outputs.values():
                out.close()
    return paths


with DAG(
    dag_id="example_moveworks_sharded_archive",
    description="Split an export into shards, bulk-update them in parallel under a pool, add up",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    params={
        "export": Param("file:///tmp/moveworks-export.jsonl", type="string", description="input URI"),
        "work_dir": Param("file:///tmp/moveworks-sharded", type="string", description="output URI"),
        "shards": Param(POOL_SLOTS, type="integer", minimum=1, maximum=1024, description="shard count"),
        "shared_budget": Param(
            RATE_LIMIT_CONN_ID is not None,
            type="boolean",
            description="share the account's limit through Redis (MOVEWORKS_RATE_LIMIT_CONN_ID)",
        ),
    },
    tags=["example", "moveworks"],
) as dag:

    def rate_arguments(shared: bool) -> dict[str, Any]:
        """The shards' pacing: the shared budget of the whole limit, or the static split."""
        split = ACCOUNT_REQUESTS_PER_SECOND / POOL_SLOTS
        if not shared:
            return {"max_requests_per_second": split}
        if RATE_LIMIT_CONN_ID is None:
            raise AirflowFailException(
                "shared_budget is on but MOVEWORKS_RATE_LIMIT_CONN_ID names no Redis connection"
            )
        return {
            "rate_limit_conn_id": RATE_LIMIT_CONN_ID,
            "rate_limit_requests_per_second": ACCOUNT_REQUESTS_PER_SECOND,
            "fallback_requests_per_second": split,
        }

    @task
    def split_export(params: dict[str, Any] | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Write the shard files; return each shard's arguments (files and pacing)."""
        assert params is not None
        assert run_id is not None
        if SETTING_PROBLEMS:
            raise AirflowFailException(
                "the deployment settings are not usable: " + "; ".join(SETTING_PROBLEMS)
            )
        export, shards = params["export"], int(params["shards"])
        pacing = rate_arguments(bool(params.get("shared_budget", False)))
        folder = ObjectStoragePath(params["work_dir"]) / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)
        folder.mkdir(parents=True, exist_ok=True)
        counts = [0] * shards
        paths: list[Any] = []
        # At most OPEN_SHARDS shard files open at once (a worker's open-file limit is often 1024):
        # more shards than that are written in several passes over the export.
        for low in range(0, shards, OPEN_SHARDS):
            paths = _split_pass(export, folder, shards, range(low, min(low + OPEN_SHARDS, shards)), counts)
        print(f"Split {sum(counts)} rows of {export} into {shards} shards: {counts}")
        return [
            {"updates_file": str(path), "report_file": str(folder / f"report-{n:04d}.jsonl"), **pacing}
            for n, path in enumerate(paths)
        ]

    @task(trigger_rule="all_done")
    def combine(shards: list[dict[str, Any]], summaries: Any) -> dict[str, Any]:
        """One summary for the whole export; fails if a shard failed or a row went uncounted."""
        if not shards:
            raise AirflowFailException("split_export wrote no shards (it failed): nothing was archived")
        done = [summary for summary in summaries if summary]
        if len(done) != len(shards):
            raise AirflowFailException(
                f"{len(shards) - len(done)} of {len(shards)} shards failed: each one's task log says why, "
                "and its report which rows got an answer (none if its input was refused)"
            )
        combined: dict[str, Any] = {key: sum(int(summary[key]) for summary in done) for key in COUNTS}
        combined["total"] = sum(int(summary["total"]) for summary in done)
        combined["requests"] = sum(int(summary["requests"]) for summary in done)
        combined["throttled"] = sum(int(summary["throttled"]) for summary in done)
        # Rows a shard's earlier try had updated (a retry resumes from them instead of re-sending).
        combined["resumed"] = sum(int(summary.get("resumed", 0)) for summary in done)
        combined["shards"] = len(done)
        combined["report_files"] = [shard["report_file"] for shard in shards]
        if combined["total"] != sum(combined[key] for key in COUNTS):
            raise AirflowFailException(f"the shard summaries do not add up: {combined}")
        summary_file = ObjectStoragePath(shards[0]["report_file"]).parent / "summary.json"
        with summary_file.open("w") as out:
            out.write(json.dumps(combined, indent=2) + "\n")
        print(f"Combined summary of {len(done)} shards: {combined}")
        return combined

    split = split_export()
    archive_shard = MoveworksBulkUpdateConversationsOperator.partial(
        task_id="archive_shard",
        pool=POOL,
        max_concurrency=8,
        retries=2,
        retry_delay=timedelta(seconds=1),
    ).expand_kwargs(split)
    combine(split, archive_shard.output)
