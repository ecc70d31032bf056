"""Outcome accounting for a bulk run: every row lands in exactly one outcome, the report file
receives one JSON line per row as it finishes, and the task log gets progress lines.

Outcomes: ``updated``, ``not_found`` (404), ``failed`` (any other error, after the retry passes),
``invalid`` (failed the checks, or conflicts with another row), ``duplicate`` (the same change
as an earlier row, which was sent once), ``unchanged`` (already as asked, not sent) and, in a
dry run, ``would_update``. Only counters and the first failures are kept.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import IO, Any

OUTCOMES = ("updated", "not_found", "failed", "invalid", "duplicate", "unchanged", "would_update")
# The summary's counter for each outcome.
COUNTER_NAMES = {
    "updated": "updated",
    "not_found": "not_found",
    "failed": "failed",
    "invalid": "invalid",
    "duplicate": "duplicates",
    "unchanged": "unchanged",
    "would_update": "would_update",
}
MAX_FAILURES = 100
NOT_UPDATED = frozenset({"not_found", "failed", "invalid"})


class Progress:
    """Logs ``done/total``, percent, rate, ETA, throttled and failed at most every ``interval``
    seconds, and once more at the end (:meth:`finish`)."""

    def __init__(
        self,
        log: logging.Logger | Any,
        total: int,
        *,
        interval: float,
        throttled: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._total = total
        self._interval = interval
        self._throttled = throttled
        self._clock = clock
        self._started = clock()
        self._next_log = self._started + interval

    def tick(self, done: int, failed: int) -> None:
        """Called (under the recorder's lock) after each row; logs when the interval has passed."""
        now = self._clock()
        if now >= self._next_log:
            self._next_log = now + self._interval
            self._emit(now, done, failed)

    def finish(self, done: int, failed: int) -> None:
        """The last line, always logged."""
        self._emit(self._clock(), done, failed)

    def _emit(self, now: float, done: int, failed: int) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = done / elapsed
        left = self._total - done
        eta = f"{left / rate:.0f} s" if rate > 0 else "unknown"
        percent = 100.0 * done / self._total if self._total else 100.0
        self._log.info(
            "Bulk update progress: %d/%d rows (%.1f%%), %.1f rows/s, ETA %s, throttled %d, failed %d",
            done,
            self._total,
            percent,
            rate,
            eta,
            self._throttled(),
            failed,
        )


class ReportWriteError(Exception):
    """The report could not be written: the run stops (a report missing rows would mislead)."""


class Outcomes:
    """Thread-safe outcome counters, the first :data:`MAX_FAILURES` failures and the report stream.

    :param report: a text stream receiving one JSON line per row, or ``None``.
    :param progress: told about every finished row.
    :param run_key: written into every report line, so that a later try can tell its own rows.
    :param on_updated: called (under the lock) with each row this try updated.
    """

    def __init__(
        self,
        *,
        report: IO[str] | None,
        progress: Progress,
        run_key: str | None = None,
        on_updated: Callable[[int], None] | None = None,
        dry_run: bool = False,
    ) -> None:
        self._dry_run = dry_run
        self._lock = threading.Lock()
        self._report = report
        self._progress = progress
        self._run_key = run_key
        self._on_updated = on_updated
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.resumed = 0
        self.failures: list[dict[str, Any]] = []

    @property
    def done(self) -> int:
        """Rows with an outcome so far."""
        return sum(self.counts.values())

    def record(
        self,
        row: int,
        conversation_id: str | None,
        outcome: str,
        *,
        status: int | None = None,
        code: str | None = None,
        message: str | None = None,
        resumed: bool = False,
    ) -> None:
        """Give ``row`` its one outcome; raises :class:`ReportWriteError` when the report fails."""
        entry: dict[str, Any] = {
            "row": row,
            "conversation_id": conversation_id,
            "outcome": outcome,
            "status": status,
            "code": code,
            "message": message,
        }
        if resumed:
            entry["resumed"] = True
        if self._dry_run:
            entry["dry_run"] = True
        if self._run_key is not None:
            entry["run"] = self._run_key
        with self._lock:
            if self._report is not None:
                self._write(entry)
            self.counts[outcome] += 1
            self.resumed += resumed
            if outcome == "updated" and not resumed and self._on_updated is not None:
                self._on_updated(row)
            if outcome in NOT_UPDATED and len(self.failures) < MAX_FAILURES:
                self.failures.append(entry)
            self._progress.tick(sum(self.counts.values()), self.counts["failed"])

    def flush(self) -> None:
        """Push the report's buffered lines out (a killed task loses at most what came since)."""
        with self._lock:
            if self._report is not None:
                try:
                    self._report.flush()
                except (OSError, ValueError) as error:
                    raise ReportWriteError(f"could not write report_file: {_reason(error)}") from None

    def _write(self, entry: dict[str, Any]) -> None:
        assert self._report is not None
        try:
            line = json.dumps(entry, ensure_ascii=False)
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate, e.g. in a server's message: escape it
                line = json.dumps(entry)
            self._report.write(line + "\n")
        except (OSError, ValueError) as error:
            raise ReportWriteError(f"could not write report_file: {_reason(error)}") from None

    def finish(self) -> None:
        """Log the final progress line."""
        with self._lock:
            self._progress.finish(sum(self.counts.values()), self.counts["failed"])

    def summary(self, *, requests: int, retries: int, throttled: int, duration: float) -> dict[str, Any]:
        """The run's JSON-serialisable summary (the operator's XCom)."""
        with self._lock:
            counts = {COUNTER_NAMES[outcome]: count for outcome, count in self.counts.items()}
            failures = sorted(self.failures, key=lambda entry: entry["row"])
            resumed = self.resumed
        failures = [{k: v for k, v in entry.items() if k != "run"} for entry in failures]
        return {
            "total": sum(counts.values()),
            **counts,
            "dry_run": self._dry_run,
            "resumed": resumed,
            "requests": requests,
            "retries": retries,
            "throttled": throttled,
            "duration_seconds": round(duration, 3),
            "failures": failures,
        }


def _reason(error: BaseException) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def headline(summary: dict[str, Any]) -> str:
    """``3 rows: 1 failed, 1 not found, 1 invalid, 0 duplicates, 0 updated``: the counts add up
    (``unchanged`` and a dry run's ``would update`` join them when there are any)."""
    if summary.get("dry_run"):
        return (
            f"Dry run of {summary['total']:,} rows: {summary['would_update']:,} would update, "
            f"{summary['unchanged']:,} unchanged, {summary['not_found']:,} not found, "
            f"{summary['failed']:,} failed, {summary['invalid']:,} invalid, "
            f"{summary['duplicates']:,} duplicates; nothing was sent"
        )
    updated = f"{summary['updated']:,} updated"
    if summary.get("resumed"):
        updated += f" ({summary['resumed']:,} by an earlier try)"
    unchanged = f", {summary['unchanged']:,} unchanged" if summary.get("unchanged") else ""
    return (
        f"{summary['total']:,} rows: {summary['failed']:,} failed, {summary['not_found']:,} not found, "
        f"{summary['invalid']:,} invalid, {summary['duplicates']:,} duplicates{unchanged}, {updated}"
    )


def describe_failures(summary: dict[str, Any], limit: int = 5) -> str:
    """``row 3 (conv_x): 400 INVALID_INPUT ...; row 9 ...`` for an exception message."""
    parts = []
    for entry in summary["failures"][:limit]:
        status = " ".join(str(part) for part in (entry["status"], entry["code"]) if part)
        parts.append(
            f"row {entry['row']} ({entry['conversation_id']}): {entry['outcome']}"
            f"{' ' + status if status else ''}: {entry['message']}"
        )
    return "; ".join(parts)
