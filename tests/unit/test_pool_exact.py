"""Exact tests of the bulk run's worker pool (``bulk/pool.py``), driven with a scripted fake
client, limiter, outcomes and resume state: which rows are sent, in which order, what each row
records, what a retry pass hands back, and when progress is saved."""

from __future__ import annotations

import queue
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_moveworks.bulk import pool as pool_module
from airflow_provider_moveworks.bulk.plan import Step
from airflow_provider_moveworks.bulk.pool import Deferred, WorkerPool
from airflow_provider_moveworks.bulk.summary import ReportWriteError
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksCancelledError,
    MoveworksNotFoundError,
    MoveworksPermissionError,
    MoveworksServerError,
)

JOIN = 5.0


class FakeClient:
    """``update_conversation`` answers as scripted by conversation id: an exception is raised, a
    callable is called (then the update succeeds), anything else succeeds."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.script = script or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: list[tuple[str, bool]] = []
        self.closed = 0
        self.lock = threading.Lock()

    def update_conversation(self, conversation_id: str, **body: Any) -> dict[str, Any]:
        with self.lock:
            self.calls.append((conversation_id, body))
            current = threading.current_thread()
            self.threads.append((current.name, current.daemon))
        action = self.script.get(conversation_id)
        if isinstance(action, BaseException):
            raise action
        if callable(action):
            action()
        return {"conversation_id": conversation_id}

    def close(self) -> None:
        self.closed += 1


class FakeLimiter:
    def __init__(self) -> None:
        self.successes = 0

    def succeeded(self) -> None:
        self.successes += 1


class FakeOutcomes:
    def __init__(self, fail_on: str | None = None, flush_error: bool = False) -> None:
        self.records: list[tuple[Any, ...]] = []
        self.flushes = 0
        self.fail_on = fail_on
        self.flush_error = flush_error
        self.lock = threading.Lock()

    def record(self, row: int, conversation_id: str | None, outcome: str, **fields: Any) -> None:
        if outcome == self.fail_on:
            raise ReportWriteError("disk full")
        with self.lock:
            self.records.append((row, conversation_id, outcome, fields))

    def flush(self) -> None:
        self.flushes += 1
        if self.flush_error:
            raise ReportWriteError("flush failed")


class FakeResume:
    def __init__(self, earlier: set[int] | None = None) -> None:
        self.earlier = earlier if earlier is not None else set()
        self.saves = 0

    def save(self) -> None:
        self.saves += 1


class FakeCurrent:
    def __init__(self, changes: dict[str, list[str] | None]) -> None:
        self._changes = changes

    def changes(self, step: Step) -> list[str] | None:
        assert step.conversation_id is not None
        return self._changes[step.conversation_id]


class Clock:
    """A ``time`` stand-in for the pool: ``monotonic`` reads ``now``, advanced by ``step`` at each
    read (0 by default: the test moves it)."""

    def __init__(self, now: float = 100.0, step: float = 0.0) -> None:
        self.now = now
        self.step = step
        self.reads: list[float] = []

    def monotonic(self) -> float:
        value = self.now
        self.reads.append(value)
        self.now += self.step
        return value


class Harness:
    def __init__(
        self,
        client: FakeClient | None = None,
        *,
        workers: int = 1,
        outcomes: FakeOutcomes | None = None,
        resume: FakeResume | None = None,
        current: FakeCurrent | None = None,
        dry_run: bool = False,
        halt_stops: bool = True,
    ) -> None:
        self.client = client or FakeClient()
        self.stop = threading.Event()
        self.halts: list[tuple[str, BaseException | None]] = []
        self.halted = threading.Event()
        self.limiter = FakeLimiter()
        self.outcomes = outcomes or FakeOutcomes()
        self.resume = resume or FakeResume()
        self.halt_stops = halt_stops
        self.pool = WorkerPool(
            client=self.client,  # type: ignore[arg-type]
            workers=workers,
            stop=self.stop,
            halt=self.halt,
            limiter=self.limiter,  # type: ignore[arg-type]
            outcomes=self.outcomes,  # type: ignore[arg-type]
            resume=self.resume,  # type: ignore[arg-type]
            current=current,  # type: ignore[arg-type]
            dry_run=dry_run,
        )

    def halt(self, reason: str, error: BaseException | None) -> None:
        self.halts.append((reason, error))
        if self.halt_stops:
            self.stop.set()
        self.halted.set()


def send(row: int, title: str | None = None) -> Step:
    return Step("send", row, f"c{row}", {"title": title or f"T{row}"})


def deferred(row: int, message: str = "earlier") -> Deferred:
    return Deferred(row, f"c{row}", {"title": f"T{row}"}, MoveworksServerError(message, status=503))


def halted(h: Harness) -> list[tuple[str, str]]:
    return [(reason, str(error)) for reason, error in h.halts]


def run_in_thread(target: Callable[[], Any]) -> Any:
    """Run ``target`` in a thread joined with a timeout (a hang fails instead of blocking)."""
    result: dict[str, Any] = {}

    def go() -> None:
        try:
            result["value"] = target()
        except BaseException as error:
            result["error"] = error

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(JOIN)
    assert not thread.is_alive(), "the pool did not finish"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def test_first_pass_sends_records_and_skips_resumed_rows_in_order() -> None:
    h = Harness(resume=FakeResume(earlier={2}))
    steps = [
        send(1),
        send(2),
        Step("duplicate", 3, "c1", None, "same as row 1"),
        Step("invalid", 4, None, None, "no id"),
        send(5),
    ]
    again = run_in_thread(lambda: h.pool.run(iter(steps), first_pass=True))
    assert again == []
    assert h.client.calls == [("c1", {"title": "T1"}), ("c5", {"title": "T5"})]
    assert h.client.threads == [("moveworks-bulk-0", True), ("moveworks-bulk-0", True)]
    assert sorted(h.outcomes.records, key=lambda r: r[0]) == [
        (1, "c1", "updated", {"status": 200}),
        (2, "c2", "updated", {"resumed": True}),
        (3, "c1", "duplicate", {"message": "same as row 1"}),
        (4, None, "invalid", {"message": "no id"}),
        (5, "c5", "updated", {"status": 200}),
    ]
    assert h.limiter.successes == 2
    assert h.pool.resent == 0
    assert h.halts == []
    assert h.client.closed == 0
    assert all(not thread.is_alive() for thread in h.pool._threads)


def test_a_later_pass_ignores_the_resumed_rows_and_counts_what_it_sends_again() -> None:
    h = Harness(resume=FakeResume(earlier={1, 2}))
    again = run_in_thread(lambda: h.pool.run(iter([send(1), send(2)]), first_pass=False))
    assert again == []
    assert h.client.calls == [("c1", {"title": "T1"}), ("c2", {"title": "T2"})]
    assert h.pool.resent == 2
    assert h.halts == []


def test_the_outcome_of_each_error() -> None:
    gone = MoveworksNotFoundError("gone", status=404, code="NOT_FOUND")
    refused = MoveworksPermissionError("no", status=403, code="FORBIDDEN")
    client = FakeClient(
        {
            "c2": MoveworksServerError("busy", status=503, code="BUSY"),
            "c3": gone,
            "c4": refused,
            "c5": MoveworksCancelledError("stopping"),
        }
    )
    h = Harness(client)
    again = run_in_thread(lambda: h.pool.run(iter([send(n) for n in range(1, 6)]), first_pass=True))
    assert [(item.row, item.conversation_id, item.body, str(item.error)) for item in again] == [
        (2, "c2", {"title": "T2"}, "busy")
    ]
    assert isinstance(again[0].error, MoveworksServerError)
    assert again[0].error.status == 503
    assert again[0].error.__traceback__ is None
    assert h.outcomes.records == [
        (1, "c1", "updated", {"status": 200}),
        (3, "c3", "not_found", {"status": 404, "code": "NOT_FOUND", "message": str(gone)}),
        (4, "c4", "failed", {"status": 403, "code": "FORBIDDEN", "message": str(refused)}),
    ]
    assert h.halts == []
    assert h.limiter.successes == 1
    assert len(h.client.calls) == 5


def test_a_forbidden_first_row_stops_the_run() -> None:
    error = MoveworksPermissionError("no", status=403)
    h = Harness(FakeClient({"c1": error}), halt_stops=False)
    again = run_in_thread(lambda: h.pool.run(iter([send(1)]), first_pass=True))
    assert again == []
    assert h.halts == [("a refused assistant name", error)]
    assert h.outcomes.records == []


def test_a_refused_credential_stops_the_run() -> None:
    error = MoveworksAuthenticationError("who", status=401)
    h = Harness(FakeClient({"c1": error}), halt_stops=False)
    run_in_thread(lambda: h.pool.run(iter([send(1)]), first_pass=True))
    assert h.halts == [("a refused credential", error)]
    assert h.outcomes.records == []


@pytest.mark.parametrize(
    ("changes", "dry_run", "sent", "record"),
    [
        (None, False, True, (1, "c1", "updated", {"status": 200})),
        ([], False, False, (1, "c1", "unchanged", {"message": "already as asked; not sent"})),
        (["title"], False, True, (1, "c1", "updated", {"status": 200})),
        (None, True, False, (1, "c1", "not_found", {"message": "not in the listing of conversations"})),
        ([], True, False, (1, "c1", "unchanged", {"message": "already as asked; not sent"})),
        (
            ["title", "archived"],
            True,
            False,
            (1, "c1", "would_update", {"message": "would change title and archived"}),
        ),
    ],
)
def test_the_current_state_decides_what_is_sent(
    changes: list[str] | None, dry_run: bool, sent: bool, record: tuple[Any, ...]
) -> None:
    h = Harness(current=FakeCurrent({"c1": changes}), dry_run=dry_run)
    again = run_in_thread(lambda: h.pool.run(iter([send(1)]), first_pass=True))
    assert again == []
    assert h.client.calls == ([("c1", {"title": "T1"})] if sent else [])
    assert h.outcomes.records == [record]
    assert h.halts == []


def test_a_row_answered_by_the_current_state_counts_as_an_answer() -> None:
    """After a row found unchanged, a 403 is about its conversation: the row fails, no stop."""
    client = FakeClient({"c2": MoveworksPermissionError("no", status=403)})
    h = Harness(client, current=FakeCurrent({"c1": [], "c2": ["title"]}))
    run_in_thread(lambda: h.pool.run(iter([send(1), send(2)]), first_pass=True))
    assert h.halts == []
    assert [record[2] for record in h.outcomes.records] == ["unchanged", "failed"]


def test_a_403_after_a_success_fails_the_row_only() -> None:
    client = FakeClient({"c2": MoveworksPermissionError("no", status=403)})
    h = Harness(client)
    run_in_thread(lambda: h.pool.run(iter([send(1), send(2)]), first_pass=True))
    assert h.halts == []
    assert [record[2] for record in h.outcomes.records] == ["updated", "failed"]


def test_a_retry_pass_returns_only_the_rows_still_failing() -> None:
    client = FakeClient(
        {
            "c2": MoveworksServerError("still busy", status=503),
            "c3": MoveworksNotFoundError("gone", status=404),
        }
    )
    h = Harness(client)
    again = run_in_thread(lambda: h.pool.run_retry_pass([deferred(1), deferred(2), deferred(3)]))
    assert [(item.row, str(item.error)) for item in again] == [(2, "still busy")]
    assert [record[:3] for record in h.outcomes.records] == [(1, "c1", "updated"), (3, "c3", "not_found")]
    assert h.pool.resent == 3
    assert h.pool._previous == {}
    assert h.halts == []


def test_a_retry_pass_with_the_current_state_drops_the_unchanged_rows() -> None:
    h = Harness(current=FakeCurrent({"c1": [], "c2": ["title"]}))
    again = run_in_thread(lambda: h.pool.run_retry_pass([deferred(1), deferred(2)]))
    assert again == []
    assert h.client.calls == [("c2", {"title": "T2"})]


def test_a_retry_pass_already_stopped_keeps_every_row_with_its_last_error() -> None:
    h = Harness()
    h.stop.set()
    rows = [deferred(1, "one"), deferred(2, "two")]
    again = run_in_thread(lambda: h.pool.run_retry_pass(rows))
    assert again == rows
    assert h.client.calls == []
    assert h.pool.resent == 0


def test_a_cancelled_row_of_a_retry_pass_keeps_its_place_and_last_error() -> None:
    client = FakeClient(
        {
            "c1": MoveworksCancelledError("stopping"),
            "c2": MoveworksServerError("new", status=503),
        }
    )
    h = Harness(client)
    again = run_in_thread(lambda: h.pool.run_retry_pass([deferred(1, "old one"), deferred(2, "old two")]))
    assert [(item.row, str(item.error)) for item in again] == [(1, "old one"), (2, "new")]


def test_a_stop_in_a_retry_pass_keeps_the_rows_left_after_the_unsent_ones() -> None:
    """Row 1 stops the run and stays unanswered (handed back last); row 2, already queued, is
    dropped by the worker and row 3 by the producer, each at once with its last error."""
    queued = threading.Event()
    error = MoveworksAuthenticationError("who", status=401)

    def refuse() -> None:
        queued.wait(JOIN)
        raise error

    h = Harness(FakeClient({"c1": refuse}))  # type: ignore[dict-item]
    rows = [deferred(1, "e1"), deferred(2, "e2"), deferred(3, "e3")]

    original_run = h.pool.run

    def run(steps: Any, *, first_pass: bool) -> list[Deferred]:
        def gated() -> Iterator[Step]:
            items = list(steps)
            yield items[0]
            yield items[1]
            queued.set()
            h.halted.wait(JOIN)
            yield items[2]

        return original_run(gated(), first_pass=first_pass)

    h.pool.run = run  # type: ignore[method-assign]
    again = run_in_thread(lambda: h.pool.run_retry_pass(rows))
    assert h.halts == [("a refused credential", error)]
    assert h.client.calls == [("c1", {"title": "T1"})]
    assert sorted(item.row for item in again) == [1, 2, 3]
    assert again[-1] is rows[0]
    assert {item.row: str(item.error) for item in again} == {1: "e1", 2: "e2", 3: "e3"}


def test_a_stopped_first_pass_reads_no_further_step() -> None:
    h = Harness()
    h.stop.set()
    taken: list[int] = []

    def steps() -> Iterator[Step]:
        for row in (1, 2, 3):
            taken.append(row)
            yield send(row)

    again = run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    assert again == []
    assert taken == [1]
    assert h.client.calls == []
    assert h.outcomes.records == []


def test_a_report_error_in_a_worker_halts_the_run() -> None:
    h = Harness(outcomes=FakeOutcomes(fail_on="updated"), halt_stops=False)
    run_in_thread(lambda: h.pool.run(iter([send(1)]), first_pass=True))
    assert [(reason, str(error)) for reason, error in h.halts] == [
        ("an error writing report_file", "disk full")
    ]


def test_a_report_error_in_the_producer_halts_the_run_without_raising() -> None:
    h = Harness(outcomes=FakeOutcomes(fail_on="duplicate"), halt_stops=False)
    again = run_in_thread(
        lambda: h.pool.run(iter([Step("duplicate", 1, "c1", None, "dup")]), first_pass=True)
    )
    assert again == []
    assert [(reason, str(error)) for reason, error in h.halts] == [
        ("an error writing report_file", "disk full")
    ]


def test_an_unexpected_error_in_a_worker_halts_the_run() -> None:
    boom = RuntimeError("bug")
    h = Harness(FakeClient({"c1": boom}), halt_stops=False)
    run_in_thread(lambda: h.pool.run(iter([send(1)]), first_pass=True))
    assert h.halts == [("an unexpected error (RuntimeError)", boom)]
    assert h.outcomes.records == []


def test_an_interrupt_in_the_producer_halts_and_is_raised_again() -> None:
    h = Harness(halt_stops=False)
    interrupt = KeyboardInterrupt()

    def steps() -> Iterator[Step]:
        yield send(1)
        raise interrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    assert h.halts == [("an interrupt", interrupt)]
    assert all(not thread.is_alive() for thread in h.pool._threads)


def test_run_returns_only_after_the_workers_finished() -> None:
    done = threading.Event()
    finished: list[int] = []

    def slow() -> None:
        done.wait(JOIN)
        finished.append(1)

    h = Harness(FakeClient({"c1": slow}))  # type: ignore[dict-item]

    def steps() -> Iterator[Step]:
        yield send(1)
        done.set()

    run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    assert finished == [1]
    assert h.outcomes.records == [(1, "c1", "updated", {"status": 200})]


def test_progress_is_saved_at_most_every_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(now=100.0)
    monkeypatch.setattr(pool_module, "time", clock)
    h = Harness()
    for now, saves in [(100.5, 0), (101.0, 1), (101.5, 1), (101.75, 1), (102.0, 2), (102.5, 2)]:
        clock.now = now
        h.pool._tick()
        assert (h.resume.saves, h.outcomes.flushes) == (saves, saves), now
    assert h.halts == []


def test_a_failing_flush_halts_and_still_saves(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(now=100.0)
    monkeypatch.setattr(pool_module, "time", clock)
    h = Harness(outcomes=FakeOutcomes(flush_error=True), halt_stops=False)
    clock.now = 101.0
    h.pool._tick()
    assert [(reason, str(error)) for reason, error in h.halts] == [
        ("an error writing report_file", "flush failed")
    ]
    assert h.resume.saves == 1


def test_a_request_stuck_after_a_stop_gets_the_grace_then_the_pool_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker stuck in a request: once the stop is seen, the main thread waits until its clock
    reads 1.5 s later, then closes the client (which frees the request)."""
    clock = Clock(now=100.0, step=0.5)
    monkeypatch.setattr(pool_module, "time", clock)
    released = threading.Event()
    entered = threading.Event()
    closed_at: list[float] = []

    def stuck() -> None:
        entered.set()
        released.wait(JOIN)

    client = FakeClient({"c1": stuck})  # type: ignore[dict-item]

    def close() -> None:
        closed_at.append(clock.now - clock.step)
        client.closed += 1
        released.set()

    client.close = close  # type: ignore[method-assign]
    h = Harness(client)

    def steps() -> Iterator[Step]:
        yield send(1)
        entered.wait(JOIN)
        h.stop.set()
        clock.reads.clear()

    run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    assert client.closed == 1
    # The first read after the stop sets the deadline (+1.5 s); the reads then alternate between
    # the check of the deadline and the progress save, so the check at exactly +1.5 s closes.
    start = clock.reads[0]
    assert closed_at == [start + 1.5]
    assert h.outcomes.records == [(1, "c1", "updated", {"status": 200})]


