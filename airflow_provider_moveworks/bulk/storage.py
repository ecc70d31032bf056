"""Open a local path or any URI that Airflow's object storage resolves (``file://``, ``s3://``...)
as a stream, so that neither the input nor the report is ever held whole in memory.

A location is a string (a path or a URI), any ``os.PathLike`` (``pathlib.Path``...) or Airflow's
``ObjectStoragePath``; the last is opened through itself, so that its connection and storage
options are kept.

What goes wrong is told apart: a location that does not exist, may not be read or cannot be
understood is :class:`MoveworksValidationError` (another try would fail the same way); a
transient fault of the storage (a connection reset, a timeout, an I/O error, a 5xx or a throttle
from the object store) is :class:`MoveworksStorageError`, which the task's retries act on.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeGuard
from urllib.parse import unquote, urlsplit

from airflow_provider_moveworks.exceptions import (
    MoveworksError,
    MoveworksStorageError,
    MoveworksValidationError,
)

# A path or URI string, an os.PathLike, or an ObjectStoragePath (whose class loads lazily, and on
# Airflow 2.11 is itself a pathlib.Path).
Location = Any

UTF8_BOM = b"\xef\xbb\xbf"

TRANSIENT_HINT = "(a transient storage fault: another try may succeed)"

# OSErrors that another try would meet again: the path is wrong, or may not be used.
_PERMANENT_OS_ERRORS = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    FileExistsError,
)
_PERMANENT_ERRNOS = frozenset(
    {
        errno.ENOENT,
        errno.EACCES,
        errno.EPERM,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
        errno.ELOOP,
        errno.EROFS,
        errno.EINVAL,
        errno.ENXIO,
        errno.ENODEV,
    }
)
# The libraries object storage runs on. Their errors are recognised by class name and module, so
# that none of them is imported here (a DAG parse must not pay for them, and most are optional).
_STORAGE_LIBRARIES = frozenset(
    {
        "fsspec",
        "aiohttp",
        "botocore",
        "aiobotocore",
        "boto3",
        "s3fs",
        "gcsfs",
        "adlfs",
        "azure",
        "google",
        "urllib3",
        "requests",
        "httpx",
        "http",
        "urllib",
        "ocifs",
        "webhdfs",
        "smbprotocol",
        "paramiko",
    }
)
# A class of one of those libraries whose name says the fault is the network's or the server's...
_TRANSIENT_NAME = re.compile(
    r"timeout|timed_?out|connect|disconnect|reset|broken_?pipe|unavailable|throttl|slow_?down|"
    r"temporar|transient|incomplete_?read|protocol_?error|payload|chunked_?encoding|"
    r"response_?streaming|service_?request|service_?response|server_?error|internal_?error|retry",
    re.IGNORECASE,
)
# ...unless its own name says the request itself is wrong (a certificate, a credential, a bad
# argument): another try would meet it again.
_PERMANENT_NAME = re.compile(
    r"certificate|cert_?verification|credential|auth|permission|access_?denied|forbidden|"
    r"not_?found|no_?such|invalid|validation|param|unsupported",
    re.IGNORECASE,
)
# Error codes of S3 and its look-alikes that ask for another try.
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "ServerBusy",
        "OperationTimedOut",
    }
)


def is_uri(location: Location) -> bool:
    """True for ``scheme://...`` (a string, or an object-storage path that is not local)."""
    if isinstance(location, str):
        return "://" in location
    if is_object_storage_path(location):
        return "://" in str(location)
    return False


def is_object_storage_path(location: Location) -> bool:
    """True for Airflow's ``ObjectStoragePath`` (or another universal-pathlib path), told by its
    class, so that object storage is not imported to ask."""
    return any(
        cls.__name__ == "ObjectStoragePath" or cls.__module__.partition(".")[0] == "upath"
        for cls in type(location).__mro__
    )


