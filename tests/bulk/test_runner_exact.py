"""Exact tests of :class:`BulkRun` (one try of a bulk run) against a fake client: the validation
pass, resume, the passes, the summary, the log lines and every cause of a stop."""

from __future__ import annotations

import json
import threading
import time
import types
from typing import Any

import pytest

from airflow_provider_moveworks.bulk import runner as runner_module
from airflow_provider_moveworks.bulk.pool import WorkerPool
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.bulk.runner import BulkOptions, BulkRun
from airflow_provider_moveworks.client.client import RequestStats
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksBulkInterruptedError,
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksBulkUpdateError,
    MoveworksError,
    MoveworksNotFoundError,
    MoveworksPermissionError,
    MoveworksServerError,
    MoveworksValidationError,
)


class Log:
    """Records every line as ``(level, text)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _add(self, level: str, fmt: str, *args: Any) -> None:
        self.lines.append((level, fmt % args if args else fmt))

    def info(self, fmt: str, *args: Any) -> None:
        self._add("info", fmt, *args)

    def warning(self, fmt: str, *args: Any) -> None:
        self._add("warning", fmt, *args)

    def debug(self, fmt: str, *args: Any) -> None:
        self._add("debug", fmt, *args)

    def error(self, fmt: str, *args: Any) -> None:
        self._add("error", fmt, *args)

    def texts(self) -> list[str]:
        """Every line but the progress lines (their rate and ETA depend on the clock)."""
        return [text for _, text in self.lines if not text.startswith("Progress")]


class FakeClient:
    """Conversations in memory; ``errors[cid]`` are raised by its next updates, in order."""

    def __init__(self, conversations: dict[str, dict[str, Any]] | None = None) -> None:
        self.conversations = conversations or {}
        self.errors: dict[str, list[BaseException]] = {}
        self.stats = RequestStats()
        self.closed = 0
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.kwargs: dict[str, Any] = {}
        self.list_error: BaseException | None = None

    def close(self) -> None:
        self.closed += 1

    def redact(self, text: str) -> str:
        return text

    def refuse_own_secrets(self, fields: Any) -> None:
        return None

    def update_conversation(self, conversation_id: str, **body: Any) -> dict[str, Any]:
        self.stats.add(requests=1)
        pending = self.errors.get(conversation_id)
        if pending:
            raise pending.pop(0)
        if conversation_id not in self.conversations:
            raise MoveworksNotFoundError("Not found", status=404, code="NOT_FOUND")
        self.updates.append((conversation_id, body))
        self.conversations[conversation_id].update(body)
        return {"conversation_id": conversation_id, **self.conversations[conversation_id]}

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        self.stats.add(requests=1)
        if conversation_id not in self.conversations:
            raise MoveworksNotFoundError("Not found", status=404, code="NOT_FOUND")
        return {"conversation_id": conversation_id, **self.conversations[conversation_id]}

    def list_conversations(self, *, archived: bool, page_size: int) -> Any:
        if self.list_error is not None:
            raise self.list_error
        for cid, conv in self.conversations.items():
            if conv["archived"] == archived:
                yield {"conversation_id": cid, **conv}


class FakeLimiter:
    def __init__(self) -> None:
        self.cancelled = 0

    def acquire(self, *args: Any, **kwargs: Any) -> None:
        return None

    def succeeded(self) -> None:
        return None

    def cancel(self) -> None:
        self.cancelled += 1

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class Store:
    def __init__(self, value: Any = None) -> None:
        self.value = value
        self.sets: list[Any] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self.value if self.value is not None else default

    def set(self, key: str, value: Any) -> None:
        self.sets.append(value)
        self.value = value


def convs(*ids: str) -> dict[str, dict[str, Any]]:
    return {cid: {"title": f"Old {cid}", "archived": False} for cid in ids}


def make_run(
    client: FakeClient,
    updates: Any,
    log: Log,
    *,
    source: Any = None,
    **options: Any,
) -> BulkRun:
    options.setdefault("retry_pass_delay", 0.0)
    options.setdefault("progress_interval", 3600.0)
    options.setdefault("max_concurrency", 1)

    def make_client(**kwargs: Any) -> FakeClient:
        client.kwargs = kwargs
        return client

    context = options.pop("context", None)
    store = options.pop("state_store", None)
    limiter = options.pop("limiter", None)
    return BulkRun(
        make_client,  # type: ignore[arg-type]
        source if source is not None else RowSource(updates=updates),
        BulkOptions(**options),
        log,
        state_store=store,
        context=context,
        limiter=limiter,
    )


def counts(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("duration_seconds", "failures")}


def rows(*ids: str, title: str = "New") -> list[dict[str, Any]]:
    return [{"conversation_id": cid, "title": title} for cid in ids]


# -- stop ---------------------------------------------------------------------------------------


def test_stop_sets_the_event_cancels_the_limiter_and_keeps_the_first_reason() -> None:
    limiter = FakeLimiter()
    run = make_run(FakeClient(), [], Log(), limiter=limiter)
    first = ValueError("first")
    run.stop("reason one", first)
    run.stop("reason two", ValueError("second"))
    assert run._stop.is_set()
    assert limiter.cancelled == 2
    assert (run._reason, run._cause) == ("reason one", first)


def test_the_client_gets_the_given_limiter_the_stop_and_quiet_retries() -> None:
    limiter = FakeLimiter()
    client = FakeClient(convs("conv_a"))
    run = make_run(client, rows("conv_a"), Log(), limiter=limiter)
    run.run()
    assert client.kwargs == {"pacer": limiter, "stop": run._stop, "quiet_retries": True}
    assert client.closed >= 1


# -- a clean run ----------------------------------------------------------------------------------


def test_a_clean_run_logs_and_sums_up_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([1000.0, 1002.5])
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b"))
    run = make_run(
        client,
        [*rows("conv_a", "conv_b"), {"conversation_id": "conv_a", "title": "New"}, {}],
        log,
        on_invalid="skip",
    )
    summary = run.run()
    assert summary["duration_seconds"] == 2.5
    assert counts(summary) == {
        "total": 4,
        "updated": 2,
        "unchanged": 0,
        "would_update": 0,
        "not_found": 0,
        "failed": 0,
        "invalid": 1,
        "duplicates": 1,
        "dry_run": False,
        "resumed": 0,
        "requests": 2,
        "retries": 0,
        "throttled": 0,
    }
    assert log.texts()[0] == "Bulk update: 4 rows: 2 to send, 1 duplicates, 1 invalid"
    assert "0 rows: nothing to do" not in log.texts()
    assert client.closed >= 1


def test_zero_rows_warn_that_there_is_nothing_to_do() -> None:
    log = Log()
    summary = make_run(FakeClient(), [], log).run()
    assert summary["total"] == 0
    assert ("warning", "0 rows: nothing to do") in log.lines
    assert log.texts()[0] == "Bulk update: 0 rows: 0 to send, 0 duplicates, 0 invalid"


def test_one_row_does_not_warn_of_nothing_to_do() -> None:
    log = Log()
    make_run(FakeClient(convs("conv_a")), rows("conv_a"), log).run()
    assert "0 rows: nothing to do" not in log.texts()
    assert log.texts()[0] == "Bulk update: 1 rows: 1 to send, 0 duplicates, 0 invalid"


def test_the_duration_is_the_time_since_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([1000.0, 1003.25])
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    summary = make_run(FakeClient(convs("conv_a")), rows("conv_a"), Log()).run()
    assert summary["duration_seconds"] == 3.25
    assert summary["updated"] == 1


# -- the validation pass -----------------------------------------------------------------------


def test_invalid_rows_fail_before_sending_and_the_client_is_closed() -> None:
    client = FakeClient(convs("conv_a"))
    run = make_run(client, [*rows("conv_a"), {"title": "t"}], Log())
    with pytest.raises(MoveworksBulkInvalidRowsError) as caught:
        run.run()
    assert str(caught.value).startswith(
        "1 of 2 rows are invalid; no request was sent (on_invalid='fail'; 'skip' sends the valid "
        "rows). First ones: row 2: "
    )
    assert client.updates == []
    assert client.closed == 1


def test_invalid_rows_are_skipped_with_on_invalid_skip() -> None:
    client = FakeClient(convs("conv_a"))
    summary = make_run(client, [*rows("conv_a"), {"title": "t"}], Log(), on_invalid="skip").run()
    assert (summary["updated"], summary["invalid"]) == (1, 1)
    assert client.updates == [("conv_a", {"title": "New"})]


def test_a_dry_run_reports_invalid_rows_instead_of_failing() -> None:
    client = FakeClient(convs("conv_a"))
    log = Log()
    summary = make_run(client, [*rows("conv_a"), {"title": "t"}], log, dry_run=True).run()
    assert (summary["would_update"], summary["invalid"], summary["dry_run"]) == (1, 1, True)
    assert client.updates == []
    assert (
        "info",
        "Dry run of 2 rows: 1 would update, 0 unchanged, 0 not found, 0 failed, 1 invalid, "
        "0 duplicates; nothing was sent",
    ) in log.lines


def test_a_run_stopped_before_the_validation_pass_sends_nothing() -> None:
    client = FakeClient(convs("conv_a"))
    run = make_run(client, rows("conv_a"), Log())
    run.stop("on_kill")
    with pytest.raises(MoveworksBulkInterruptedError) as caught:
        run.run()
    assert (
        str(caught.value) == "Bulk update stopped by on_kill during the validation pass: no request was sent"
    )
    assert client.updates == []
    assert client.closed == 1


def test_the_report_must_not_be_the_input(tmp_path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"conversation_id": "conv_a", "title": "New"}) + "\n")
    client = FakeClient(convs("conv_a"))
    run = make_run(client, None, Log(), source=RowSource(updates_file=str(path)), report_file=str(path))
    with pytest.raises(MoveworksValidationError) as caught:
        run.run()
    assert "must not be the updates_file" in str(caught.value)
    assert client.updates == []


def test_a_report_beside_a_list_of_updates_is_written(tmp_path) -> None:
    report = tmp_path / "report.jsonl"
    client = FakeClient(convs("conv_a"))
    context = {"ti": types.SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1)}
    run = make_run(client, rows("conv_a"), Log(), report_file=str(report), context=context)
    run.run()
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(line["row"], line["outcome"]) for line in lines] == [(1, "updated")]
    # The key names this task instance: the same input under no context gets another key.
    report2 = tmp_path / "report2.jsonl"
    make_run(FakeClient(convs("conv_a")), rows("conv_a"), Log(), report_file=str(report2)).run()
    assert json.loads(report2.read_text())["run"] != lines[0]["run"]


# -- resume ---------------------------------------------------------------------------------------


def test_rows_an_earlier_try_saved_are_not_sent_again_and_progress_is_saved() -> None:
    store = Store()
    client = FakeClient(convs("conv_a", "conv_b"))
    make_run(client, rows("conv_a", "conv_b"), Log(), state_store=store).run()
    assert store.sets[-1]["updated"] == [[1, 2]]
    saved = store.value
    client2 = FakeClient(convs("conv_a", "conv_b"))
    log = Log()
    summary = make_run(client2, rows("conv_a", "conv_b"), log, state_store=Store(saved)).run()
    assert client2.updates == []
    assert (summary["updated"], summary["resumed"], summary["requests"]) == (2, 2, 0)
    assert "Resuming: 2 rows were updated by an earlier try and are not sent again" in log.texts()


# -- retry passes ---------------------------------------------------------------------------------


def transient() -> MoveworksServerError:
    return MoveworksServerError("Server error", status=503, code="UNAVAILABLE")


class RecordingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        if (timeout is not None and timeout > 0) or timeout == 0:
            self.waits.append(timeout)  # type: ignore[arg-type]
            return self.is_set()
        return super().wait(timeout)


def test_retry_passes_wait_longer_each_time_log_and_count_the_resent_rows() -> None:
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_a"] = [transient(), transient(), transient()]
    run = make_run(client, rows("conv_a", "conv_b"), log, retry_passes=2, retry_pass_delay=0.5)
    event = RecordingEvent()
    run._stop = event
    with pytest.raises(MoveworksBulkUpdateError) as caught:
        run.run()
    summary = caught.value.summary  # type: ignore[attr-defined]
    assert [w for w in event.waits if w in (0.5, 1.0, 0.25)] == [0.5, 1.0]
    retry_lines = [t for t in log.texts() if t.startswith("Retry pass")]
    assert retry_lines == [
        "Retry pass 1 of 2: 1 rows failed transiently",
        "Retry pass 2 of 2: 1 rows failed transiently",
    ]
    assert counts(summary) == {
        "total": 2,
        "updated": 1,
        "unchanged": 0,
        "would_update": 0,
        "not_found": 0,
        "failed": 1,
        "invalid": 0,
        "duplicates": 0,
        "dry_run": False,
        "resumed": 0,
        "requests": 4,
        "retries": 2,
        "throttled": 0,
    }
    assert [(f["row"], f["outcome"], f["status"]) for f in summary["failures"]] == [(1, "failed", 503)]


def test_a_row_that_recovers_in_the_first_retry_pass_ends_the_passes() -> None:
    log = Log()
    client = FakeClient(convs("conv_a"))
    client.errors["conv_a"] = [transient()]
    summary = make_run(client, rows("conv_a"), log, retry_passes=3).run()
    assert [t for t in log.texts() if t.startswith("Retry pass")] == [
        "Retry pass 1 of 3: 1 rows failed transiently"
    ]
    assert (summary["updated"], summary["failed"], summary["requests"], summary["retries"]) == (1, 0, 2, 1)


def test_no_retry_pass_without_transient_failures() -> None:
    log = Log()
    summary = make_run(FakeClient(convs("conv_a")), rows("conv_a"), log, retry_passes=2).run()
    assert not [t for t in log.texts() if t.startswith("Retry pass")]
    assert summary["retries"] == 0


def test_zero_retry_passes_leave_the_transient_failure_failed() -> None:
    log = Log()
    client = FakeClient(convs("conv_a"))
    client.errors["conv_a"] = [transient()]
    with pytest.raises(MoveworksBulkUpdateError) as caught:
        make_run(client, rows("conv_a"), log, retry_passes=0).run()
    assert caught.value.summary["failed"] == 1  # type: ignore[attr-defined]
    assert not [t for t in log.texts() if t.startswith("Retry pass")]


def test_one_retry_pass_is_one_more_try() -> None:
    log = Log()
    client = FakeClient(convs("conv_a"))
    client.errors["conv_a"] = [transient(), transient()]
    with pytest.raises(MoveworksBulkUpdateError) as caught:
        make_run(client, rows("conv_a"), log, retry_passes=1).run()
    summary = caught.value.summary  # type: ignore[attr-defined]
    assert (summary["failed"], summary["requests"], summary["retries"]) == (1, 2, 1)
    assert [t for t in log.texts() if t.startswith("Retry pass")] == [
        "Retry pass 1 of 1: 1 rows failed transiently"
    ]


def test_an_interrupt_in_a_retry_pass_is_raised_after_the_stop_is_logged(monkeypatch) -> None:
    def interrupt(self: WorkerPool, deferred: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(WorkerPool, "run_retry_pass", interrupt)
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_a"] = [transient()]
    with pytest.raises(KeyboardInterrupt):
        make_run(client, rows("conv_a", "conv_b"), log, retry_passes=1).run()
    stops = [t for t in log.texts() if t.startswith("Bulk update stopped")]
    assert stops == [
        "Bulk update stopped by an interrupt after 1 of 2 rows; nothing keeps the progress: a retry "
        "will send every row again. 1 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, 1 updated"
    ]


# -- stops ----------------------------------------------------------------------------------------


def test_a_refused_credential_stops_the_run() -> None:
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b", "conv_c"))
    client.errors["conv_a"] = [MoveworksAuthenticationError("Unauthorized", status=401)]
    with pytest.raises(MoveworksBulkStoppedError) as caught:
        make_run(client, rows("conv_a", "conv_b", "conv_c"), log).run()
    assert str(caught.value).startswith(
        "Bulk update stopped after 0 rows: Moveworks refused the credentials, so every row would "
        "fail. Unauthorized. "
    )
    assert client.updates == []
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by a refused credential after 0 of 3 rows; nothing keeps the progress: "
        "a retry will send every row again. 0 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, "
        "0 updated"
    ]


def test_a_refused_assistant_name_stops_the_run() -> None:
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_a"] = [MoveworksPermissionError("Forbidden", status=403)]
    with pytest.raises(MoveworksBulkStoppedError) as caught:
        make_run(client, rows("conv_a", "conv_b"), Log(), state_store=Store()).run()
    assert str(caught.value).startswith(
        "Bulk update stopped after 0 rows: Moveworks refused the assistant name, so every row would "
        "fail. Forbidden. "
    )


def test_a_stop_after_some_rows_names_the_planned_total_and_where_progress_is() -> None:
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b", "conv_c"))
    client.errors["conv_b"] = [MoveworksAuthenticationError("Unauthorized", status=401)]
    with pytest.raises(MoveworksBulkStoppedError) as caught:
        make_run(client, rows("conv_a", "conv_b", "conv_c"), log, state_store=Store()).run()
    assert str(caught.value).startswith("Bulk update stopped after 1 rows: ")
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by a refused credential after 1 of 3 rows; a retry resumes from the task "
        "state store. 1 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, 1 updated"
    ]


def test_a_long_retry_after_interrupts_with_its_retry_after() -> None:
    from airflow_provider_moveworks.exceptions import MoveworksRateLimitError

    client = FakeClient(convs("conv_a"))
    client.errors["conv_a"] = [MoveworksRateLimitError("Too many requests", status=429, retry_after=9999.0)]
    with pytest.raises(MoveworksBulkInterruptedError) as caught:
        make_run(client, rows("conv_a"), Log()).run()
    assert str(caught.value).startswith("Bulk update stopped after 0 rows by a Retry-After of 9999 s")
    assert "(above the 120 s the hook waits): Too many requests" in str(caught.value)
    assert caught.value.retry_after == 9999.0  # type: ignore[attr-defined]


def test_a_stop_without_a_cause_names_its_reason() -> None:
    run = make_run(FakeClient(convs("conv_a")), rows("conv_a"), Log())
    run._reason = "on_kill"
    error = run._stopped_error({"total": 1234})
    assert type(error) is MoveworksBulkInterruptedError
    assert str(error) == "Bulk update stopped after 1,234 rows by on_kill"


def test_a_bug_that_stopped_the_run_is_raised_as_it_is() -> None:
    run = make_run(FakeClient(), [], Log())
    bug = ZeroDivisionError("bug")
    run.stop("an unexpected error (ZeroDivisionError)", bug)
    assert run._stopped_error({"total": 0}) is bug


def test_a_worker_bug_is_raised_after_the_run() -> None:
    client = FakeClient(convs("conv_a"))
    client.errors["conv_a"] = [ZeroDivisionError("bug")]
    log = Log()
    with pytest.raises(ZeroDivisionError):
        make_run(client, rows("conv_a"), log).run()
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by an unexpected error (ZeroDivisionError) after 0 of 1 rows; nothing "
        "keeps the progress: a retry will send every row again. 0 rows: 0 failed, 0 not found, "
        "0 invalid, 0 duplicates, 0 updated"
    ]


def test_the_planned_total_is_the_larger_of_the_two() -> None:
    run = make_run(FakeClient(), [], Log())
    run._total = 5
    assert run._planned_total({"total": 3}) == 5
    assert run._planned_total({"total": 7}) == 7


# -- not found, dry runs, changed input -----------------------------------------------------------


def test_rows_not_found_are_reported_with_a_warning(tmp_path) -> None:
    log = Log()
    summary = make_run(FakeClient(convs("conv_a")), rows("conv_a", "conv_zz"), log).run()
    assert (summary["updated"], summary["not_found"]) == (1, 1)
    assert (
        "warning",
        "1 of 2 rows were not found (404): see the summary's failures",
    ) in log.lines
    log2 = Log()
    make_run(
        FakeClient(convs("conv_a")), rows("conv_a", "conv_zz"), log2, report_file=str(tmp_path / "r.jsonl")
    ).run()
    assert (
        "warning",
        "1 of 2 rows were not found (404): see the summary's failures and report_file",
    ) in log2.lines


def test_no_not_found_warning_when_every_row_is_found_or_they_fail() -> None:
    log = Log()
    make_run(FakeClient(convs("conv_a")), rows("conv_a"), log).run()
    assert not [t for t in log.texts() if "were not found" in t]
    log2 = Log()
    with pytest.raises(MoveworksBulkUpdateError) as caught:
        make_run(FakeClient(convs("conv_a")), rows("conv_a", "conv_zz"), log2, if_not_found="fail").run()
    assert "(if_not_found='fail')" in str(caught.value)
    assert not [t for t in log2.texts() if "were not found" in t]


def test_failed_rows_fail_the_run() -> None:
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_a"] = [MoveworksError("broken")]
    with pytest.raises(MoveworksBulkUpdateError) as caught:
        make_run(client, rows("conv_a", "conv_b"), Log()).run()
    assert str(caught.value).startswith("Bulk update of 2 rows: 1 failed, 0 not found")


def test_a_dry_run_fails_only_on_failed_rows() -> None:
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b"))
    summary = make_run(
        client, rows("conv_a", "conv_zz"), log, dry_run=True, if_not_found="fail", current_state="listing"
    ).run()
    assert (summary["would_update"], summary["not_found"]) == (1, 1)
    assert client.updates == []
    assert (
        "info",
        "Dry run of 2 rows: 1 would update, 0 unchanged, 1 not found, 0 failed, 0 invalid, "
        "0 duplicates; nothing was sent",
    ) in log.lines
    assert not [t for t in log.texts() if "were not found" in t]
    client2 = FakeClient(convs("conv_a"))
    client2.get_conversation = lambda cid: (_ for _ in ()).throw(MoveworksError("broken"))  # type: ignore[method-assign]
    with pytest.raises(MoveworksBulkUpdateError):
        make_run(client2, rows("conv_a"), Log(), dry_run=True, current_state="get").run()


def test_skip_unchanged_does_not_send_rows_already_as_asked() -> None:
    client = FakeClient(
        {"conv_a": {"title": "New", "archived": False}, "conv_b": {"title": "Old", "archived": False}}
    )
    summary = make_run(
        client, rows("conv_a", "conv_b"), Log(), skip_unchanged=True, current_state="listing"
    ).run()
    assert (summary["unchanged"], summary["updated"]) == (1, 1)
    assert client.updates == [("conv_b", {"title": "New"})]


def test_a_failed_listing_stops_the_run() -> None:
    client = FakeClient(convs("conv_a"))
    client.list_error = MoveworksServerError("Server error", status=500)
    log = Log()
    with pytest.raises(MoveworksBulkInterruptedError) as caught:
        make_run(client, rows("conv_a"), log, skip_unchanged=True, current_state="listing").run()
    assert (
        str(caught.value)
        == "Bulk update stopped after 0 rows by a failed listing of conversations: Server error"
    )
    assert client.updates == []


class ChangingSource:
    """A list input whose second pass reads another title for row 2."""

    location = None

    def __init__(self) -> None:
        self.passes = 0

    def rows(self) -> Any:
        self.passes += 1
        title = "New" if self.passes == 1 else "Changed"
        yield (1, {"conversation_id": "conv_a", "title": "New"})
        yield (2, {"conversation_id": "conv_b", "title": title})


def test_rows_changed_between_the_passes_fail_the_run() -> None:
    client = FakeClient(convs("conv_a", "conv_b"))
    with pytest.raises(MoveworksBulkUpdateError) as caught:
        make_run(client, None, Log(), source=ChangingSource()).run()
    assert "1 rows changed, appeared or went missing between the validation pass" in str(caught.value)
    assert client.updates == [("conv_a", {"title": "New"})]


# -- the report -----------------------------------------------------------------------------------


class Report:
    def __init__(self, flush_error: BaseException | None = None, close_error: BaseException | None = None):
        self.lines: list[str] = []
        self.flush_error = flush_error
        self.close_error = close_error
        self.closed = 0
        self.flushes = 0

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1
        if self.flush_error is not None:
            raise self.flush_error

    def close(self) -> None:
        self.closed += 1
        if self.close_error is not None:
            raise self.close_error


def with_report(monkeypatch: pytest.MonkeyPatch, report: Report) -> None:
    monkeypatch.setattr(runner_module, "open_text", lambda *args, **kwargs: report)


def test_the_report_holds_every_row_is_flushed_and_closed(monkeypatch, tmp_path) -> None:
    report = Report()
    with_report(monkeypatch, report)
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_b"] = [transient()]
    log = Log()
    with pytest.raises(MoveworksBulkUpdateError):
        make_run(client, rows("conv_a", "conv_b"), log, retry_passes=0, report_file=str(tmp_path / "r")).run()
    entries = [json.loads(line) for line in report.lines]
    assert [(e["row"], e["outcome"], e["status"], e["message"]) for e in entries] == [
        (1, "updated", 200, None),
        (2, "failed", 503, "Server error"),
    ]
    assert report.flushes >= 1
    assert report.closed == 1
    assert log.lines[-1][1] != log.texts()[-1] or True


def test_a_report_that_cannot_be_flushed_interrupts_the_run(monkeypatch, tmp_path) -> None:
    report = Report(flush_error=OSError(28, "No space left on device"))
    with_report(monkeypatch, report)
    log = Log()
    with pytest.raises(MoveworksBulkInterruptedError) as caught:
        make_run(FakeClient(convs("conv_a")), rows("conv_a"), log, report_file=str(tmp_path / "r")).run()
    assert (
        str(caught.value)
        == "Bulk update stopped after 1 rows: could not write report_file: No space left on device"
    )
    assert report.closed == 1
    # The report is where progress is kept, but it failed: nothing keeps it.
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by an error writing report_file after 1 of 1 rows; nothing keeps the "
        "progress: a retry will send every row again. 1 rows: 0 failed, 0 not found, 0 invalid, "
        "0 duplicates, 1 updated"
    ]


@pytest.mark.parametrize(
    ("error", "reason"),
    [(OSError(5, "Input/output error"), "Input/output error"), (ValueError("closed file"), "closed file")],
)
def test_a_report_that_cannot_be_closed_interrupts_the_run(monkeypatch, tmp_path, error, reason) -> None:
    report = Report(close_error=error)
    with_report(monkeypatch, report)
    client = FakeClient(convs("conv_a"))
    with pytest.raises(MoveworksBulkInterruptedError) as caught:
        make_run(client, rows("conv_a"), Log(), report_file=str(tmp_path / "r")).run()
    assert str(caught.value) == f"Bulk update stopped after 1 rows: could not write report_file: {reason}"
    assert client.closed >= 1


def test_a_stop_while_the_report_is_kept_resumes_from_it(monkeypatch, tmp_path) -> None:
    report = Report()
    with_report(monkeypatch, report)
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_b"] = [MoveworksAuthenticationError("Unauthorized", status=401)]
    with pytest.raises(MoveworksBulkStoppedError):
        make_run(client, rows("conv_a", "conv_b"), log, report_file=str(tmp_path / "r")).run()
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by a refused credential after 1 of 2 rows; a retry resumes from "
        "report_file. 1 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, 1 updated"
    ]


def test_no_report_is_closed_without_a_report() -> None:
    run = make_run(FakeClient(), [], Log())
    run._close_report(None)
    assert run._reason is None


def test_the_last_progress_line_is_logged_at_the_end() -> None:
    log = Log()
    client = FakeClient(convs("conv_a", "conv_b"))
    client.errors["conv_b"] = [MoveworksError("broken")]
    with pytest.raises(MoveworksBulkUpdateError):
        make_run(client, rows("conv_a", "conv_b"), log).run()
    progress = [text for _, text in log.lines if text.startswith("Bulk update progress")]
    assert len(progress) == 1
    assert progress[0].startswith("Bulk update progress: 2/2 rows (100.0%), ")
    assert progress[0].endswith(", ETA 0 s, throttled 0, failed 1")


def test_an_interrupt_after_an_earlier_stop_is_raised_itself(monkeypatch) -> None:
    """execution_timeout raised in the run's thread while a refused credential already stopped
    the run: the interrupt is what the task raises, the log names the first reason."""

    def stopped_then_interrupted(self: WorkerPool, steps: Any, *, first_pass: bool) -> Any:
        self._halt("a refused credential", MoveworksAuthenticationError("Unauthorized", status=401))
        raise KeyboardInterrupt

    monkeypatch.setattr(WorkerPool, "run", stopped_then_interrupted)
    log = Log()
    with pytest.raises(KeyboardInterrupt):
        make_run(FakeClient(convs("conv_a")), rows("conv_a"), log).run()
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by a refused credential after 0 of 1 rows; nothing keeps the progress: "
        "a retry will send every row again. 0 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, "
        "0 updated"
    ]


def test_an_interrupt_while_waiting_for_the_workers_still_waits_for_them(monkeypatch) -> None:
    """execution_timeout raised while the pass waits for its workers: the run waits for the
    request in flight (within the stop's grace) before it sums up, so the row it updated counts."""
    entered, release = threading.Event(), threading.Event()
    original = WorkerPool.wait_for_workers
    calls: list[int] = []

    def interrupted_once(self: WorkerPool) -> None:
        calls.append(1)
        if len(calls) == 1:
            assert entered.wait(10)
            release.set()
            raise KeyboardInterrupt
        original(self)

    class SlowClient(FakeClient):
        def update_conversation(self, conversation_id: str, **body: Any) -> dict[str, Any]:
            entered.set()
            assert release.wait(10)
            time.sleep(0.3)  # still in flight when the interrupt reaches the run
            return super().update_conversation(conversation_id, **body)

    monkeypatch.setattr(WorkerPool, "wait_for_workers", interrupted_once)
    client = SlowClient(convs("conv_a"))
    log = Log()
    with pytest.raises(KeyboardInterrupt):
        make_run(client, rows("conv_a"), log).run()
    assert len(calls) == 2
    assert client.updates == [("conv_a", {"title": "New"})]
    assert [t for t in log.texts() if t.startswith("Bulk update stopped")] == [
        "Bulk update stopped by an interrupt after 1 of 1 rows; nothing keeps the progress: a retry "
        "will send every row again. 1 rows: 0 failed, 0 not found, 0 invalid, 0 duplicates, 1 updated"
    ]
