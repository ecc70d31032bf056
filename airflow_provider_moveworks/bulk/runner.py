"""The concurrent engine of a bulk run: a bounded queue feeding ``max_concurrency`` worker
threads that share one hook (one pooled session), the retry passes, and the stop on a refused
credential.

Memory stays flat in the number of rows: the producer reads rows as a stream and blocks while
the queue is full; only rows that failed transiently are kept, for the next retry pass.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_moveworks.bulk.plan import Plan, Step
from airflow_provider_moveworks.bulk.ratelimit import AdaptiveRateLimiter
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.bulk.storage import open_text
from airflow_provider_moveworks.bulk.summary import Outcomes, Progress, describe_failures
from airflow_provider_moveworks.exceptions import (
    MoveworksAPIError,
    MoveworksAuthenticationError,
    MoveworksError,
    MoveworksNotFoundError,
)
from airflow_provider_moveworks.version_compat import AirflowException, AirflowFailException

if TYPE_CHECKING:
    from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

QUEUE_DEPTH_PER_WORKER = 4
_STOP = object()


class MoveworksBulkInvalidRowsError(AirflowFailException):
    """``on_invalid="fail"`` and some rows are invalid: raised before any request is sent."""


class MoveworksBulkUpdateError(AirflowException):
    """Rows failed (or 404 with ``if_not_found="fail"``) after every row was tried.

    :param summary: the run's summary, as the operator would have returned it.
    """

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


class MoveworksBulkStoppedError(AirflowFailException):
    """The run stopped early: the credentials were refused, so every row would have failed."""


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
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Validate every row, send the updates, retry transient failures, and return the summary.

    ``make_hook(pacer=..., stop=..., quiet_retries=True)`` builds the one hook that every worker
    shares (e.g. ``functools.partial(MoveworksHook, "moveworks_default", pool_maxsize=8)``); it
    is closed when the run ends.

    Raises :class:`MoveworksBulkInvalidRowsError` before sending when rows are invalid and
    ``on_invalid="fail"``, :class:`MoveworksBulkStoppedError` on a refused credential, and
    :class:`MoveworksBulkUpdateError` when rows failed (or were not found with
    ``if_not_found="fail"``) once every row was tried.
    """
    started = time.monotonic()
    plan = Plan(source)
    plan.scan()
    log.info(
        "Bulk update: %d rows: %d to send, %d duplicates, %d invalid",
        plan.total,
        plan.sends,
        plan.duplicates,
        plan.invalid,
    )
    if plan.invalid and options.on_invalid == "fail":
        quoted = "; ".join(f"row {row}: {reason}" for row, reason in plan.examples)
        raise MoveworksBulkInvalidRowsError(
            f"{plan.invalid} of {plan.total} rows are invalid; no request was sent "
            f"(on_invalid='fail'; 'skip' sends the valid rows). First ones: {quoted}"
        )

    limiter = AdaptiveRateLimiter(options.max_requests_per_second)
    stop = threading.Event()
    hook = make_hook(pacer=limiter, stop=stop, quiet_retries=True)
    report = open_text(options.report_file, "w", field="report_file") if options.report_file else None
    try:
        progress = Progress(
            log, plan.total, interval=options.progress_interval, throttled=lambda: hook.stats.throttled
        )
        outcomes = Outcomes(report=report, progress=progress)
        engine = _Engine(hook, limiter, outcomes, options.max_concurrency, stop)
        deferred = engine.run(plan.steps(), first_pass=True)
        for number in range(1, options.retry_passes + 1):
            if not deferred:
                break
            log.info(
                "Retry pass %d of %d: %d rows failed transiently", number, options.retry_passes, len(deferred)
            )
            sleep(options.retry_pass_delay * number)
            deferred = engine.run(
                (Step("send", item.row, item.conversation_id, item.body) for item in deferred),
                first_pass=False,
            )
        for item in deferred:
            outcomes.record(item.row, item.conversation_id, "failed", **_error_fields(item.error))
        outcomes.finish()
    finally:
        hook.close()
        if report is not None:
            report.close()
    stats = hook.stats
    summary = outcomes.summary(
        requests=stats.requests,
        retries=stats.retries + engine.resent,
        throttled=stats.throttled,
        duration=time.monotonic() - started,
    )
    _raise_for_failures(summary, options)
    return summary


