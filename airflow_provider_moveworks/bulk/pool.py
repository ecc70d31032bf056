"""The worker threads of a bulk run: a bounded queue feeding ``workers`` threads that share one
client (one pooled session). Memory stays flat in the number of rows: the producer blocks while
the queue is full, and only rows that failed transiently are kept, for the next retry pass. The
main thread waits in short slices, saving progress each second, and stops waiting for the
workers a few seconds after a stop."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_moveworks.bulk.classify import error_fields, interruption, verdict, without_traceback
from airflow_provider_moveworks.bulk.current import CurrentState
from airflow_provider_moveworks.bulk.plan import Step
from airflow_provider_moveworks.bulk.ratelimit import RateLimiter
from airflow_provider_moveworks.bulk.resume import ResumeState
from airflow_provider_moveworks.bulk.summary import Outcomes, ReportWriteError
from airflow_provider_moveworks.exceptions import MoveworksError

if TYPE_CHECKING:
    from airflow_provider_moveworks.client.client import MoveworksClient

QUEUE_DEPTH_PER_WORKER = 4
# How often the main thread wakes to save progress and look for a stop.
SLICE = 0.1
SAVE_EVERY = 1.0
# How long the workers get to finish their requests in flight after a stop.
STOP_GRACE = 1.5


@dataclass(frozen=True)
class Deferred:
    """A row that failed transiently, kept for the next retry pass with its last error."""

    row: int
    conversation_id: str
    body: dict[str, Any]
    error: MoveworksError


class WorkerPool:
    """Worker threads fed from a bounded queue; one :meth:`run` per pass."""

    def __init__(
        self,
        *,
        client: MoveworksClient,
        workers: int,
        stop: threading.Event,
        halt: Callable[[str, BaseException | None], None],
        limiter: RateLimiter,
        outcomes: Outcomes,
        resume: ResumeState,
        current: CurrentState | None = None,
        dry_run: bool = False,
    ) -> None:
        """:param current: what each conversation holds now: rows already as asked are
        ``unchanged`` and not sent. :param dry_run: send no update; rows that differ are
        ``would_update``."""
        self._halt = halt
        self.current = current
        self._dry_run = dry_run
        self._stop = stop
        self._client = client
        self._limiter = limiter
        self._outcomes = outcomes
        self._resume = resume
        self._workers = workers
        self._answered_any = False  # a request of this run has succeeded
        self._deferred: list[Deferred] = []
        self._deferred_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()
        self._previous: dict[int, Deferred] = {}
        self._next_save = time.monotonic() + SAVE_EVERY
        self.resent = 0  # rows sent again by a retry pass (each is one more request)

    def run_retry_pass(self, deferred: list[Deferred]) -> list[Deferred]:
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

    def run(self, steps: Iterable[Step], *, first_pass: bool) -> list[Deferred]:
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
            self._halt("an error writing report_file", error)
        except BaseException as error:  # execution_timeout or an interrupt, raised in this thread
            self._halt(interruption(error), error)
            raise
        finally:
            closing.set()
            self.wait_for_workers()
        return self.take_deferred()

    def take_deferred(self) -> list[Deferred]:
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
                    self._client.close()  # a request stuck in flight: drop the pool
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
            self._halt("an error writing report_file", error)
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
                self._halt("an error writing report_file", error)
            except BaseException as error:  # a bug: stop rather than guess what the row's outcome is
                self._halt(f"an unexpected error ({type(error).__name__})", error)

    def _send(self, step: Step) -> None:
        assert step.conversation_id is not None
        assert step.body is not None
        try:
            if self.current is not None and self._as_it_is(step):
                return
            self._client.update_conversation(step.conversation_id, **step.body)
        except MoveworksError as error:
            self._settle(step, error)
        else:
            self._answered_any = True
            self._answered(step.row)
            self._limiter.succeeded()
            self._outcomes.record(step.row, step.conversation_id, "updated", status=200)

    def _as_it_is(self, step: Step) -> bool:
        """Whether ``step``'s row got its outcome from the conversation's current state alone:
        ``unchanged``, or in a dry run ``would_update`` (or ``not_found`` if not listed)."""
        assert self.current is not None
        changes = self.current.changes(step)
        self._answered_any = True
        if changes is None and not self._dry_run:
            return False  # not in the listing: the PATCH tells whether it exists
        if changes is None:
            outcome, message = "not_found", "not in the listing of conversations"
        elif not changes:
            outcome, message = "unchanged", "already as asked; not sent"
        elif self._dry_run:
            outcome, message = "would_update", f"would change {' and '.join(changes)}"
        else:
            return False
        self._answered(step.row)
        self._outcomes.record(step.row, step.conversation_id, outcome, message=message)
        return True

    def _settle(self, step: Step, error: MoveworksError) -> None:
        """The row whose update raised ``error``: recorded, deferred to a retry pass, left for a
        retry of the task, or the reason the run stops."""
        assert step.conversation_id is not None
        assert step.body is not None
        fate = verdict(error, updated_any=self._answered_any)
        if fate.action == "unsent":
            self._unanswered(step)  # not sent: the run is stopping; a retry sends it
        elif fate.action == "stop":
            self._halt(fate.reason, error)
        elif fate.action == "defer":
            with self._deferred_lock:
                self._previous.pop(step.row, None)
                self._deferred.append(
                    Deferred(step.row, step.conversation_id, step.body, without_traceback(error))
                )
        else:
            self._answered(step.row)
            self._outcomes.record(step.row, step.conversation_id, fate.action, **error_fields(error))
