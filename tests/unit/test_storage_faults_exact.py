"""bulk/storage.py exactly: which faults of a store are transient (its answer's status or code,
an OSError's kind, a storage library's class name, the chain of causes), what each becomes, and
what counts as a URI or an object-storage path."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from airflow_provider_moveworks.bulk.storage import (
    TRANSIENT_HINT,
    is_object_storage_path,
    is_transient,
    is_uri,
    same_location,
    storage_failure,
)
from airflow_provider_moveworks.exceptions import MoveworksStorageError, MoveworksValidationError


def library_error(name: str, module: str = "botocore.exceptions", **attributes: Any) -> Exception:
    """An exception of a class named ``name`` in ``module`` (a storage library's, or not)."""
    cls = type(name, (Exception,), {"__module__": module})
    error = cls("the store said no")
    for key, value in attributes.items():
        setattr(error, key, value)
    return error


def botocore_answer(status: Any = None, code: Any = None) -> Exception:
    response: dict[str, Any] = {}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    if code is not None:
        response["Error"] = {"Code": code}
    return library_error("ClientError", response=response)


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (500, True),
        (503, True),
        (599, True),
        (499, False),
        (429, True),
        (408, True),
        (409, False),
        (430, False),
    ],
)
def test_a_botocore_answers_status_says_whether_it_is_transient(status: int, transient: bool) -> None:
    assert is_transient(botocore_answer(status=status)) is transient


def test_a_status_outside_100_to_599_is_no_status() -> None:
    # Not a status: the error is then told by its code, or its kind.
    assert is_transient(botocore_answer(status=600, code="NoSuchKey")) is False
    assert is_transient(botocore_answer(status=99, code="SlowDown")) is True
    assert is_transient(botocore_answer(status=100, code="SlowDown")) is False  # 100 is a status
    assert is_transient(botocore_answer(status=True, code="NoSuchKey")) is False


@pytest.mark.parametrize("attribute", ["status", "status_code", "code"])
def test_a_status_attribute_of_a_storage_library_error_is_read(attribute: str) -> None:
    assert is_transient(library_error("ClientResponseError", "aiohttp.client", **{attribute: 503})) is True
    assert is_transient(library_error("ClientResponseError", "aiohttp.client", **{attribute: 404})) is False


def test_an_oserror_of_a_storage_library_is_told_by_its_status() -> None:
    http_error = type("HTTPError", (OSError,), {"__module__": "urllib.error"})
    error = http_error("not found")
    error.code = 404
    assert is_transient(error) is False
    error.code = 503
    assert is_transient(error) is True


def test_a_response_objects_status_code_is_read() -> None:
    class Response:
        status_code = 502

    assert is_transient(library_error("HttpError", "gcsfs.retry", response=Response())) is True
    Response.status_code = 400
    assert is_transient(library_error("HttpError", "gcsfs.retry", response=Response())) is False


def test_a_throttling_code_is_transient_and_another_code_is_not_by_itself() -> None:
    assert is_transient(botocore_answer(code="SlowDown")) is True
    assert is_transient(botocore_answer(code="ServiceUnavailable")) is True
    assert (
        is_transient(
            library_error("Whatever", "botocore.exceptions", response={"Error": {"Code": "NoSuchKey"}})
        )
        is False
    )
    assert (
        is_transient(library_error("Whatever", "botocore.exceptions", response={"Error": {"Code": 503}}))
        is False
    )
    assert (
        is_transient(library_error("Whatever", "botocore.exceptions", response={"Error": "SlowDown"}))
        is False
    )


def test_an_oserrors_kind_says_whether_it_is_transient() -> None:
    assert is_transient(ConnectionResetError(errno.ECONNRESET, "reset")) is True
    assert is_transient(OSError(errno.EIO, "I/O error")) is True
    assert is_transient(TimeoutError("timed out")) is True
    assert is_transient(FileNotFoundError(errno.ENOENT, "missing")) is False
    assert is_transient(OSError(errno.EROFS, "read-only")) is False  # by errno, not class
    assert is_transient(IsADirectoryError("no errno")) is False  # by class, not errno
    # An OSError's errno is never read as an HTTP status.
    assert is_transient(OSError(503, "errno 503")) is True
    assert is_transient(OSError(404, "errno 404")) is True