class _Engine:
    """Worker threads fed from a bounded queue; one :meth:`run` per pass."""

    def __init__(
        self,
        hook: MoveworksHook,
        limiter: AdaptiveRateLimiter,
        outcomes: Outcomes,
        workers: int,
        stop: threading.Event,
    ) -> None:
        self._hook = hook
        self._limiter = limiter
        self._outcomes = outcomes
        self._workers = workers
        self._stop = stop  # shared with the hook: once set, no request leaves
        self._fatal: BaseException | None = None
        self._deferred: list[_Deferred] = []
        self.resent = 0  # rows sent again by a retry pass (each is one more request)

    def run(self, steps: Iterable[Step], *, first_pass: bool) -> list[_Deferred]:
        """Send every ``send`` step, record the others; returns the rows that failed transiently."""
        self._deferred = []
        work: queue.Queue[Any] = queue.Queue(maxsize=self._workers * QUEUE_DEPTH_PER_WORKER)
        threads = [
            threading.Thread(target=self._work, args=(work,), name=f"moveworks-bulk-{n}", daemon=True)
            for n in range(self._workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for step in steps:
                if self._stop.is_set():
                    break
                if step.action == "send":
                    if not first_pass:
                        self.resent += 1
                    work.put(step)
                else:
                    self._outcomes.record(step.row, step.conversation_id, step.action, message=step.message)
        finally:
            for _ in threads:
                work.put(_STOP)
            for thread in threads:
                thread.join()
        if self._fatal is not None:
            raise self._stopped(self._fatal)
        return self._deferred

    def _work(self, work: queue.Queue[Any]) -> None:
        while True:
            step = work.get()
            if step is _STOP:
                return
            if not self._stop.is_set():
                self._send(step)

    def _send(self, step: Step) -> None:
        assert step.conversation_id is not None
        assert step.body is not None
        try:
            self._hook.update_conversation(step.conversation_id, **step.body)
        except MoveworksAuthenticationError as error:
            self._halt(error)
        except MoveworksNotFoundError as error:
            self._outcomes.record(step.row, step.conversation_id, "not_found", **_error_fields(error))
        except MoveworksError as error:
            if error.retryable:
                self._deferred.append(_Deferred(step.row, step.conversation_id, step.body, error))
            else:
                self._outcomes.record(step.row, step.conversation_id, "failed", **_error_fields(error))
        except BaseException as error:  # a bug: stop rather than guess what the row's outcome is
            self._halt(error)
        else:
            self._limiter.succeeded()
            self._outcomes.record(step.row, step.conversation_id, "updated", status=200)

    def _halt(self, error: BaseException) -> None:
        if self._fatal is None:
            self._fatal = error
        self._stop.set()
        self._limiter.cancel()

    def _stopped(self, error: BaseException) -> BaseException:
        if not isinstance(error, MoveworksAuthenticationError):
            return error
        return MoveworksBulkStoppedError(
            f"Bulk update stopped after {self._hook.stats.requests} requests "
            f"({self._outcomes.done} rows done): Moveworks refused the credentials, so every row "
            f"would fail. {error}"
        )


def _error_fields(error: MoveworksError) -> dict[str, Any]:
    if isinstance(error, MoveworksAPIError):
        return {"status": error.status, "code": error.code, "message": str(error)}
    return {"status": None, "code": None, "message": str(error)}


def _raise_for_failures(summary: dict[str, Any], options: BulkOptions) -> None:
    failed = summary["failed"]
    not_found = summary["not_found"] if options.if_not_found == "fail" else 0
    if not failed and not not_found:
        return
    counts = f"{failed} failed" + (f", {not_found} not found (if_not_found='fail')" if not_found else "")
    raise MoveworksBulkUpdateError(
        f"Bulk update of {summary['total']} rows: {counts}, {summary['updated']} updated. "
        f"First ones: {describe_failures(summary)}",
        summary,
    )
