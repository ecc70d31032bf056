"""What a later try of the same task instance needs to skip the rows an earlier try updated.

Progress is the input's fingerprint and the rows updated so far, kept as ranges of row numbers:
rows finish nearly in order, so a run of 20,000 rows is one range plus the few rows finished out
of order above it (``{"fingerprint": ..., "updated": [[1, 10412], [10415, 10415]]}``).

Where it is kept, best first:

* Airflow's task state store (``context["task_state_store"]``, Airflow 3.3+): per task instance,
  kept across its tries, on any worker; saved at least every second.
* The previous ``report_file``: every line carries ``"run"``, a digest of the DAG run, task, map
  index and input, so a report from another run, task, map index or input is never used.
* Nothing: a retry sends every row again (the run says so in its log).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from airflow_provider_moveworks.bulk.storage import local_path, open_binary, reading
from airflow_provider_moveworks.exceptions import MoveworksStorageError

STATE_KEY = "moveworks_bulk_progress"
STATE_VERSION = 1
# At most this many ranges are saved (~200 KB of JSON): with scattered failures the list could
# grow with the input. The first ones are kept, so a retry re-sends only rows past them (PATCH
# sets absolute values: sending a row twice is harmless, only slower).
MAX_SAVED_RANGES = 10_000


class RowRanges:
    """A set of row numbers kept as sorted, disjoint, inclusive ranges."""

    def __init__(self, ranges: Iterable[Iterable[int]] = ()) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []
        for start, end in sorted((int(a), int(b)) for a, b in ranges):
            if self._ends and start <= self._ends[-1] + 1:
                self._ends[-1] = max(self._ends[-1], end)
            elif start <= end:
                self._starts.append(start)
                self._ends.append(end)

    def __contains__(self, row: int) -> bool:
        index = bisect_right(self._starts, row) - 1
        return index >= 0 and self._ends[index] >= row

    def __len__(self) -> int:
        return sum(end - start + 1 for start, end in zip(self._starts, self._ends, strict=True))

    def add(self, row: int) -> None:
        """Add one row, merging it with its neighbours."""
        index = bisect_right(self._starts, row) - 1
        if index >= 0 and self._ends[index] >= row:
            return
        if index >= 0 and self._ends[index] == row - 1:
            self._ends[index] = row
            self._merge_right(index)
            return
        nxt = index + 1
        if nxt < len(self._starts) and self._starts[nxt] == row + 1:
            self._starts[nxt] = row
            return
        self._starts.insert(nxt, row)
        self._ends.insert(nxt, row)

    def ranges(self) -> list[list[int]]:
        """``[[start, end], ...]`` in order: the JSON form."""
        return [[start, end] for start, end in zip(self._starts, self._ends, strict=True)]

    def _merge_right(self, index: int) -> None:
        nxt = index + 1
        while nxt < len(self._starts) and self._starts[nxt] <= self._ends[index] + 1:
            self._ends[index] = max(self._ends[index], self._ends[nxt])
            del self._starts[nxt], self._ends[nxt]


class StateStore(Protocol):
    """The part of Airflow's ``TaskStateStoreAccessor`` used here."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


def run_key(context: Any, fingerprint: str) -> str:
    """A short digest naming this task instance (DAG, run, task, map index) and its input."""
    ti = context.get("ti") if hasattr(context, "get") else None
    parts = [str(getattr(ti, name, "")) for name in ("dag_id", "run_id", "task_id", "map_index")] + [
        fingerprint
    ]
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=8).hexdigest()


