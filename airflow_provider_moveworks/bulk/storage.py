"""Open a local path or any URI that Airflow's object storage resolves (``file://``, ``s3://``...)
as a text stream, so that neither the input nor the report is ever held whole in memory."""

from __future__ import annotations

from typing import IO

from airflow_provider_moveworks.exceptions import MoveworksValidationError


def is_uri(location: str) -> bool:
    """True for ``scheme://...``; anything else is a local path."""
    return "://" in location


UTF8_BOM = b"\xef\xbb\xbf"


def open_binary(location: str, *, field: str) -> IO[bytes]:
    """Open ``location`` for reading as bytes: the reader decodes line by line, so that a byte
    that is not UTF-8 is reported with its own line."""
    try:
        if is_uri(location):
            from airflow_provider_moveworks import version_compat

            stream: IO[bytes] = version_compat.ObjectStoragePath(location).open("rb")
            return stream
        return open(location, "rb")  # the caller closes it
    except (OSError, ValueError, ImportError) as error:
        raise MoveworksValidationError(field, f"cannot open {location!r}: {error}") from None


def open_text(location: str, mode: str, *, field: str) -> IO[str]:
    """Open ``location`` for reading (``"r"``) or writing (``"w"``) as UTF-8 text.

    Reading drops a byte-order mark; ``newline=""`` lets the csv module see quoted line breaks.
    A location that cannot be opened raises :class:`MoveworksValidationError` naming ``field``.
    """
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    try:
        if is_uri(location):
            # Loaded here: object storage pulls in fsspec, which a DAG parse must not pay for.
            from airflow_provider_moveworks import version_compat

            path = version_compat.ObjectStoragePath(location)
            stream: IO[str] = path.open(mode, encoding=encoding, newline="")
            return stream
        return open(location, mode, encoding=encoding, newline="")  # the caller closes it
    except (OSError, ValueError, ImportError) as error:
        raise MoveworksValidationError(field, f"cannot open {location!r}: {error}") from None