def test_a_storage_librarys_class_name_says_transient_unless_it_says_permanent() -> None:
    assert is_transient(library_error("EndpointConnectionError")) is True
    assert is_transient(library_error("ReadTimeoutError", "urllib3.exceptions")) is True
    assert is_transient(library_error("ConnectTimeoutAuthError")) is False  # permanent wins
    assert is_transient(library_error("SomethingElse")) is False
    # The same names outside a storage library tell nothing.
    assert is_transient(library_error("EndpointConnectionError", "mycompany.errors")) is False
    assert is_transient(ValueError("timeout")) is False


def test_the_chain_of_causes_is_asked_in_turn_at_most_eight_deep() -> None:
    def chained(depth: int) -> BaseException:
        error: BaseException = ConnectionResetError(errno.ECONNRESET, "reset")
        for _ in range(depth):
            outer = RuntimeError("wrapped")
            outer.__cause__ = error
            error = outer
        return error

    assert is_transient(chained(7)) is True  # the reset is the 8th error asked
    assert is_transient(chained(8)) is False
    context = RuntimeError("while handling")
    context.__context__ = ConnectionResetError(errno.ECONNRESET, "reset")
    assert is_transient(context) is True
    loop = RuntimeError("loop")
    loop.__cause__ = loop
    assert is_transient(loop) is False


def test_what_each_fault_becomes() -> None:
    failure = storage_failure(
        botocore_answer(status=503), field="updates_file", what="cannot open 's3://b/k'"
    )
    assert isinstance(failure, MoveworksStorageError)
    assert str(failure).endswith(f"cannot open 's3://b/k': ClientError: the store said no {TRANSIENT_HINT}")
    failure = storage_failure(
        library_error("NoSuchBucket"), field="updates_file", what="cannot open 's3://b/k'"
    )
    assert isinstance(failure, MoveworksValidationError)
    assert failure.field == "updates_file"
    failure = storage_failure(FileNotFoundError(2, "gone"), field="report_file", what="cannot open 'r'")
    assert isinstance(failure, MoveworksValidationError)
    assert storage_failure(RuntimeError("a bug"), field="report_file", what="cannot open 'r'") is None


def test_uris_and_object_storage_paths() -> None:
    assert is_uri("s3://bucket/key")
    assert not is_uri("/data/updates.csv")
    assert not is_uri(object())

    class ObjectStoragePath:
        def __init__(self, text: str) -> None:
            self.text = text

        def __str__(self) -> str:
            return self.text

    upath = type("UPath", (), {"__module__": "upath.core", "__str__": lambda self: "gs://b/k"})
    assert is_object_storage_path(ObjectStoragePath("s3://b/k"))
    assert is_object_storage_path(upath())
    assert not is_object_storage_path("s3://b/k")
    assert is_uri(ObjectStoragePath("s3://b/k"))
    assert is_uri(upath())
    assert not is_uri(ObjectStoragePath("/local/file"))


def test_a_local_path_and_a_uri_are_never_the_same_location(tmp_path: Any) -> None:
    assert not same_location(str(tmp_path / "a.csv"), "s3://bucket/a.csv")
    assert not same_location("s3://bucket/a.csv", str(tmp_path / "a.csv"))
    assert same_location("s3://conn@bucket/x/../a.csv", "s3://bucket/a.csv")


def test_a_value_that_is_no_location_is_not_the_same_location() -> None:
    assert same_location(123, "a.csv") is False


def test_reading_text_drops_a_byte_order_mark_and_writing_adds_none(tmp_path: Any) -> None:
    from airflow_provider_moveworks.bulk.storage import open_text

    path = tmp_path / "u.csv"
    path.write_bytes(b"\xef\xbb\xbfa,b\n")
    with open_text(str(path), "r", field="updates_file") as stream:
        assert stream.read() == "a,b\n"
    with open_text(str(tmp_path / "w.csv"), "w", field="report_file") as stream:
        stream.write("x")
    assert (tmp_path / "w.csv").read_bytes() == b"x"


def test_opening_raises_a_storage_fault_without_its_chain_and_anything_else_unchanged(tmp_path: Any) -> None:
    from airflow_provider_moveworks.bulk.storage import open_text

    with pytest.raises(MoveworksValidationError) as raised:
        open_text(str(tmp_path / "missing.csv"), "r", field="updates_file")
    assert raised.value.__suppress_context__
    assert raised.value.field == "updates_file"

    class ObjectStoragePath:
        def __str__(self) -> str:
            return "s3://bucket/key"

        def open(self, mode: str, **options: Any) -> Any:
            raise RuntimeError("a bug in the store's code")

    with pytest.raises(RuntimeError, match="a bug in the store's code"):
        open_text(ObjectStoragePath(), "r", field="updates_file")
