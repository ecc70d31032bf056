"""The retry policy and its loop: how long to wait before another attempt, and the attempts. What
is worth one is each error's ``retryable`` flag (429, 5xx, network errors; never 400, 401, 403
or 404).

Repeating the PATCH is safe: both of its fields set absolute values.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar, cast

from airflow_provider_moveworks.exceptions import MoveworksAPIError, MoveworksError

T = TypeVar("T")
_DELAY_SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 60.0
# The longest Retry-After the client sleeps on. A longer one is raised at once (the task's retries,
# or the bulk operator's stop-and-resume, act): one answer must not stall a worker for hours.
MAX_RETRY_AFTER = 120.0
# The shortest Retry-After taken as a wait (the header counts whole seconds); a shorter one
# asks for no wait and gets the backoff.
MIN_RETRY_AFTER = 1.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), uncapped; ``None``
    when the header is missing, makes no sense, or asks for no wait (under a second, negative,
    in the past): those get the normal backoff, never an immediate retry."""
    if not value:
        return None
    value = value.strip()
    try:
        # delay-seconds is digits (a fraction tolerated); float() alone also reads "1e2", "+3",
        # "1_000" and digits of other scripts.
        if not _DELAY_SECONDS.fullmatch(value):
            raise ValueError(value)
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    # Under a second is no wait: the header counts whole seconds, so "0.001" means 0.
    if not MIN_RETRY_AFTER <= seconds < float("inf"):  # also NaN
        return None
    return seconds


def backoff_delay(retry_number: int) -> float:
    """Exponential backoff from 0.5 s, capped at 60 s, with "equal jitter": between half and all
    of the step, so that many workers throttled together do not retry in lock step."""
    step = min(MAX_BACKOFF, INITIAL_BACKOFF * 2.0 ** (retry_number - 1))
    return step / 2 + step / 2 * random.random()


def retry_delay(error: BaseException, retry_number: int) -> float:
    """The wait before retry number ``retry_number`` (1 for the first retry): the server's
    ``Retry-After`` if it sent one (429, 503), else the backoff. May exceed
    :data:`MAX_RETRY_AFTER`; see :func:`waits_too_long`."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(error, MoveworksAPIError) and retry_after is not None:
        return float(retry_after)
    return backoff_delay(retry_number)


def waits_too_long(error: BaseException) -> bool:
    """The server asked for a wait longer than the client sleeps: raise instead of retrying."""
    retry_after = getattr(error, "retry_after", None)
    return retry_after is not None and retry_after > MAX_RETRY_AFTER


def with_retries(
    attempt: Callable[[], T],
    *,
    max_retries: int,
    sleep: Callable[[float], object],
    on_retry: Callable[[MoveworksError, int, float], None],
) -> T:
    """``attempt()`` until it succeeds, or raises an error not worth another try (not retryable,
    ``max_retries`` spent, or a server wait longer than :data:`MAX_RETRY_AFTER`). Before each
    retry ``on_retry(error, retry_number, delay)`` is told, then ``sleep(delay)``."""
    retries = 0
    while True:
        result, error = _attempt(attempt)
        if error is None:
            return cast(T, result)
        if not error.retryable or retries >= max_retries or waits_too_long(error):
            raise error
        retries += 1
        delay = retry_delay(error, retries)
        on_retry(error, retries, delay)
        sleep(delay)


def _attempt(attempt: Callable[[], T]) -> tuple[T | None, MoveworksError | None]:
    # The error is returned, not raised in the handler: a later raise would carry it as __context__.
    try:
        return attempt(), None
    except MoveworksError as error:
        failure = error
    return None, failure