class ReleasingResume(FakeResume):
    """Sets ``release`` at the first save once ``ready`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()
        self.release = threading.Event()

    def save(self) -> None:
        super().save()
        if self.ready.is_set():
            self.release.set()


def test_progress_is_saved_while_waiting_for_a_slow_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(now=100.0, step=0.5)
    monkeypatch.setattr(pool_module, "time", clock)
    resume = ReleasingResume()

    def slow() -> None:
        assert resume.release.wait(JOIN), "no progress saved while the worker was busy"

    h = Harness(FakeClient({"c1": slow}), resume=resume)  # type: ignore[dict-item]

    def steps() -> Iterator[Step]:
        yield send(1)
        resume.ready.set()

    run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    assert h.halts == []
    assert resume.release.is_set()
    assert h.outcomes.records == [(1, "c1", "updated", {"status": 200})]


def test_progress_is_saved_while_the_queue_is_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker stuck on row 1 holds a queue of 4: the producer blocks on row 6 and keeps
    saving progress meanwhile."""
    clock = Clock(now=100.0, step=0.5)
    monkeypatch.setattr(pool_module, "time", clock)
    resume = ReleasingResume()
    taken: list[int] = []

    def slow() -> None:
        assert resume.release.wait(JOIN), "no progress saved while the queue was full"

    h = Harness(FakeClient({"c1": slow}), resume=resume)  # type: ignore[dict-item]

    def steps() -> Iterator[Step]:
        for row in range(1, 8):
            taken.append(row)
            if row == 6:
                resume.ready.set()
            yield send(row)

    run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    assert h.halts == []
    assert resume.release.is_set()
    assert [call[0] for call in h.client.calls] == [f"c{n}" for n in range(1, 8)]
    assert taken == list(range(1, 8))


