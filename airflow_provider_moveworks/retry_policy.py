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
            if isinstance(retry_after, (int, float)) and retry_after >= 0:
                return decision.retry(
                    delay=timedelta(seconds=retry_after),
                    reason=f"Moveworks asked to wait {retry_after:g} s (Retry-After)",
                )
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


def apply_default(operator: Any) -> None:
    """Give ``operator`` the default policy unless its author set one (or Airflow has none)."""
    if getattr(operator, "retry_policy", "unsupported") is None:
        policy = default_retry_policy()
        if policy is not None:
            operator.retry_policy = policy
