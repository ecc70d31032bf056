"""The bulk operator: many conversation updates in one task, concurrently and rate-aware.

Importing this module stays cheap for DAG parsing: the engine, the hook and ``requests`` load
only when the task runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any

from airflow_provider_moveworks.retry_policy import apply_default as apply_default_retry_policy
from airflow_provider_moveworks.validation import parse_switch
from airflow_provider_moveworks.version_compat import BaseOperator, Context

if TYPE_CHECKING:
    from airflow_provider_moveworks.bulk.runner import BulkRun
    from airflow_provider_moveworks.bulk.shared_budget import SharedRateLimiter
    from airflow_provider_moveworks.client.client import MoveworksClient
    from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
    from airflow_provider_moveworks.version_compat import ObjectStoragePath

IF_NOT_FOUND_CHOICES = ("report", "fail")
ON_INVALID_CHOICES = ("fail", "skip")
# How the bulk run learns what each conversation holds now (bulk/current.py says more).
CURRENT_STATE_CHOICES = ("auto", "listing", "get")
MAX_CONCURRENCY_LIMIT = 64
# The slowest pace a run may be given: one request every 100 s.
MIN_REQUESTS_PER_SECOND = 0.01


class MoveworksBulkUpdateConversationsOperator(BaseOperator):
    """Set the title and/or archived flag of many Moveworks conversations in one task.

    Input is exactly one of ``updates``, a list of mappings ``{"conversation_id", "title"?,
    "archived"?}`` (an upstream task's XCom works, e.g. ``plan.output``), or ``updates_file``, a
    JSON Lines or CSV file (header ``conversation_id,title,archived``; an empty cell leaves that
    field unchanged) read as a stream from a local path or any URI Airflow's object storage
    resolves (``file://``, ``s3://``...). The format comes from the extension (``.jsonl``,
    ``.ndjson``, ``.csv``), else from the first character (``{`` means JSON Lines).

    **Validation first.** Every row is checked with the single operator's rules before anything
    is sent. Rows are numbered from 1 over data records (blank lines and the CSV header are not
    rows). Rows naming the same conversation with *different* changes are all invalid (concurrent
    PATCHes would race); rows repeating the *same* change are sent once, by the first of them,
    and each later one counts as a ``duplicate`` (not a failure, outcome ``"duplicate"`` in the
    report). ``on_invalid="fail"`` fails the task before any request is sent; ``"skip"`` sends
    the valid rows and reports the others. Rows that changed, appeared or went missing between
    the validation pass and the sending pass (the file was rewritten meanwhile) are invalid, not
    sent, and fail the task once every row was tried.

    **Sending.** Up to ``max_concurrency`` requests are in flight over the hook's one pooled
    session, fed from a bounded queue (memory stays flat in the number of rows). An adaptive
    limiter paces them: at most ``max_requests_per_second`` if given; on a 429 every worker waits
    out ``Retry-After`` (or the backoff) and the rate is cut, then creeps back up on success.

    **Retries.** The hook retries each request as the connection's ``max_retries`` says (429,
    5xx, network errors). Rows still failing transiently after that are tried again in up to
    ``retry_passes`` more passes at the end of the run (``retry_pass_delay`` x the pass number
    seconds apart); only then do they count as failed.

    **Outcomes.** Each row has exactly one outcome: ``updated``, ``not_found`` (404), ``failed``,
    ``invalid``, ``duplicate``, ``unchanged`` or, in a dry run, ``would_update``. Failed rows (and
    404s with ``if_not_found="fail"``) fail the task once every row was tried, with
    :class:`~airflow_provider_moveworks.exceptions.MoveworksBulkUpdateError` (``summary`` holds
    the summary).

    **Stopping and resuming.** ``on_kill``, ``execution_timeout``, a refused credential and the
    other causes in docs/bulk.md stop the run within about two seconds, the report keeping every
    answered row. A retry of the same task instance skips the rows an earlier try updated, kept
    in ``context["task_state_store"]`` (Airflow 3.3+), else in ``report_file``.

    Returns (XCom) the summary: the count of each outcome (``total`` is their sum), ``dry_run``,
    ``resumed``, ``requests``, ``retries``, ``throttled``, ``duration_seconds`` and ``failures``
    (the first 100 rows not updated, in row order); docs/bulk.md describes each.

    :param updates: a list of update mappings (templated).
    :param updates_file: a local path or object-storage URI of a JSONL or CSV file (templated); a
        ``pathlib.Path`` (any ``os.PathLike``) or an ``ObjectStoragePath`` works too. A transient
        fault of the storage while it is read (a connection reset, a timeout, a 5xx from the
        store) is a retryable :class:`~airflow_provider_moveworks.exceptions.MoveworksStorageError`;
        a file that does not exist, or may not be read, fails the task at once.
    :param max_concurrency: requests in flight at once, 1-64.
    :param max_requests_per_second: a rate never to exceed (0.01 or more); ``None``: adapt to
        the server alone.
    :param if_not_found: ``"report"`` (default) or ``"fail"``.
    :param on_invalid: ``"fail"`` (default, before any request) or ``"skip"``.
    :param retry_passes: extra passes over rows that failed transiently (default 2).
    :param report_file: a local path or URI receiving every row's outcome as JSON Lines
        ``{row, conversation_id, outcome, status, code, message}``, written as rows finish
        (templated); a path object works too, and storage faults are told apart as for
        ``updates_file``.
    :param moveworks_conn_id: the ``moveworks`` Airflow connection (templated).
    :param assistant_name: overrides the connection's ``assistant_name`` extra (templated).
    :param dry_run: send no update: learn each conversation's current state and report each
        row as ``would_update`` (with the fields that differ), ``unchanged``, ``not_found``,
        ``invalid`` or ``duplicate``; progress is neither read nor saved (templated: a bool or
        true/false).
    :param skip_unchanged: learn the current state first and send only the rows that differ;
        the others count as ``unchanged``.
    :param current_state: how the state is learned: ``"listing"`` (one walk of the listing),
        ``"get"`` (one GET per row to send), or ``"auto"`` (the listing from 1,000 rows to send).
    :param rate_limit_conn_id: an Airflow Redis connection (the ``redis`` extra): every bulk task
        naming the same budget shares ``rate_limit_requests_per_second`` through it, a 429 seen by
        one pausing and slowing them all; ``max_requests_per_second`` stays this task's own cap.
        See docs/scale-out.md.
    :param rate_limit_requests_per_second: the budget: the account's limit (required with
        ``rate_limit_conn_id``). Tasks stating another number keep another budget.
    :param rate_limit_key: the budget's name (templated); by default one per API host and
        assistant, so tasks on the same account share it.
    :param fallback_requests_per_second: this task's own limit while Redis does not answer
        (default: a quarter of the budget); set it to the account's limit over the number of
        tasks that run at once.

    Example::

        from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

        MoveworksBulkUpdateConversationsOperator(
            task_id="archive_stale",
            updates_file="s3://hr-bot/exports/{{ ds }}/archive.csv",
            max_concurrency=16,
            max_requests_per_second=100,
            report_file="s3://hr-bot/reports/{{ ds }}/archive.jsonl",
        )
    """

    template_fields: Sequence[str] = (
        "updates",
        "updates_file",
        "report_file",
        "moveworks_conn_id",
        "assistant_name",
        "dry_run",
        "rate_limit_key",
    )
    ui_color = "#e7f0fd"
    # Seconds between progress lines in the task log, and the unit of the wait before each retry
    # pass; tests set them on the instance.
    progress_interval: float = 5.0
    retry_pass_delay: float = 1.0

    def __init__(
        self,
        *,
        updates: Any = None,
        updates_file: str | os.PathLike[str] | ObjectStoragePath | None = None,
        max_concurrency: int = 8,
        max_requests_per_second: float | None = None,
        if_not_found: str = "report",
        on_invalid: str = "fail",
        retry_passes: int = 2,
        report_file: str | os.PathLike[str] | ObjectStoragePath | None = None,
        moveworks_conn_id: str = "moveworks_default",
        assistant_name: str | None = None,
        dry_run: bool | str = False,
        skip_unchanged: bool = False,
        current_state: str = "auto",
        rate_limit_conn_id: str | None = None,
        rate_limit_requests_per_second: float | None = None,
        rate_limit_key: str | None = None,
        fallback_requests_per_second: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if current_state not in CURRENT_STATE_CHOICES:
            raise ValueError(f"current_state must be one of {CURRENT_STATE_CHOICES}, got {current_state!r}")
        if not isinstance(skip_unchanged, bool):
            raise ValueError(f"skip_unchanged must be True or False, got {skip_unchanged!r}")
        if (updates is None) == (updates_file is None):
            raise ValueError("give exactly one of updates and updates_file")
        if if_not_found not in IF_NOT_FOUND_CHOICES:
            raise ValueError(f"if_not_found must be one of {IF_NOT_FOUND_CHOICES}, got {if_not_found!r}")
        if on_invalid not in ON_INVALID_CHOICES:
            raise ValueError(f"on_invalid must be one of {ON_INVALID_CHOICES}, got {on_invalid!r}")
        if not _is_int(max_concurrency) or not 1 <= max_concurrency <= MAX_CONCURRENCY_LIMIT:
            raise ValueError(f"max_concurrency must be a whole number from 1 to 64, got {max_concurrency!r}")
        if not _is_int(retry_passes) or retry_passes < 0:
            raise ValueError(f"retry_passes must be a whole number >= 0, got {retry_passes!r}")
        _check_rate(max_requests_per_second, "max_requests_per_second", ", or None for no limit")
        _check_rate(fallback_requests_per_second, "fallback_requests_per_second")
        _check_rate(rate_limit_requests_per_second, "rate_limit_requests_per_second")
        if rate_limit_conn_id is not None:
            if not isinstance(rate_limit_conn_id, str) or not rate_limit_conn_id.strip():
                raise ValueError(f"rate_limit_conn_id must name a connection, not {rate_limit_conn_id!r}")
            if rate_limit_requests_per_second is None:
                raise ValueError(
                    "rate_limit_conn_id needs rate_limit_requests_per_second: the account's limit, "
                    "which every task naming the budget shares"
                )
        elif (rate_limit_requests_per_second, rate_limit_key, fallback_requests_per_second) != (None,) * 3:
            raise ValueError(
                "rate_limit_requests_per_second, rate_limit_key and fallback_requests_per_second need "
                "rate_limit_conn_id"
            )
        if rate_limit_requests_per_second is not None:
            fallback_requests_per_second = min(
                fallback_requests_per_second or rate_limit_requests_per_second / 4,
                rate_limit_requests_per_second,
                max_requests_per_second or rate_limit_requests_per_second,
            )
        self.rate_limit_conn_id = rate_limit_conn_id
        self.rate_limit_requests_per_second = rate_limit_requests_per_second
        self.rate_limit_key = rate_limit_key
        self.fallback_requests_per_second = fallback_requests_per_second
        self.updates = updates
        self.updates_file = updates_file
        self.max_concurrency = max_concurrency
        self.max_requests_per_second = max_requests_per_second
        self.if_not_found = if_not_found
        self.on_invalid = on_invalid
        self.retry_passes = retry_passes
        self.report_file = report_file
        self.moveworks_conn_id = moveworks_conn_id
        self.assistant_name = assistant_name
        self.dry_run = dry_run
        self.skip_unchanged = skip_unchanged
        self.current_state = current_state
        apply_default_retry_policy(self)

    # How the client waits between retries; ``None``: a wait that ends when the run stops. Tests
    # record the waits instead.
    _client_sleep: Callable[[float], object] | None = None
    # The try in progress, for on_kill (which Airflow calls from a signal handler).
    _run: BulkRun | None = None

    @cached_property
    def hook(self) -> MoveworksHook:
        from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

        return MoveworksHook(self.moveworks_conn_id, assistant_name=self.assistant_name)

    def _client_factory(self) -> Callable[..., MoveworksClient]:
        """Builds the one client (one pooled session) shared by every worker thread; the run
        adds its rate limiter and stop event."""
        return partial(self.hook.new_client, pool_maxsize=self.max_concurrency, sleep=self._client_sleep)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_moveworks.bulk.rows import RowSource
        from airflow_provider_moveworks.bulk.runner import BulkOptions, BulkRun
        from airflow_provider_moveworks.exceptions import MoveworksBulkUpdateError

        self._summary = None  # an earlier run's counts are not this run's
        source = RowSource(updates=self.updates, updates_file=self.updates_file)
        # A string, an os.PathLike or an ObjectStoragePath: bulk.storage opens each as given.
        report_file: Any = self.report_file or None
        options = BulkOptions(
            max_concurrency=self.max_concurrency,
            max_requests_per_second=self.max_requests_per_second,
            if_not_found=self.if_not_found,
            on_invalid=self.on_invalid,
            retry_passes=self.retry_passes,
            report_file=report_file,
            progress_interval=self.progress_interval,
            retry_pass_delay=self.retry_pass_delay,
            dry_run=parse_switch("dry_run", self.dry_run),
            skip_unchanged=self.skip_unchanged,
            current_state=self.current_state,
        )
        run = BulkRun(
            self._client_factory(),
            source,
            options,
            self.log,
            state_store=context.get("task_state_store"),  # Airflow 3.3+: kept across tries
            context=context,
            limiter=self._shared_budget(),
        )
        self._run = run
        try:
            summary = run.run()
        except MoveworksBulkUpdateError as error:
            self._summary = error.summary
            raise
        finally:
            self._close_budget()
        self._summary = summary
        self.log.info("Bulk update summary: %s", {k: v for k, v in summary.items() if k != "failures"})
        from airflow_provider_moveworks.assets import record_changes

        # This try's updates: rows an earlier try updated were announced by that try.
        counts = {**summary, "updated": summary["updated"] - summary["resumed"]}
        changed = counts["updated"] > 0 and not summary["dry_run"]
        record_changes(self, context, counts, config=self.hook.settings, changed=changed)
        return summary

    _budget: SharedRateLimiter | None = None

    def _shared_budget(self) -> SharedRateLimiter | None:
        """The budget shared through ``rate_limit_conn_id``'s Redis, or None (a limiter of the run's own)."""
        if self.rate_limit_conn_id is None:
            return None
        from airflow_provider_moveworks.operators.rate_budget import open_budget

        assert self.rate_limit_requests_per_second is not None  # the constructor requires them
        assert self.fallback_requests_per_second is not None
        self._budget = open_budget(
            self.rate_limit_conn_id,
            self.hook.settings,
            key=self.rate_limit_key,
            budget_rate=self.rate_limit_requests_per_second,
            max_rate=self.max_requests_per_second,
            fallback_rate=self.fallback_requests_per_second,
            log=self.log,
        )
        return self._budget

    def _close_budget(self) -> None:
        budget, self._budget = self._budget, None
        if budget is not None:
            budget.close()

    def on_kill(self) -> None:
        """SIGTERM, the task marked failed or cleared, or ``execution_timeout``: stop sending
        (the run ends within about two seconds, its progress kept for a retry)."""
        run = self._run
        if run is not None:
            run.stop("on_kill")

    # The last run's summary, for lineage; None until a run has counted its rows.
    _summary: dict[str, Any] | None = None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage (when its provider is installed): the ``updates_file`` read, the assistant's
        conversations written, and the run's counts (``updated``, ``not_found``, ``failed``,
        ``invalid``). See :mod:`airflow_provider_moveworks.lineage`."""
        from airflow_provider_moveworks.lineage import operator_lineage

        return operator_lineage(
            moveworks_conn_id=self.moveworks_conn_id,
            assistant_name=self.assistant_name,
            updates_file=self.updates_file,
            counts=self._summary,
            writes=not (self._summary or {}).get("dry_run", False),
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """As on complete: a failed run reports the rows it counted before failing."""
        return self.get_openlineage_facets_on_complete(task_instance)


def _check_rate(value: Any, name: str, otherwise: str = "") -> None:
    if value is not None and (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not MIN_REQUESTS_PER_SECOND <= value <= sys.float_info.max
    ):
        raise ValueError(
            f"{name} must be a number from {MIN_REQUESTS_PER_SECOND:g} (one request every "
            f"{1 / MIN_REQUESTS_PER_SECOND:g} s) up{otherwise}, got {value!r}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["MoveworksBulkUpdateConversationsOperator"]
