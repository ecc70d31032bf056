"""One try of a bulk run: the validation pass, what an earlier try left, the passes over the
rows (see :mod:`~airflow_provider_moveworks.bulk.pool`), and the summary or the error.

Stopping is one act, whatever asks for it (``on_kill``, ``execution_timeout``, a refused
credential, a long throttle, a worker's unexpected error): the shared stop event is set, so no
request leaves and the client's retry waits end; the limiter releases its waiters; the
retry-pass wait ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_moveworks.bulk.classify import error_fields, interruption, raise_for_failures
from airflow_provider_moveworks.bulk.current import CurrentState, learn
from airflow_provider_moveworks.bulk.plan import Plan
from airflow_provider_moveworks.bulk.pool import Deferred, WorkerPool
from airflow_provider_moveworks.bulk.ratelimit import AdaptiveRateLimiter, RateLimiter
from airflow_provider_moveworks.bulk.resume import ResumeState, StateStore, run_key
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.bulk.storage import Location, open_text, same_location
from airflow_provider_moveworks.bulk.summary import Outcomes, Progress, ReportWriteError, headline
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksBulkInterruptedError,
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksBulkUpdateError,
    MoveworksError,
    MoveworksPermissionError,
    MoveworksValidationError,
)

if TYPE_CHECKING:
    from airflow_provider_moveworks.client.client import MoveworksClient

# The bulk errors stay importable from here; their home is ``exceptions``.
__all__ = [
    "BulkOptions",
    "BulkRun",
    "MoveworksBulkInterruptedError",
    "MoveworksBulkInvalidRowsError",
    "MoveworksBulkStoppedError",
    "MoveworksBulkUpdateError",
]


@dataclass(frozen=True)
class BulkOptions:
    """The operator's choices, checked by the operator."""

    max_concurrency: int = 8
    max_requests_per_second: float | None = None
    if_not_found: str = "report"
    on_invalid: str = "fail"
    retry_passes: int = 2
    dry_run: bool = False
    skip_unchanged: bool = False
    current_state: str = "auto"
    report_file: Location | None = None
    progress_interval: float = 5.0
    retry_pass_delay: float = 1.0


