"""The operators' default ``retry_policy`` (Airflow 3.3+): when Moveworks throttles for longer than
the hook waits, the task is retried after the server's ``Retry-After`` rather than the task's
``retry_delay``; errors that a retry cannot fix fail the task without spending its retries.

A DAG author's own ``retry_policy`` wins: the operators only fill in this one when none was given.
On Airflow versions without retry policies, :func:`default_retry_policy` returns ``None``.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Any

from airflow_provider_moveworks import version_compat
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksBadRequestError,
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksPermissionError,
    MoveworksValidationError,
)

# Airflow's default ``[core] max_task_retry_delay``: one day.
DEFAULT_MAX_RETRY_DELAY = 24 * 60 * 60

# Errors that another try would meet again.
PERMANENT = (
    MoveworksValidationError,
    MoveworksBulkInvalidRowsError,
    MoveworksBulkStoppedError,
    MoveworksBadRequestError,
    MoveworksAuthenticationError,
    MoveworksPermissionError,
)


def default_retry_policy() -> Any | None:
    """A new :class:`MoveworksRetryPolicy`, or ``None`` before Airflow 3.3."""
    policy_class = _policy_class()
    return None if policy_class is None else policy_class()


@cache
def _policy_class() -> type | None:
    module = version_compat.load_retry_policy()
    if module is None:
        return None
    decision: Any = module.RetryDecision

    class MoveworksRetryPolicy(module.RetryPolicy):  # type: ignore[misc,name-defined]
        """Retry after the server's wait; fail permanent errors at once; else Airflow's default."""

        def evaluate(
            self, exception: BaseException, try_number: int, max_tries: int, context: Any = None
        ) -> Any:
            retry_after = getattr(exception, "retry_after", None)
            if isinstance(retry_after, (int, float)) and 0 <= retry_after < float("inf"):
                # Capped like every retry delay of Airflow's: a Retry-After of 10**9 s, or an HTTP
                # date in the year 9999, must not park the task for good.
                cap = max_retry_delay(context)
                reason = f"Moveworks asked to wait {retry_after:g} s (Retry-After)"
                if retry_after > cap:
                    reason += f"; waiting {cap:g} s, the longest retry delay of this task"
                return decision.retry(delay=timedelta(seconds=min(retry_after, cap)), reason=reason)
            if isinstance(exception, PERMANENT):
                return decision.fail(
                    reason=f"{type(exception).__name__}: another try would fail the same way"
                )
            return decision.default()

        def serialize(self) -> dict[str, Any]:
            return {"__type": "MoveworksRetryPolicy"}

        @classmethod
        def deserialize(cls, data: dict[str, Any]) -> Any:
            return cls()

    MoveworksRetryPolicy.__module__ = __name__
    return MoveworksRetryPolicy


def max_retry_delay(context: Any = None) -> float:
    """The longest retry delay, in seconds: the task's ``max_retry_delay`` when it has one, never
    more than Airflow's ``[core] max_task_retry_delay`` (24 hours by default)."""
    try:
        from airflow.configuration import conf

        cap = float(conf.getint("core", "max_task_retry_delay", fallback=DEFAULT_MAX_RETRY_DELAY))
    except Exception:  # an unreadable setting: Airflow's own default
        cap = float(DEFAULT_MAX_RETRY_DELAY)
    task = context.get("task") if hasattr(context, "get") else None
    own = getattr(task, "max_retry_delay", None)
    if isinstance(own, timedelta):
        cap = min(cap, own.total_seconds())
    elif isinstance(own, (int, float)) and not isinstance(own, bool) and own > 0:
        cap = min(cap, float(own))
    return cap


def apply_default(operator: Any) -> None:
    """Give ``operator`` the default policy unless its author set one (or Airflow has none)."""
    if getattr(operator, "retry_policy", "unsupported") is None:
        policy = default_retry_policy()
        if policy is not None:
            operator.retry_policy = policy
