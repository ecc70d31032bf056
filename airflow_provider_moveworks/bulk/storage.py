"""Open a local path or any URI that Airflow's object storage resolves (``file://``, ``s3://``...)
as a text stream, so that neither the input nor the report is ever held whole in memory."""

from __future__ import annotations

import os
import posixpath
from typing import IO
from urllib.parse import unquote, urlsplit

from airflow_provider_moveworks.exceptions import MoveworksValidationError


def is_uri(location: str) -> bool:
    """True for ``scheme://...``; anything else is a local path."""
    return "://" in location


UTF8_BOM = b"\xef\xbb\xbf"


def same_location(first: str, second: str) -> bool:
    """True when ``first`` and ``second`` name the same file, however they are spelled: a
    relative path, ``./``, a symbolic or hard link, or ``file://`` for a local path; for other
    URIs, the same scheme, bucket and normalised key."""
    first_local, second_local = _local_path(first), _local_path(second)
    if first_local is not None and second_local is not None:
        try:
            return os.path.samefile(first_local, second_local)
        except OSError:  # one of them does not exist (yet): compare where they lead
            return os.path.realpath(first_local) == os.path.realpath(second_local)
    if first_local is not None or second_local is not None:
        return False
    return _normalised_uri(first) == _normalised_uri(second)


def _local_path(location: str) -> str | None:
    """The local path of ``location`` (a plain path or a ``file://`` URI), else ``None``."""
    if not is_uri(location):
        return location
    parts = urlsplit(location)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        return unquote(parts.path)
    return None


def _normalised_uri(location: str) -> tuple[str, str, str, str]:
    parts = urlsplit(location)
    return (parts.scheme.lower(), parts.netloc, posixpath.normpath("/" + unquote(parts.path)), parts.query)


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