class BulkRun:
    """One try of a bulk run; :meth:`stop` may be called from any thread (``on_kill``).

    :meth:`run` raises :class:`MoveworksBulkInvalidRowsError` before sending when rows are invalid
    and ``on_invalid="fail"``; :class:`MoveworksBulkStoppedError` on a refused credential;
    :class:`MoveworksBulkInterruptedError` when stopped by :meth:`stop`, a ``Retry-After`` above
    the client's cap, the token endpoint or a report that cannot be written; and
    :class:`MoveworksBulkUpdateError` when rows failed (or were not found with
    ``if_not_found="fail"``) once every row was tried.
    """

    def __init__(
        self,
        make_client: Callable[..., MoveworksClient],
        source: RowSource,
        options: BulkOptions,
        log: logging.Logger | Any,
        *,
        state_store: StateStore | None = None,
        context: Any = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        """:param limiter: what paces the requests (a budget shared with other tasks); by default
        a limiter of this run's own at ``max_requests_per_second``."""
        self._make_client = make_client
        self._source = source
        self._options = options
        self._log = log
        self._state_store = state_store
        self._context = context if context is not None else {}
        self._stop = threading.Event()  # shared with the client: once set, no request leaves
        self._limiter = limiter or AdaptiveRateLimiter(options.max_requests_per_second)
        self._reason: str | None = None  # why the run stopped early
        self._cause: BaseException | None = None  # the error that stopped it, if any
        self._reason_lock = threading.Lock()
        self._total = 0

    def stop(self, reason: str, cause: BaseException | None = None) -> None:
        """Stop the run: nothing more is sent and every wait ends. The first reason wins."""
        with self._reason_lock:
            if self._reason is None:
                self._reason, self._cause = reason, cause
        self._stop.set()
        self._limiter.cancel()

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        options, log = self._options, self._log
        # Made first: rows are checked against the connection's secrets, and quoted without them.
        client = self._make_client(pacer=self._limiter, stop=self._stop, quiet_retries=True)
        try:
            plan, key, resume, report = self._prepare(client)
        except BaseException:  # nothing was sent, and the run's own cleanup never starts
            client.close()
            raise
        progress = Progress(
            log, plan.total, interval=options.progress_interval, throttled=lambda: client.stats.throttled
        )
        outcomes = Outcomes(
            report=report, progress=progress, run_key=key, on_updated=resume.add, dry_run=options.dry_run
        )
        engine = WorkerPool(
            client=client,
            workers=options.max_concurrency,
            stop=self._stop,
            halt=self.stop,
            limiter=self._limiter,
            outcomes=outcomes,
            resume=resume,
            dry_run=options.dry_run,
        )
        deferred: list[Deferred] = []
        interrupted: BaseException | None = None
        try:
            if options.dry_run or options.skip_unchanged:
                engine.current = self._current_state(client, plan)
            if not self._stop.is_set():
                deferred = engine.run(plan.steps(), first_pass=True)
            for number in range(1, options.retry_passes + 1):
                if not deferred or self._stop.is_set():
                    break
                log.info(
                    "Retry pass %d of %d: %d rows failed transiently",
                    number,
                    options.retry_passes,
                    len(deferred),
                )
                if self._stop.wait(options.retry_pass_delay * number):
                    break
                # The engine owns these rows now: whatever ends the pass, each comes back once,
                # from the pass (answered again, or not reached) and never also from this list.
                pending, deferred = deferred, []
                deferred = engine.run_retry_pass(pending)
        except BaseException as error:  # execution_timeout (raised in this thread), or a bug
            interrupted = error
            self.stop(interruption(error), error)
            engine.wait_for_workers()
        finally:
            try:
                # Rows whose last answer was a transient error: answered, so in the report.
                for item in deferred + engine.take_deferred():
                    outcomes.record(item.row, item.conversation_id, "failed", **error_fields(item.error))
                outcomes.finish()
                outcomes.flush()
            except ReportWriteError as error:
                self.stop("an error writing report_file", error)
            finally:
                try:
                    resume.save()
                finally:
                    client.close()
                    self._close_report(report)
        stats = client.stats
        summary = outcomes.summary(
            requests=stats.requests,
            retries=stats.retries + engine.resent,
            throttled=stats.throttled,
            duration=time.monotonic() - started,
        )
        if self._reason is not None:
            self._log_stop(summary, resume)
            if interrupted is not None:
                raise interrupted
            raise self._stopped_error(summary)
        if plan.changed:
            raise MoveworksBulkUpdateError(
                f"Bulk update of {headline(summary)}: {plan.changed:,} rows changed, appeared or "
                "went missing between the validation pass and the sending pass (the input was "
                "rewritten while the task ran); none of them was sent, and a retry reads the "
                "input afresh",
                summary,
            )
        if options.dry_run:
            log.info("%s", headline(summary))
            # A preview fails only where it could not look: rows not found or invalid are what it found.
            raise_for_failures(summary, "report", failed_only=True)
            return summary
        if summary["not_found"] and options.if_not_found == "report":
            log.warning(
                "%s of %s rows were not found (404): see the summary's failures%s",
                f"{summary['not_found']:,}",
                f"{summary['total']:,}",
                " and report_file" if options.report_file else "",
            )
        raise_for_failures(summary, options.if_not_found)
        return summary

    def _current_state(self, client: MoveworksClient, plan: Plan) -> CurrentState | None:
        """What the conversations hold now; ``None`` (the run stopped) if that cannot be learned."""
        try:
            return learn(self._options.current_state, plan.sent_ids(), client, self._stop, self._log)
        except MoveworksError as error:
            failure = error
        self.stop("a failed listing of conversations", failure)
        return None

    def _close_report(self, report: Any) -> None:
        if report is None:
            return
        try:
            report.close()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            cause = ReportWriteError(f"could not write report_file: {reason}")
            self.stop("an error writing report_file", cause)

    def _log_stop(self, summary: dict[str, Any], resume: ResumeState) -> None:
        where = resume.where
        if where == "report_file" and isinstance(self._cause, ReportWriteError):
            where = None
        then = (
            f"a retry resumes from {where}"
            if where
            else "nothing keeps the progress: a retry will send every row again"
        )
        self._log.warning(
            "Bulk update stopped by %s after %s of %s rows; %s. %s",
            self._reason,
            f"{summary['total']:,}",
            f"{self._planned_total(summary):,}",
            then,
            headline(summary),
        )

    def _prepare(self, client: MoveworksClient) -> tuple[Plan, str, ResumeState, IO[str] | None]:
        """Before anything is sent: the validation pass, what an earlier try left, the report."""
        options, log = self._options, self._log
        plan = Plan(self._source, check=client.refuse_own_secrets, redact=client.redact)
        plan.scan(self._stop)
        if self._stop.is_set():
            raise MoveworksBulkInterruptedError(
                f"Bulk update stopped by {self._reason} during the validation pass: no request was sent"
            )
        self._total = plan.total
        log.info(
            "Bulk update: %d rows: %d to send, %d duplicates, %d invalid",
            plan.total,
            plan.sends,
            plan.duplicates,
            plan.invalid,
        )
        if plan.total == 0:
            log.warning("0 rows: nothing to do")
        if plan.invalid and options.on_invalid == "fail" and not options.dry_run:
            quoted = "; ".join(f"row {row}: {reason}" for row, reason in plan.examples)
            raise MoveworksBulkInvalidRowsError(
                f"{plan.invalid} of {plan.total} rows are invalid; no request was sent "
                f"(on_invalid='fail'; 'skip' sends the valid rows). First ones: {quoted}"
            )
        location = self._source.location
        if options.report_file and location is not None and same_location(options.report_file, location):
            raise MoveworksValidationError(
                "report_file",
                "must not be the updates_file: writing the report would overwrite the input",
            )
        key = run_key(self._context, plan.fingerprint)
        resume = ResumeState(  # a dry run neither reads nor writes progress
            store=None if options.dry_run else self._state_store,
            report_file=None if options.dry_run else options.report_file,
            key=key,
            fingerprint=plan.fingerprint,
            log=log,
        )
        resume.load()
        report = open_text(options.report_file, "w", field="report_file") if options.report_file else None
        return plan, key, resume, report

    def _planned_total(self, summary: dict[str, Any]) -> int:
        return max(int(summary["total"]), self._total)

    def _stopped_error(self, summary: dict[str, Any]) -> BaseException:
        cause = self._cause
        done = f"after {summary['total']:,} rows"
        if isinstance(cause, MoveworksAuthenticationError):
            return MoveworksBulkStoppedError(
                f"Bulk update stopped {done}: Moveworks refused the credentials, so every row "
                f"would fail. {cause}"
            )
        if isinstance(cause, MoveworksPermissionError):
            return MoveworksBulkStoppedError(
                f"Bulk update stopped {done}: Moveworks refused the assistant name, so every row "
                f"would fail. {cause}"
            )
        if isinstance(cause, ReportWriteError):
            return MoveworksBulkInterruptedError(f"Bulk update stopped {done}: {cause}")
        if isinstance(cause, MoveworksError):
            retry_after = getattr(cause, "retry_after", None)
            return MoveworksBulkInterruptedError(
                f"Bulk update stopped {done} by {self._reason}: {cause}", retry_after=retry_after
            )
        if cause is not None:
            return cause  # a bug: raised as it is, with its traceback
        return MoveworksBulkInterruptedError(f"Bulk update stopped {done} by {self._reason}")
