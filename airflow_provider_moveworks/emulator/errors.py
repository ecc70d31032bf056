"""The one exception the emulator raises internally to turn into an API error response."""

from __future__ import annotations


class ApiError(Exception):
    """An API error answered as ``{"error": {"code": ..., "message": ...}}``.

    :param status: HTTP status code of the response.
    :param code: stable error code, e.g. ``INVALID_INPUT``.
    :param message: human-readable explanation (never contains a secret).
    :param headers: extra response headers, e.g. ``Retry-After`` or ``Allow``.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []

    def body(self) -> dict[str, dict[str, str]]:
        """Return the JSON body the API answers for this error."""
        return {"error": {"code": self.code, "message": self.message}}
