"""What an error means for a bulk run: a row's outcome, a pass to retry it in, or a stop."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_moveworks.bulk.summary import describe_failures, headline
from airflow_provider_moveworks.client.retry import MAX_RETRY_AFTER, waits_too_long
from airflow_provider_moveworks.exceptions import (
    MoveworksAPIError,
    MoveworksAuthenticationError,
    MoveworksBulkUpdateError,
    MoveworksCancelledError,
    MoveworksError,
    MoveworksNotFoundError,
    MoveworksPermissionError,
    MoveworksTokenError,
)


@dataclass(frozen=True)
class Verdict:
    """What to do with a row whose update raised.

    ``action`` is ``"unsent"`` (the run is stopping; a retry sends it), ``"stop"`` (every other
    row would meet the same error), ``"defer"`` (transient: try again in a retry pass), or a
    row outcome: ``"not_found"`` or ``"failed"``.
    """

    action: str
    reason: str = ""


def verdict(error: MoveworksError, *, updated_any: bool) -> Verdict:
    """The fate of a row whose update raised ``error``; ``updated_any``: an update of this run
    has succeeded already."""
    if isinstance(error, MoveworksCancelledError):
        return Verdict("unsent")
    if isinstance(error, MoveworksAuthenticationError):
        return Verdict("stop", "a refused credential")
    if isinstance(error, MoveworksPermissionError):
        # Before any success, a 403 refuses the assistant name that every row sends; after one,
        # it is about this conversation.
        return Verdict("failed") if updated_any else Verdict("stop", "a refused assistant name")
    if isinstance(error, MoveworksNotFoundError):
        return Verdict("not_found")
    if waits_too_long(error):
        retry_after = getattr(error, "retry_after", 0.0)
        return Verdict(
            "stop", f"a Retry-After of {retry_after:g} s (above the {MAX_RETRY_AFTER:g} s the hook waits)"
        )
    if isinstance(error, MoveworksTokenError):
        return Verdict("stop", "a failing token endpoint")
    return Verdict("defer") if error.retryable else Verdict("failed")


def without_traceback(error: MoveworksError) -> MoveworksError:
    """``error`` as a deferred row keeps it until the next pass: its message, status and code,
    without the traceback, whose frames hold the whole response (about 14 KB a row)."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error


def interruption(error: BaseException) -> str:
    """How a stop by ``error``, raised in the run's own thread, is named."""
    if type(error).__name__ == "AirflowTaskTimeout":
        return "execution_timeout"
    if isinstance(error, KeyboardInterrupt):
        return "an interrupt"
    return f"an unexpected error ({type(error).__name__})"


def error_fields(error: MoveworksError) -> dict[str, Any]:
    """A row's ``status``, ``code`` and ``message`` in the report."""
    if isinstance(error, MoveworksAPIError):
        return {"status": error.status, "code": error.code, "message": str(error)}
    return {"status": None, "code": None, "message": str(error)}


def raise_for_failures(summary: dict[str, Any], if_not_found: str, *, failed_only: bool = False) -> None:
    """:class:`MoveworksBulkUpdateError` if rows failed, or were not found with
    ``if_not_found="fail"`` (unless ``failed_only``)."""
    failed = summary["failed"]
    not_found = summary["not_found"] if if_not_found == "fail" and not failed_only else 0
    if not failed and not not_found:
        return
    because = " (if_not_found='fail')" if not_found else ""
    raise MoveworksBulkUpdateError(
        f"Bulk update of {headline(summary)}{because}. First ones: {describe_failures(summary)}",
        summary,
    )
