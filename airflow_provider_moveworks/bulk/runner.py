"""The concurrent engine of a bulk run: a bounded queue feeding ``max_concurrency`` worker
threads that share one hook (one pooled session), the retry passes, resuming, and stopping.

Memory stays flat in the number of rows: the producer reads rows as a stream and blocks while
the queue is full; only rows that failed transiently are kept, for the next retry pass.

Stopping is one act, whatever asks for it (``on_kill``, ``execution_timeout``, a refused
credential, a long throttle, a worker's unexpected error): the shared stop event is set, so no
request leaves and the hook's retry waits end; the limiter releases its waiters; the retry-pass
wait ends. The main thread never blocks for long: it waits in short slices, saving progress
each second, and stops waiting for the workers a few seconds after a stop.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from airflow_provider_moveworks.bulk.plan import Plan, Step
from airflow_provider_moveworks.bulk.ratelimit import AdaptiveRateLimiter
from airflow_provider_moveworks.bulk.resume import Progress as Resume
from airflow_provider_moveworks.bulk.resume import StateStore, run_key
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.bulk.storage import open_text, same_location
from airflow_provider_moveworks.bulk.summary import (
    Outcomes,
    Progress,
    ReportWriteError,
    describe_failures,
    headline,
)
from airflow_provider_moveworks.client.retry import MAX_RETRY_AFTER, waits_too_long
from airflow_provider_moveworks.exceptions import (
    MoveworksAPIError,
    MoveworksAuthenticationError,
    MoveworksBulkInterruptedError,
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksBulkUpdateError,
    MoveworksCancelledError,
    MoveworksError,
    MoveworksNotFoundError,
    MoveworksPermissionError,
    MoveworksTokenError,
    MoveworksValidationError,
)

if TYPE_CHECKING:
    from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

QUEUE_DEPTH_PER_WORKER = 4
# How often the main thread wakes to save progress and look for a stop.
SLICE = 0.1
SAVE_EVERY = 1.0
# How long the workers get to finish their requests in flight after a stop.
STOP_GRACE = 1.5

# Kept importable from here (their home is ``exceptions``).
__all__ = [
    "BulkOptions",
    "BulkRun",
    "MoveworksBulkInterruptedError",
    "MoveworksBulkInvalidRowsError",
    "MoveworksBulkStoppedError",
    "MoveworksBulkUpdateError",
    "run_bulk_update",
]


@dataclass(frozen=True)
class BulkOptions:
    """The operator's choices, checked by the operator."""

    max_concurrency: int = 8
    max_requests_per_second: float | None = None
    if_not_found: str = "report"
    on_invalid: str = "fail"
    retry_passes: int = 2
    report_file: str | None = None
    progress_interval: float = 5.0
    retry_pass_delay: float = 1.0


@dataclass(frozen=True)
class _Deferred:
    """A row that failed transiently, kept for the next retry pass with its last error."""

    row: int
    conversation_id: str
    body: dict[str, Any]
    error: MoveworksError


def run_bulk_update(
    make_hook: Callable[..., MoveworksHook],
    source: RowSource,
    options: BulkOptions,
    log: logging.Logger | Any,
    *,
    state_store: StateStore | None = None,
    context: Any = None,
) -> dict[str, Any]:
    """Validate every row, send the updates, retry transient failures, and return the summary.

    ``make_hook(pacer=..., stop=..., quiet_retries=True)`` builds the one hook that every worker
    shares (e.g. ``functools.partial(MoveworksHook, "moveworks_default", pool_maxsize=8)``); it
    is closed when the run ends. See :class:`BulkRun` for what it raises.
    """
    return BulkRun(make_hook, source, options, log, state_store=state_store, context=context).run()


