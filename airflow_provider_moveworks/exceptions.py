"""The typed errors of the Moveworks provider.

Every error is a :class:`MoveworksError` (an ``AirflowException``). Errors that a retry cannot
fix are also ``AirflowFailException``: Airflow fails the task at once instead of spending the
task's ``retries`` on it. Transient errors (429, 5xx, network, a storage fault) are plain ``AirflowException``
so that the task's ``retries`` act once the client's own retries are spent.

``retryable`` tells the client's retry policy which errors are worth another attempt.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_moveworks.version_compat import AirflowException, AirflowFailException


class MoveworksError(AirflowException):
    """Base class of every error raised by this provider."""

    retryable: ClassVar[bool] = False


class MoveworksValidationError(MoveworksError, AirflowFailException, ValueError):
    """An input or connection field is unusable; raised before any request is sent.

    :param field: the name of the offending field, e.g. ``conversation_id`` or
        ``connection extra 'timeout'``.
    :param reason: what is wrong with its value.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"Invalid {field}: {reason}")

    def __reduce__(self) -> tuple[type[MoveworksValidationError], tuple[str, str]]:
        return type(self), (self.field, self.reason)


class MoveworksStorageError(MoveworksError):
    """A transient fault of the storage that holds ``updates_file`` or ``report_file``, met while
    opening or reading it: a connection reset or refused, a timeout, an I/O error, a 5xx or a
    throttle from the object store. Another try may well succeed, so it is not an
    ``AirflowFailException``: the task's ``retries`` act (and the default ``retry_policy`` leaves
    it to them). A path that does not exist or may not be read is a
    :class:`MoveworksValidationError` instead.

    :param field: ``updates_file`` or ``report_file``.
    :param reason: what failed, e.g. ``cannot open 's3://...': ConnectionResetError: ...``.
    """

    retryable = True

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"Storage error on {field}: {reason}")

    def __reduce__(self) -> tuple[type[MoveworksStorageError], tuple[str, str]]:
        return type(self), (self.field, self.reason)


class MoveworksCancelledError(MoveworksError):
    """The client's ``stop`` event was set (the task is stopping): the request was not sent."""


class MoveworksAPIError(MoveworksError):
    """The Moveworks API (or something in front of it) answered with an error.

    :param status: the HTTP status code.
    :param code: the Moveworks error code (``NOT_FOUND``...), if the body carried one.
    :param api_message: the message from the error body, if any.
    :param request_id: the ``x-moveworks-root-uuid`` header, which Moveworks support can trace.
    :param conversation_id: the conversation the request was about, if any.
    :param retry_after: the server's ``Retry-After`` in seconds (429 and 503), uncapped, if it
        sent a usable one.
    """

    hint: ClassVar[str] = ""

    def __init__(
        self,
        summary: str,
        *,
        status: int | None = None,
        code: str | None = None,
        api_message: str | None = None,
        request_id: str | None = None,
        conversation_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.summary = summary
        self.retry_after = retry_after
        self.status = status
        self.code = code
        self.api_message = api_message
        self.request_id = request_id
        self.conversation_id = conversation_id
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = [self.summary]
        if self.api_message:
            parts.append(f": {self.api_message}")
        if self.request_id:
            parts.append(f" (x-moveworks-root-uuid {self.request_id})")
        if self.hint:
            parts.append(f". {self.hint}")
        return "".join(parts)


class MoveworksBadRequestError(MoveworksAPIError, AirflowFailException):
    """400: the API rejected the request's parameters."""

    hint = "Fix the input; repeating the same request cannot succeed"


class MoveworksAuthenticationError(MoveworksAPIError, AirflowFailException):
    """401 even after a fresh token, or the OAuth token endpoint refused the credentials."""

    hint = "Check the API key or the OAuth client id and secret of the Moveworks connection"


class MoveworksPermissionError(MoveworksAPIError, AirflowFailException):
    """403: the assistant name does not match, or the credential may not use this API."""

    hint = "Check the assistant_name (it must match the configured assistant exactly)"


class MoveworksNotFoundError(MoveworksAPIError, AirflowFailException):
    """404: no such conversation (Moveworks also answers 404 before the API is enabled)."""

    hint = "Check the conversation id, and that the Conversations API is enabled for the organisation"


class MoveworksClientError(MoveworksAPIError, AirflowFailException):
    """Any other 4xx answer, or an answer that is not the documented JSON."""


class MoveworksRateLimitError(MoveworksAPIError):
    """429: rate limited. ``retry_after`` holds the server's wait in seconds, if it sent one.

    A wait longer than the hook will sleep (120 s) is not slept on: the error is raised at once,
    with ``retry_after`` the server's full wait, for the task's retries to act on.
    """

    retryable = True
    hint = "Lower the request rate, or ask Moveworks support to raise the limit"


class MoveworksServerError(MoveworksAPIError):
    """5xx: a fault on the server side, worth retrying."""

    retryable = True


class MoveworksConnectionError(MoveworksError):
    """The request did not get an answer: connection refused or reset, DNS, TLS, proxy."""

    retryable = True


class MoveworksTimeoutError(MoveworksConnectionError):
    """No answer within the connection's ``timeout``."""


class MoveworksTokenError(MoveworksConnectionError):
    """The OAuth token endpoint kept failing (5xx, 429, timeouts) through its own retries, or
    answered with no usable token: a redirect (a sign-in page), a page that is not JSON (a proxy),
    JSON without a bearer ``access_token`` or with an unusable ``expires_in``.

    The task's ``retries`` act, but the hook does not retry: the token fetch has already spent
    its retry budget (an unusable answer is not asked again at once), and every request of the
    hook shares that one failure; a bulk run stops. 4xx from the token endpoint are
    :class:`MoveworksAuthenticationError` instead.

    :param retry_after: the token endpoint's ``Retry-After`` in seconds, if its last answer
        asked for a wait (longer than the hook sleeps, or the retries ran out).
    """

    retryable = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return _token_error, (str(self), self.retry_after)


def _token_error(message: str, retry_after: float | None) -> MoveworksTokenError:
    return MoveworksTokenError(message, retry_after=retry_after)


class MoveworksTLSError(MoveworksConnectionError, AirflowFailException):
    """The TLS handshake failed, usually certificate verification: retrying cannot fix that."""

    retryable = False


class MoveworksBulkInvalidRowsError(MoveworksError, AirflowFailException):
    """A bulk run's input is unusable (``on_invalid="fail"`` and rows are invalid): raised before
    any request is sent. Fixing the input is the only cure, so no task retry is spent on it."""


class MoveworksBulkUpdateError(MoveworksError):
    """Rows of a bulk run failed (or 404 with ``if_not_found="fail"``) after every row was tried.

    :param summary: the run's summary, as the operator would have returned it.
    """

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary

    def __reduce__(self) -> tuple[type[MoveworksBulkUpdateError], tuple[str, dict[str, Any]]]:
        return type(self), (str(self), self.summary)


class MoveworksBulkStoppedError(MoveworksError, AirflowFailException):
    """A bulk run stopped early because Moveworks refused the credentials (401) or the assistant
    name (403): every row would fail, and so would a retry."""


class MoveworksBulkInterruptedError(MoveworksError):
    """A bulk run stopped early for a reason a later try may not meet: the task was told to stop
    (``on_kill``), the server asked for a longer pause than the hook waits (``retry_after`` holds
    its wait in seconds), or the token endpoint failed. A retry resumes where this try stopped.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
