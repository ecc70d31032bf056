"""The retry policy, on one screen: how long to wait before another attempt. What is worth one
is each error's ``retryable`` flag (429, 5xx, network errors; never 400, 401, 403 or 404).

Repeating the PATCH is safe: both of its fields set absolute values.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

from airflow_provider_moveworks.exceptions import MoveworksRateLimitError

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 60.0
# A Retry-After beyond this is treated as this: the run should not stall for hours on one answer.
MAX_RETRY_AFTER = 120.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), capped; ``None``
    when the header is missing or makes no sense."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_delay(retry_number: int) -> float:
    """Exponential backoff from 0.5 s, capped at 60 s, with "equal jitter": between half and all
    of the step, so that many workers throttled together do not retry in lock step."""
    step = min(MAX_BACKOFF, INITIAL_BACKOFF * 2.0 ** (retry_number - 1))
    return step / 2 + step / 2 * random.random()


def retry_delay(error: BaseException, retry_number: int) -> float:
    """The wait before retry number ``retry_number`` (1 for the first retry)."""
    if isinstance(error, MoveworksRateLimitError) and error.retry_after is not None:
        return error.retry_after
    return backoff_delay(retry_number)