def location_name(location: Location, *, field: str) -> str:
    """The path or URI of ``location``: a string as given, an ``os.PathLike``'s path, an
    ``ObjectStoragePath``'s URI (with its connection, ``s3://conn_id@bucket/key``).

    Anything else raises :class:`MoveworksValidationError` naming ``field``.
    """
    if isinstance(location, str):
        return location
    if is_object_storage_path(location):
        return str(location)
    if isinstance(location, os.PathLike):
        path = os.fspath(location)
        if isinstance(path, str):
            return path
    raise MoveworksValidationError(
        field,
        "must be a path or URI: a string, an os.PathLike or an ObjectStoragePath, "
        f"got {type(location).__name__}",
    )


def same_location(first: Location, second: Location) -> bool:
    """True when ``first`` and ``second`` name the same file, however they are spelled or given:
    a relative path, ``./``, a symbolic or hard link, ``file://`` or a path object for a local
    path; for other URIs, the same scheme, bucket and normalised key (whichever connection
    reaches it)."""
    try:
        first_name = location_name(first, field="location")
        second_name = location_name(second, field="location")
    except MoveworksValidationError:  # not a location at all: opening it says so, naming its field
        return False
    first_local, second_local = local_path(first_name), local_path(second_name)
    if first_local is not None and second_local is not None:
        try:
            return os.path.samefile(first_local, second_local)
        except (OSError, ValueError):  # one of them does not exist (yet): compare where they lead
            return os.path.realpath(first_local) == os.path.realpath(second_local)
    if first_local is not None or second_local is not None:
        return False
    return _normalised_uri(first_name) == _normalised_uri(second_name)


def local_path(location: Location) -> str | None:
    """The local path of ``location`` (a plain path, a path object, a ``file://`` URI), else
    ``None``."""
    try:
        name = location_name(location, field="location")
    except MoveworksValidationError:
        return None
    if not is_uri(name):
        return name
    parts = urlsplit(name)
    if parts.scheme.lower() in ("file", "local") and parts.netloc in ("", "localhost"):
        return unquote(parts.path)
    return None


def _normalised_uri(location: str) -> tuple[str, str, str, str]:
    parts = urlsplit(location)
    # Airflow's object storage allows scheme://conn_id@bucket/key: the connection is no part of
    # where the object is.
    bucket = parts.netloc.rpartition("@")[2]
    return (parts.scheme.lower(), bucket, posixpath.normpath("/" + unquote(parts.path)), parts.query)


def open_binary(location: Location, *, field: str) -> IO[bytes]:
    """Open ``location`` for reading as bytes: the reader decodes line by line, so that a byte
    that is not UTF-8 is reported with its own line. See :func:`open_text` for the errors."""
    stream: IO[bytes] = _open(location, "rb", field=field)
    return stream


def open_text(location: Location, mode: str, *, field: str) -> IO[str]:
    """Open ``location`` for reading (``"r"``) or writing (``"w"``) as UTF-8 text.

    Reading drops a byte-order mark; ``newline=""`` lets the csv module see quoted line breaks.
    A location that cannot be opened raises :class:`MoveworksValidationError` naming ``field``; a
    transient fault of the storage raises :class:`MoveworksStorageError` naming it.
    """
    encoding = "utf-8-sig" if mode == "r" else "utf-8"
    stream: IO[str] = _open(location, mode, field=field, encoding=encoding, newline="")
    return stream


def _open(location: Location, mode: str, *, field: str, **options: Any) -> Any:
    name = location_name(location, field=field)
    try:
        if is_object_storage_path(location):
            return location.open(mode, **options)  # its own connection and storage options
        if is_uri(name):
            # Loaded here: object storage pulls in fsspec, which a DAG parse must not pay for.
            from airflow_provider_moveworks import version_compat

            return version_compat.ObjectStoragePath(name).open(mode, **options)
        return open(name, mode, **options)  # the caller closes it
    except Exception as error:
        failure = storage_failure(error, field=field, what=f"cannot open {name!r}")
        if failure is None:
            raise
        raise failure from None