class BulkRun:
    """One try of a bulk run; :meth:`stop` may be called from any thread (``on_kill``).

    :meth:`run` raises :class:`MoveworksBulkInvalidRowsError` before sending when rows are invalid
    and ``on_invalid="fail"``; :class:`MoveworksBulkStoppedError` on a refused credential;
    :class:`MoveworksBulkInterruptedError` when stopped by :meth:`stop`, a ``Retry-After`` above
    the hook's cap, the token endpoint or a report that cannot be written; and
    :class:`MoveworksBulkUpdateError` when rows failed (or were not found with
    ``if_not_found="fail"``) once every row was tried.
    """

    def __init__(
        self,
        make_hook: Callable[..., MoveworksHook],
        source: RowSource,
        options: BulkOptions,
        log: logging.Logger | Any,
        *,
        state_store: StateStore | None = None,
        context: Any = None,
    ) -> None:
        self._make_hook = make_hook
        self._source = source
        self._options = options
        self._log = log
        self._state_store = state_store
        self._context = context if context is not None else {}
        self._stop = threading.Event()  # shared with the hook: once set, no request leaves
        self._limiter = AdaptiveRateLimiter(options.max_requests_per_second)
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
        hook = self._make_hook(pacer=self._limiter, stop=self._stop, quiet_retries=True)
        try:
            plan, key, resume, report = self._prepare(hook)
        except BaseException:  # nothing was sent, and the run's own cleanup never starts
            hook.close()
            raise
        progress = Progress(
            log, plan.total, interval=options.progress_interval, throttled=lambda: hook.stats.throttled
        )
        outcomes = Outcomes(report=report, progress=progress, run_key=key, on_updated=resume.add)
        engine = _Engine(self, hook, outcomes, resume)
        deferred: list[_Deferred] = []
        interrupted: BaseException | None = None
        try:
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
            self.stop(_interruption(error), error)
            engine.wait_for_workers()
        finally:
            try:
                # Rows whose last answer was a transient error: answered, so in the report.
                for item in deferred + engine.take_deferred():
                    outcomes.record(item.row, item.conversation_id, "failed", **_error_fields(item.error))
                outcomes.finish()
                outcomes.flush()
            except ReportWriteError as error:
                self.stop("an error writing report_file", error)
            finally:
                try:
                    resume.save()
                finally:
                    hook.close()
                    self._close_report(report)
        stats = hook.stats
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
        if summary["not_found"] and options.if_not_found == "report":
            log.warning(
                "%s of %s rows were not found (404): see the summary's failures%s",
                f"{summary['not_found']:,}",
                f"{summary['total']:,}",
                " and report_file" if options.report_file else "",
            )
        _raise_for_failures(summary, options)
        return summary

    def _close_report(self, report: Any) -> None:
        if report is None:
            return
        try:
            report.close()
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or error
            cause = ReportWriteError(f"could not write report_file: {reason}")
            self.stop("an error writing report_file", cause)

    def _log_stop(self, summary: dict[str, Any], resume: Resume) -> None:
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

    def _prepare(self, hook: MoveworksHook) -> tuple[Plan, str, Resume, IO[str] | None]:
        """Before anything is sent: the validation pass, what an earlier try left, the report."""
        options, log = self._options, self._log
        hook.settings  # noqa: B018 - an unusable connection fails the run here, not every row
        plan = Plan(self._source, check=hook.refuse_own_secrets, redact=hook.redact)
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
        if plan.invalid and options.on_invalid == "fail":
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
        resume = Resume(
            store=self._state_store,
            report_file=options.report_file,
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


class _Engine:
    """Worker threads fed from a bounded queue; one :meth:`run` per pass."""

    def __init__(self, run: BulkRun, hook: MoveworksHook, outcomes: Outcomes, resume: Resume) -> None:
        self._run = run
        self._stop = run._stop
        self._hook = hook
        self._limiter = run._limiter
        self._outcomes = outcomes
        self._resume = resume
        self._workers = run._options.max_concurrency
        self._deferred: list[_Deferred] = []
        self._deferred_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._previous: dict[int, _Deferred] = {}
        self._next_save = time.monotonic() + SAVE_EVERY
        self.resent = 0  # rows sent again by a retry pass (each is one more request)

    def run_retry_pass(self, deferred: list[_Deferred]) -> list[_Deferred]:
        """Send again the rows that failed transiently; a row left unsent by a stop keeps its
        last error (it stays in the report as failed)."""
        self._previous = {item.row: item for item in deferred}
        try:
            again = self.run(
                (Step("send", item.row, item.conversation_id, item.body) for item in deferred),
                first_pass=False,
            )
        finally:
            # Rows the pass never answered (not reached, dropped by a stop, or the pass cut short
            # by execution_timeout) keep their last error; answered rows left ``_previous``.
            with self._deferred_lock:
                left, self._previous = list(self._previous.values()), {}
                self._deferred.extend(left)
        return again + self.take_deferred()

    def _answered(self, row: int) -> None:
        """``row`` of a retry pass got its outcome (or is deferred again with a new error)."""
        if self._previous:
            with self._deferred_lock:
                self._previous.pop(row, None)

    def _unanswered(self, step: Step) -> None:
        """``step`` was not sent because the run is stopping."""
        with self._deferred_lock:
            previous = self._previous.pop(step.row, None)
            if previous is not None:
                self._deferred.append(previous)

    def run(self, steps: Iterable[Step], *, first_pass: bool) -> list[_Deferred]:
        """Send every ``send`` step, record the others; returns the rows that failed transiently."""
        self._deferred = []
        self._closing = threading.Event()
        work: queue.Queue[Step] = queue.Queue(maxsize=self._workers * QUEUE_DEPTH_PER_WORKER)
        closing = self._closing
        self._threads = [
            threading.Thread(target=self._work, args=(work, closing), name=f"moveworks-bulk-{n}", daemon=True)
            for n in range(self._workers)
        ]
        for thread in self._threads:
            thread.start()
        try:
            earlier = self._resume.earlier if first_pass else None
            for step in steps:
                if self._stop.is_set():
                    if not self._previous:
                        break
                    self._unanswered(step)
                    continue
                if step.action != "send":
                    self._outcomes.record(step.row, step.conversation_id, step.action, message=step.message)
                elif earlier is not None and step.row in earlier:
                    self._outcomes.record(step.row, step.conversation_id, "updated", resumed=True)
                else:
                    if not first_pass:
                        self.resent += 1
                    self._put(work, step)
                self._tick()
        except ReportWriteError as error:
            self._run.stop("an error writing report_file", error)
        except BaseException as error:  # execution_timeout or an interrupt, raised in this thread
            self._run.stop(_interruption(error), error)
            raise
        finally:
            closing.set()
            self.wait_for_workers()
        return self.take_deferred()

    def take_deferred(self) -> list[_Deferred]:
        with self._deferred_lock:
            deferred, self._deferred = self._deferred, []
        return deferred

    def wait_for_workers(self) -> None:
        """Wait for the workers to drain the queue, saving progress meanwhile; after a stop,
        give requests in flight :data:`STOP_GRACE` seconds."""
        self._closing.set()
        deadline: float | None = None
        for thread in self._threads:
            while thread.is_alive():
                if deadline is None and self._stop.is_set():
                    deadline = time.monotonic() + STOP_GRACE
                if deadline is not None and time.monotonic() >= deadline:
                    self._hook.close()  # a request stuck in flight: drop the pool
                    thread.join(0.5)
                    break
                thread.join(SLICE)
                self._tick()

    def _put(self, work: queue.Queue[Step], step: Step) -> None:
        while not self._stop.is_set():
            try:
                work.put(step, timeout=SLICE)
                return
            except queue.Full:
                self._tick()

    def _tick(self) -> None:
        """Save the progress and flush the report, at most every :data:`SAVE_EVERY` seconds."""
        now = time.monotonic()
        if now < self._next_save:
            return
        self._next_save = now + SAVE_EVERY
        try:
            self._outcomes.flush()
        except ReportWriteError as error:
            self._run.stop("an error writing report_file", error)
        self._resume.save()

    def _work(self, work: queue.Queue[Step], closing: threading.Event) -> None:
        while True:
            try:
                step = work.get(timeout=SLICE)
            except queue.Empty:
                if closing.is_set() or self._stop.is_set():
                    return
                continue
            if self._stop.is_set():
                self._unanswered(step)
                continue  # drain without sending
            try:
                self._send(step)
            except ReportWriteError as error:
                self._run.stop("an error writing report_file", error)
            except BaseException as error:  # a bug: stop rather than guess what the row's outcome is
                self._run.stop(f"an unexpected error ({type(error).__name__})", error)

    def _send(self, step: Step) -> None:
        assert step.conversation_id is not None
        assert step.body is not None
        try:
            self._hook.update_conversation(step.conversation_id, **step.body)
        except MoveworksCancelledError:
            self._unanswered(step)  # not sent: the run is stopping; a retry sends it
        except MoveworksAuthenticationError as error:
            self._run.stop("a refused credential", error)
        except MoveworksPermissionError as error:  # 403: the assistant name, sent with every row
            self._run.stop("a refused assistant name", error)
        except MoveworksNotFoundError as error:
            self._answered(step.row)
            self._outcomes.record(step.row, step.conversation_id, "not_found", **_error_fields(error))
        except MoveworksError as error:
            if _halts_run(error):
                self._run.stop(_halt_reason(error), error)
            elif error.retryable:
                with self._deferred_lock:
                    self._previous.pop(step.row, None)
                    self._deferred.append(_Deferred(step.row, step.conversation_id, step.body, _kept(error)))
            else:
                self._answered(step.row)
                self._outcomes.record(step.row, step.conversation_id, "failed", **_error_fields(error))
        else:
            self._answered(step.row)
            self._limiter.succeeded()
            self._outcomes.record(step.row, step.conversation_id, "updated", status=200)


def _kept(error: MoveworksError) -> MoveworksError:
    """``error`` as a deferred row keeps it until the next pass: its message, status and code,
    without the traceback, whose frames hold the whole response (about 14 KB a row even for a
    short error body, so a long outage would grow memory with the rows)."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error


def _halts_run(error: MoveworksError) -> bool:
    """Errors that every other row would meet too: a server wait longer than the hook sleeps
    (stop now, a retry of the task comes after the wait), or a token endpoint that fails."""
    return waits_too_long(error) or isinstance(error, MoveworksTokenError)


def _halt_reason(error: MoveworksError) -> str:
    if waits_too_long(error):
        retry_after = getattr(error, "retry_after", 0.0)
        return f"a Retry-After of {retry_after:g} s (above the {MAX_RETRY_AFTER:g} s the hook waits)"
    return "a failing token endpoint"


def _interruption(error: BaseException) -> str:
    if type(error).__name__ == "AirflowTaskTimeout":
        return "execution_timeout"
    if isinstance(error, KeyboardInterrupt):
        return "an interrupt"
    return f"an unexpected error ({type(error).__name__})"


def _error_fields(error: MoveworksError) -> dict[str, Any]:
    if isinstance(error, MoveworksAPIError):
        return {"status": error.status, "code": error.code, "message": str(error)}
    return {"status": None, "code": None, "message": str(error)}


def _raise_for_failures(summary: dict[str, Any], options: BulkOptions) -> None:
    failed = summary["failed"]
    not_found = summary["not_found"] if options.if_not_found == "fail" else 0
    if not failed and not not_found:
        return
    because = " (if_not_found='fail')" if not_found else ""
    raise MoveworksBulkUpdateError(
        f"Bulk update of {headline(summary)}{because}. First ones: {describe_failures(summary)}",
        summary,
    )