class ResumeState:
    """The rows updated by this and earlier tries, and where they are kept.

    :param store: the task state store, or ``None``.
    :param report_file: the report location, or ``None``.
    :param key: :func:`run_key` of this try.
    :param fingerprint: the input's fingerprint (:attr:`Plan.fingerprint`).
    """

    def __init__(
        self,
        *,
        store: StateStore | None,
        report_file: str | None,
        key: str,
        fingerprint: str,
        log: logging.Logger | Any,
    ) -> None:
        self._store = store
        self._report_file = report_file
        self._key = key
        self._fingerprint = fingerprint
        self._log = log
        self.updated = RowRanges()  # every row updated, by this try or an earlier one
        self._lock = threading.Lock()  # workers add rows while the main thread saves them
        self.earlier = RowRanges()  # rows an earlier try updated: not sent again
        self._dirty = False

    @property
    def where(self) -> str | None:
        """Where progress is kept, for the log; ``None`` when nowhere."""
        if self._store is not None:
            return "the task state store"
        if self._report_file is not None:
            return "report_file"
        return None

    def load(self) -> None:
        """Read what an earlier try left (before the report is opened for writing)."""
        if self._store is not None:
            try:
                saved = self._store.get(STATE_KEY)
            except Exception as error:  # the store is a service: its outage must not fail the run
                self._store_failed(error)
                saved = None
            if isinstance(saved, dict) and saved.get("version") == STATE_VERSION:
                if saved.get("fingerprint") == self._fingerprint:
                    ranges = _saved_ranges(saved.get("updated"), _rows_of(self._fingerprint))
                    if ranges is None:
                        self._log.warning(
                            "The progress an earlier try saved is unreadable (edited, or from "
                            "another version): every row is sent again"
                        )
                    else:
                        self.earlier = RowRanges(ranges)
                else:
                    self._log.warning("The input changed since an earlier try: every row is sent again")
        elif self._report_file is not None:
            for row in self._report_rows():
                self.earlier.add(row)
        else:
            self._log.warning(
                "Nothing keeps this run's progress (no task state store on this Airflow, no "
                "report_file): a retry will send every row again"
            )
        if len(self.earlier):
            self.updated = RowRanges(self.earlier.ranges())
            self._log.info(
                "Resuming: %s rows were updated by an earlier try and are not sent again",
                f"{len(self.earlier):,}",
            )

    def add(self, row: int) -> None:
        """``row`` was updated by this try."""
        with self._lock:
            self.updated.add(row)
            self._dirty = True

    def save(self) -> None:
        """Keep the progress in the task state store (the report is flushed by its writer)."""
        if self._store is None:
            return
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            updated = self.updated.ranges()[:MAX_SAVED_RANGES]
        value = {"version": STATE_VERSION, "fingerprint": self._fingerprint, "updated": updated}
        try:
            self._store.set(STATE_KEY, value)
        except Exception as error:
            self._store_failed(error)

    def _store_failed(self, error: Exception) -> None:
        self._log.warning(
            "The task state store failed (%s: %s): this try's progress is not kept there",
            type(error).__name__,
            error,
        )
        self._store = None

    def _report_rows(self) -> Iterator[int]:
        assert self._report_file is not None
        local = local_path(self._report_file)  # a path, a path object or a file:// URI
        if local is not None and not os.path.isfile(local):
            return  # none yet, or a device such as /dev/full: nothing an earlier try wrote
        try:
            stream = open_binary(self._report_file, field="report_file")
        except MoveworksStorageError:
            # A transient fault of the storage fails this try (it is retried): read as "no
            # earlier report", it would send every row again and overwrite the earlier progress.
            raise
        except Exception:  # no earlier report: nothing to resume
            return
        # Bytes, each line decoded on its own: a line cut short mid-character by a killed worker,
        # or edited by hand, is skipped; it must not fail every later try before it rewrites the
        # report.
        with reading(self._report_file, field="report_file"), stream:
            for raw in iter(stream.readline, b""):
                try:
                    entry = json.loads(raw.decode("utf-8").removeprefix("\ufeff"))
                except (ValueError, RecursionError):
                    continue
                if not isinstance(entry, dict):
                    continue
                row = entry.get("row")
                if (
                    entry.get("run") == self._key
                    and entry.get("outcome") == "updated"
                    and isinstance(row, int)
                    and not isinstance(row, bool)
                    and row > 0
                ):
                    yield row


def _rows_of(fingerprint: str) -> int:
    """The row count a fingerprint (``"<rows>:<digest>"``) starts with."""
    head = fingerprint.partition(":")[0]
    return int(head) if head.isdigit() else 0


def _saved_ranges(value: Any, rows: int) -> list[tuple[int, int]] | None:
    """The saved ``[[start, end], ...]`` if every range is one of whole row numbers within
    ``1..rows``, else ``None``: a store value is a service's data (the REST API can change it),
    so a bad one must not fail every try, nor skip rows that do not exist."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    ranges: list[tuple[int, int]] = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 2):
            return None
        start, end = item
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (start, end)):
            return None
        if not 1 <= start <= end <= rows:
            return None
        ranges.append((start, end))
    return ranges