def test_the_producer_saves_progress_between_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows recorded without a request (duplicates here) still save progress as time passes."""
    clock = Clock(now=100.0, step=0.5)
    monkeypatch.setattr(pool_module, "time", clock)
    h = Harness()
    saves_seen: list[int] = []

    def steps() -> Iterator[Step]:
        for row in range(1, 7):
            saves_seen.append(h.resume.saves)
            yield Step("duplicate", row, "c1", None, "dup")
        saves_seen.append(h.resume.saves)

    run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    # Each step's tick reads the clock once (0.5 s later each time); a save is due every 1 s.
    assert saves_seen == [0, 0, 1, 1, 2, 2, 3]


def test_the_queue_holds_four_steps_a_worker_and_waits_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []

    class RecordingQueue(queue.Queue):  # type: ignore[type-arg]
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            self.made_with = maxsize
            self.timeouts: list[tuple[str, float | None]] = []
            made.append(self)

        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            self.timeouts.append(("put", timeout))
            super().put(item, block, timeout)

        def get(self, block: bool = True, timeout: float | None = None) -> Any:
            self.timeouts.append(("get", timeout))
            return super().get(block, timeout)

    monkeypatch.setattr(
        pool_module, "queue", types.SimpleNamespace(Queue=RecordingQueue, Full=queue.Full, Empty=queue.Empty)
    )
    h = Harness(workers=3)
    run_in_thread(lambda: h.pool.run(iter([send(1)]), first_pass=True))
    assert [q.made_with for q in made] == [12]
    assert {timeout for _, timeout in made[0].timeouts} == {0.1}
    assert ("put", 0.1) in made[0].timeouts
    assert h.client.calls == [("c1", {"title": "T1"})]


def test_the_main_thread_joins_in_slices_then_half_a_second_after_closing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The joins of the workers, recorded: slices of 0.1 s while waiting, and one of 0.5 s for
    the worker whose request was stuck when the client was closed."""
    joins: list[float | None] = []

    class RecordingThread(threading.Thread):
        def join(self, timeout: float | None = None) -> None:
            joins.append(timeout)
            super().join(timeout)

    monkeypatch.setattr(
        pool_module,
        "threading",
        types.SimpleNamespace(Thread=RecordingThread, Event=threading.Event, Lock=threading.Lock),
    )
    clock = Clock(now=100.0, step=0.5)
    monkeypatch.setattr(pool_module, "time", clock)
    entered = threading.Event()
    closed = threading.Event()
    let_go = threading.Event()

    def stuck() -> None:
        entered.set()
        let_go.wait(JOIN)

    client = FakeClient({"c1": stuck})  # type: ignore[dict-item]

    def close() -> None:
        client.closed += 1
        closed.set()

    client.close = close  # type: ignore[method-assign]
    h = Harness(client)

    def steps() -> Iterator[Step]:
        yield send(1)
        entered.wait(JOIN)
        h.stop.set()

    try:
        run_in_thread(lambda: h.pool.run(steps(), first_pass=True))
    finally:
        let_go.set()
    assert closed.is_set()
    # Stop seen, deadline at +1.5 s: a check at +0.5 s (not due), a slice, the check at +1.5 s
    # closes the client, then one join of 0.5 s for the stuck worker.
    assert joins == [0.1, 0.5]
    h.pool._threads[0].join(JOIN)