@contextmanager
def reading(location: Location, *, field: str) -> Iterator[None]:
    """Around reading an opened ``location``: a fault of the storage met mid-stream raises as
    :func:`storage_failure` says (the provider's own errors pass through)."""
    try:
        yield
    except MoveworksError:
        raise
    except Exception as error:
        name = location_name(location, field=field)
        failure = storage_failure(error, field=field, what=f"cannot read {name!r}")
        if failure is None:
            raise
        raise failure from None


def storage_failure(error: BaseException, *, field: str, what: str) -> MoveworksError | None:
    """The error to raise for ``error``, met on ``what`` (``cannot open '...'``):

    * :class:`MoveworksStorageError` (retryable) for a transient fault (:func:`is_transient`);
    * :class:`MoveworksValidationError` for any other ``OSError``, ``ValueError`` or
      ``ImportError``, or error of a storage library: the location cannot be used as given;
    * ``None`` for anything else, which the caller raises unchanged.
    """
    if is_transient(error):
        return MoveworksStorageError(field, f"{what}: {_described(error)} {TRANSIENT_HINT}")
    if isinstance(error, (OSError, ValueError, ImportError)) or _from_storage_library(error):
        return MoveworksValidationError(field, f"{what}: {error}")
    return None


def is_transient(error: BaseException) -> bool:
    """True when ``error``, or an error it was raised from, is a fault that another try may not
    meet: an ``OSError`` other than "not found", "permission denied" and their like (a connection
    reset or refused, a timeout, an I/O error...), a storage library's connection or timeout
    error, or an answer of the store with a 5xx, 429 or 408 status or a throttling code."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        verdict = _transient(current)
        if verdict is not None:
            return verdict
        current = current.__cause__ or current.__context__
    return False


def _transient(error: BaseException) -> bool | None:
    """True or False when ``error`` alone tells; ``None`` when its cause should be asked."""
    if isinstance(error, ValueError):  # a bad argument, such as an unusable URI
        return False
    if _PERMANENT_NAME.search(type(error).__name__):
        return False
    status = _http_status(error)
    if status is not None:
        return status >= 500 or status in (408, 429)
    code = _error_code(error)
    if code is not None and code in _TRANSIENT_CODES:
        return True
    if isinstance(error, OSError):  # a connection reset or refused, a timeout, an I/O error...
        return not (isinstance(error, _PERMANENT_OS_ERRORS) or error.errno in _PERMANENT_ERRNOS)
    names = [cls.__name__ for cls in type(error).__mro__]
    if _from_storage_library(error) and any(_TRANSIENT_NAME.search(name) for name in names):
        return True
    return None


def _http_status(error: BaseException) -> int | None:
    """The HTTP status of a store's answer carried by ``error`` (aiohttp ``status``, azure
    ``status_code``, gcsfs ``code``, botocore ``response``), if any."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        metadata = response.get("ResponseMetadata")
        if isinstance(metadata, dict):
            candidate = metadata.get("HTTPStatusCode")
            if _is_status(candidate):
                return int(candidate)
    if isinstance(error, OSError) and not _from_storage_library(error):
        return None  # an OSError's own attributes are errno and strerror, never a status
    for attribute in ("status", "status_code", "code"):
        candidate = getattr(error, attribute, None)
        if _is_status(candidate):
            return int(candidate)
    candidate = getattr(response, "status_code", None) if response is not None else None
    return int(candidate) if _is_status(candidate) else None


def _is_status(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error")
        if isinstance(details, dict) and isinstance(details.get("Code"), str):
            return str(details["Code"])
    return None


def _from_storage_library(error: BaseException) -> bool:
    return any(cls.__module__.partition(".")[0] in _STORAGE_LIBRARIES for cls in type(error).__mro__)


def _described(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
