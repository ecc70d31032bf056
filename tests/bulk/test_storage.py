"""Where the bulk operator's files live.

* A transient fault of the storage (a connection reset, a timeout, a 5xx from the store) while
  opening or reading ``updates_file`` or ``report_file`` is a retryable
  :class:`MoveworksStorageError`; a path that does not exist or may not be read stays a
  :class:`MoveworksValidationError`.
* ``updates_file`` and ``report_file`` may be given as a ``pathlib.Path``, any ``os.PathLike`` or
  Airflow's ``ObjectStoragePath``, wherever a path is taken.

The object store here is an fsspec memory filesystem under the scheme ``flakymem://``, attached to
Airflow's object storage, that raises the errors a test asks for.
"""

from __future__ import annotations

import errno
import json
import pathlib
from collections.abc import Callable, Iterator
from typing import IO, Any

import pytest
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_moveworks.bulk import storage
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.exceptions import (
    MoveworksError,
    MoveworksStorageError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.version_compat import (
    AIRFLOW_V_3_0_PLUS,
    AirflowFailException,
    ObjectStoragePath,
    load_retry_policy,
)

from .conftest import state

pytestmark = pytest.mark.filterwarnings(
    "ignore:UPath 'flakymem' filesystem not explicitly implemented:UserWarning"
)

SCHEME = "flakymem"
HINT = "(a transient storage fault: another try may succeed)"


class _BreakingReader:
    """A binary file whose ``readline`` raises ``error`` after ``lines`` lines."""

    def __init__(self, inner: IO[bytes], lines: int, error: BaseException) -> None:
        self._inner, self._lines, self._error = inner, lines, error

    def readline(self, size: int = -1) -> bytes:
        if self._lines <= 0:
            raise self._error
        self._lines -= 1
        return self._inner.readline(size)

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> _BreakingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FlakyFS(MemoryFileSystem):
    """In-memory object storage whose next opens fail as asked (``fail``), by mode."""

    protocol = SCHEME
    store: dict[str, Any] = {}  # fsspec's own layout: the files, per class
    pseudo_dirs = [""]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures: list[tuple[str, BaseException, int | None]] = []
        self.opened: list[str] = []

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        # MemoryFileSystem strips only "memory://"; upath hands over "flakymem://..." on Airflow 3.
        if isinstance(path, str) and path.startswith(f"{SCHEME}://"):
            path = path[len(SCHEME) + 3 :]
        return super()._strip_protocol(path)

    def fail(self, mode: str, error: BaseException, *, after_lines: int | None = None, skip: int = 0) -> None:
        """The next open whose mode starts with ``mode`` (after ``skip`` such opens) raises
        ``error``, or, with ``after_lines``, opens and then raises it from ``readline`` after that
        many lines."""
        self.failures.append((mode, error, after_lines))
        self._skips = skip

    _skips = 0

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        self.opened.append(mode)
        for index, (prefix, error, after_lines) in enumerate(self.failures):
            if mode.startswith(prefix):
                if self._skips:
                    self._skips -= 1
                    break
                del self.failures[index]
                if after_lines is None:
                    raise error
                return _BreakingReader(super()._open(path, mode, **kwargs), after_lines, error)
        return super()._open(path, mode, **kwargs)


@pytest.fixture
def flaky() -> Iterator[FlakyFS]:
    import fsspec

    if AIRFLOW_V_3_0_PLUS:
        from airflow.sdk.io import store as stores
    else:
        from airflow.io import store as stores  # type: ignore[no-redef]

    fsspec.register_implementation(SCHEME, FlakyFS, clobber=True)
    fs = FlakyFS(skip_instance_cache=True)
    FlakyFS.store.clear()
    stores.attach(protocol=SCHEME, fs=fs)
    yield fs
    stores._STORE_CACHE.pop(SCHEME, None)
    FlakyFS.store.clear()


def put(fs: FlakyFS, name: str, text: str) -> str:
    """Write ``text`` to ``flakymem://bucket/<name>``; returns the URI."""
    with fs.open(f"/bucket/{name}", "wb") as handle:
        handle.write(text.encode())
    return f"{SCHEME}://bucket/{name}"


def jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _foreign(module: str, name: str, base: type[Exception] = Exception, **attrs: Any) -> type[Exception]:
    """An exception class as a storage library defines it (botocore is not installed here)."""
    return type(name, (base,), {"__module__": module, **attrs})


_BotoCoreError = _foreign("botocore.exceptions", "BotoCoreError")
_BotoConnectionError = _foreign("botocore.exceptions", "ConnectionError", _BotoCoreError)
_EndpointConnectionError = _foreign("botocore.exceptions", "EndpointConnectionError", _BotoConnectionError)
_HTTPClientError = _foreign("botocore.exceptions", "HTTPClientError", _BotoCoreError)
_ReadTimeoutError = _foreign("botocore.exceptions", "ReadTimeoutError", _HTTPClientError)
_NoCredentialsError = _foreign("botocore.exceptions", "NoCredentialsError", _BotoCoreError)
_ClientError = _foreign("botocore.exceptions", "ClientError")
_HttpError = _foreign("gcsfs.retry", "HttpError")


def _client_error(code: str, status: int) -> Exception:
    error = _ClientError(f"An error occurred ({code}) when calling the GetObject operation")
    error.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}  # type: ignore[attr-defined]
    return error


def _gcs_error(code: int) -> Exception:
    error = _HttpError(f"{code} from the store")
    error.code = code  # type: ignore[attr-defined]
    return error


def _aiohttp_disconnected() -> Exception:
    import aiohttp

    return aiohttp.ServerDisconnectedError()


def _fsspec_timeout() -> Exception:
    from fsspec.exceptions import FSTimeoutError

    return FSTimeoutError()


TRANSIENT: list[Any] = [
    pytest.param(
        lambda: ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "ConnectionResetError: [Errno 104] Connection reset by peer",
        id="connection-reset",
    ),
    pytest.param(
        lambda: TimeoutError("The read operation timed out"),
        "TimeoutError: The read operation timed out",
        id="timeout",
    ),
    pytest.param(
        lambda: OSError(errno.EIO, "Input/output error"), "OSError: [Errno 5] Input/output error", id="eio"
    ),
    pytest.param(
        _aiohttp_disconnected, "ServerDisconnectedError: Server disconnected", id="aiohttp-disconnected"
    ),
    pytest.param(_fsspec_timeout, "FSTimeoutError", id="fsspec-timeout"),
    pytest.param(
        lambda: _EndpointConnectionError('Could not connect to the endpoint URL: "https://s3/bucket"'),
        'EndpointConnectionError: Could not connect to the endpoint URL: "https://s3/bucket"',
        id="botocore-endpoint",
    ),
    pytest.param(
        lambda: _ReadTimeoutError("Read timeout"),
        "ReadTimeoutError: Read timeout",
        id="botocore-read-timeout",
    ),
    pytest.param(
        lambda: _client_error("SlowDown", 503),
        "ClientError: An error occurred (SlowDown) when calling the GetObject operation",
        id="s3-slow-down-503",
    ),
    pytest.param(lambda: _gcs_error(502), "HttpError: 502 from the store", id="gcs-502"),
]

PERMANENT: list[Any] = [
    pytest.param(lambda: FileNotFoundError(errno.ENOENT, "No such file or directory"), id="not-found"),
    pytest.param(lambda: PermissionError(errno.EACCES, "Permission denied"), id="permission-denied"),
    pytest.param(lambda: IsADirectoryError(errno.EISDIR, "Is a directory"), id="a-directory"),
    pytest.param(lambda: _NoCredentialsError("Unable to locate credentials"), id="no-credentials"),
    pytest.param(lambda: _client_error("AccessDenied", 403), id="s3-access-denied"),
    pytest.param(lambda: _gcs_error(404), id="gcs-404"),
]


def _assert_storage_error(error: BaseException, field: str, message: str) -> None:
    assert type(error) is MoveworksStorageError
    assert isinstance(error, MoveworksError)
    assert not isinstance(error, (AirflowFailException, MoveworksValidationError))
    assert error.retryable is True
    assert error.field == field
    assert str(error) == message


# -- defect 1: transient storage faults -------------------------------------------------------


@pytest.mark.parametrize(("make_error", "described"), TRANSIENT)
def test_a_transient_fault_opening_updates_file_is_a_retryable_storage_error(
    flaky: FlakyFS, make_error: Callable[[], Exception], described: str
) -> None:
    uri = put(flaky, "updates.jsonl", jsonl([{"conversation_id": "conv_A", "archived": True}]))
    flaky.fail("r", make_error())

    with pytest.raises(MoveworksStorageError) as raised:
        list(RowSource(updates_file=uri).rows())

    _assert_storage_error(
        raised.value,
        "updates_file",
        f"Storage error on updates_file: cannot open {uri!r}: {described} {HINT}",
    )
    # The next try succeeds.
    assert list(RowSource(updates_file=uri).rows()) == [(1, {"conversation_id": "conv_A", "archived": True})]


@pytest.mark.parametrize(("make_error", "described"), TRANSIENT[:4])
def test_a_transient_fault_opening_report_file_is_a_retryable_storage_error(
    flaky: FlakyFS, make_error: Callable[[], Exception], described: str
) -> None:
    uri = f"{SCHEME}://bucket/report.jsonl"
    flaky.fail("w", make_error())

    with pytest.raises(MoveworksStorageError) as raised:
        storage.open_text(uri, "w", field="report_file")

    _assert_storage_error(
        raised.value, "report_file", f"Storage error on report_file: cannot open {uri!r}: {described} {HINT}"
    )


def test_a_transient_fault_while_reading_updates_file_is_a_storage_error(flaky: FlakyFS) -> None:
    rows = [{"conversation_id": f"conv_{n}", "archived": True} for n in range(3)]
    uri = put(flaky, "updates.jsonl", jsonl(rows))
    flaky.fail("r", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), after_lines=2)

    with pytest.raises(MoveworksStorageError) as raised:
        list(RowSource(updates_file=uri).rows())

    _assert_storage_error(
        raised.value,
        "updates_file",
        f"Storage error on updates_file: cannot read {uri!r}: ConnectionResetError: [Errno 104] "
        f"Connection reset by peer {HINT}",
    )


@pytest.mark.integration
def test_a_fault_reading_updates_file_on_the_sending_pass_stops_the_try_and_the_retry_resumes(
    flaky: FlakyFS, make_operator, add_conversations, emulator_connection
) -> None:
    # The input is read twice: to validate every row, then to send them. A long stream from an
    # object store cut on the second pass must leave what was sent for the retry to skip.
    from tests.bulk.test_resume import MemoryStateStore, context

    emu = emulator_connection
    ids = add_conversations(40)
    uri = put(flaky, "updates.jsonl", jsonl([{"conversation_id": c, "title": "New"} for c in ids]))
    store = MemoryStateStore()
    flaky.fail(
        "r", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), after_lines=25, skip=1
    )

    with pytest.raises(MoveworksStorageError) as raised:
        make_operator(updates_file=uri, max_concurrency=2).execute(context(store))

    assert str(raised.value).startswith(
        f"Storage error on updates_file: cannot read {uri!r}: ConnectionResetError"
    )
    sent = emu.request_count(method="PATCH")
    assert 0 < sent <= 25
    summary = make_operator(updates_file=uri).execute(context(store))
    assert (summary["updated"], summary["resumed"]) == (40, sent)
    assert emu.request_count(method="PATCH") == 40  # nothing sent twice
    assert {emu.get(c)["title"] for c in ids} == {"New"}


@pytest.mark.parametrize("make_error", PERMANENT)
def test_a_permanent_fault_of_the_store_stays_a_validation_error(
    flaky: FlakyFS, make_error: Callable[[], Exception]
) -> None:
    uri = put(flaky, "updates.jsonl", jsonl([{"conversation_id": "conv_A", "archived": True}]))
    error = make_error()
    flaky.fail("r", error)

    with pytest.raises(MoveworksValidationError) as raised:
        list(RowSource(updates_file=uri).rows())

    assert isinstance(raised.value, AirflowFailException)
    assert str(raised.value) == f"Invalid updates_file: cannot open {uri!r}: {error}"


def test_a_path_that_does_not_exist_stays_a_validation_error(flaky: FlakyFS, tmp_path: pathlib.Path) -> None:
    for location in (
        str(tmp_path / "absent.jsonl"),
        tmp_path / "absent.jsonl",
        f"{SCHEME}://bucket/absent.jsonl",
    ):
        with pytest.raises(
            MoveworksValidationError, match=r"^Invalid updates_file: cannot open .*absent\.jsonl"
        ):
            list(RowSource(updates_file=location).rows())


def test_the_storage_error_survives_pickling_and_names_its_field() -> None:
    import pickle

    error = MoveworksStorageError("report_file", "cannot open 's3://b/r.jsonl': TimeoutError")
    restored = pickle.loads(pickle.dumps(error))  # noqa: S301

    assert (type(restored), restored.field, restored.reason, str(restored)) == (
        MoveworksStorageError,
        "report_file",
        "cannot open 's3://b/r.jsonl': TimeoutError",
        "Storage error on report_file: cannot open 's3://b/r.jsonl': TimeoutError",
    )


@pytest.mark.integration
def test_the_operator_fails_a_try_with_the_storage_error_before_sending(
    flaky: FlakyFS, make_operator, add_conversations, emulator_connection
) -> None:
    ids = add_conversations(3)
    uri = put(flaky, "updates.jsonl", jsonl([{"conversation_id": c, "archived": True} for c in ids]))
    flaky.fail("r", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))

    with pytest.raises(MoveworksStorageError, match=r"^Storage error on updates_file: cannot open"):
        make_operator(updates_file=uri).execute({})

    assert emulator_connection.request_count(method="PATCH") == 0
    assert make_operator(updates_file=uri).execute({})["updated"] == 3  # the next try succeeds


@pytest.mark.integration
def test_a_transient_fault_opening_the_report_for_writing_fails_the_try_retryably(
    flaky: FlakyFS, make_operator, add_conversations, emulator_connection
) -> None:
    (cid,) = add_conversations(1)
    flaky.fail("w", TimeoutError("timed out"))

    with pytest.raises(MoveworksStorageError, match=r"^Storage error on report_file: cannot open"):
        make_operator(
            updates=[{"conversation_id": cid, "archived": True}],
            report_file=f"{SCHEME}://bucket/report.jsonl",
        ).execute({})

    assert emulator_connection.request_count(method="PATCH") == 0


@pytest.mark.integration
def test_a_transient_fault_reading_the_earlier_report_fails_the_try_instead_of_starting_over(
    flaky: FlakyFS, make_operator, add_conversations, emulator_connection
) -> None:
    # Read as "no earlier report", the fault made the try send every row again and overwrite the
    # report that held the earlier tries' progress.
    emu = emulator_connection
    ids = add_conversations(4)
    updates = [{"conversation_id": c, "archived": True} for c in ids]
    report = f"{SCHEME}://bucket/report.jsonl"
    make_operator(updates=updates, report_file=report).execute({})
    written = flaky.cat_file("/bucket/report.jsonl")
    flaky.fail("r", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))

    with pytest.raises(MoveworksStorageError, match=r"^Storage error on report_file: cannot open"):
        make_operator(updates=updates, report_file=report).execute({})

    assert emu.request_count(method="PATCH") == 4
    assert flaky.cat_file("/bucket/report.jsonl") == written
    summary = make_operator(updates=updates, report_file=report).execute({})
    assert (summary["updated"], summary["resumed"]) == (4, 4)
    assert emu.request_count(method="PATCH") == 4


@pytest.mark.skipif(load_retry_policy() is None, reason="retry_policy is Airflow 3.3+")
def test_the_default_retry_policy_leaves_a_storage_error_to_the_tasks_retries() -> None:
    from airflow_provider_moveworks.retry_policy import default_retry_policy

    decision = default_retry_policy().evaluate(MoveworksStorageError("updates_file", "cannot open"), 1, 3)

    assert decision.action == load_retry_policy().RetryAction.DEFAULT  # retried as the task says


@pytest.mark.integration
@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="dag.test() runs retries on Airflow 3")
def test_airflow_retries_a_try_failed_by_a_storage_error_and_the_retry_succeeds(
    flaky: FlakyFS, load_dag, emulator_connection, capfd
) -> None:
    emu = emulator_connection
    ids = [emu.add_conversation(title="Old")["conversation_id"] for _ in range(3)]
    uri = put(flaky, "updates.jsonl", jsonl([{"conversation_id": c, "title": "New"} for c in ids]))
    flaky.fail("r", ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"))

    run = load_dag("moveworks_bulk_resume_test").test(run_conf={"updates_file": uri, "report_file": ""})

    log = capfd.readouterr().out
    assert str(run.state) == "success", log[-3000:]
    assert "Storage error on updates_file: cannot open" in log
    assert {emu.get(c)["title"] for c in ids} == {"New"}
    assert emu.request_count(method="PATCH") == 3


# -- defect 2: path objects --------------------------------------------------------------------


class _Fspath:
    """An os.PathLike that is not a pathlib path."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __fspath__(self) -> str:
        return self._path


def _locations(kind: str, tmp_path: pathlib.Path, fs: FlakyFS) -> tuple[Any, Any, Callable[[], str]]:
    """(updates_file, report_file, read the report) of ``kind``."""
    if kind == "object-storage":
        return (
            ObjectStoragePath(f"{SCHEME}://bucket/updates.jsonl"),
            ObjectStoragePath(f"{SCHEME}://bucket/report.jsonl"),
            lambda: fs.cat_file("/bucket/report.jsonl").decode(),
        )
    updates, report = tmp_path / "updates.jsonl", tmp_path / "report.jsonl"
    wrap: dict[str, Callable[[pathlib.Path], Any]] = {
        "pathlib": lambda p: p,
        "os-pathlike": lambda p: _Fspath(str(p)),
        "object-storage-file-uri": lambda p: ObjectStoragePath(p.as_uri()),
        "object-storage-local": lambda p: ObjectStoragePath(str(p)),
    }
    return wrap[kind](updates), wrap[kind](report), report.read_text


KINDS = ["pathlib", "os-pathlike", "object-storage-file-uri", "object-storage-local", "object-storage"]


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_updates_file_and_report_file_may_be_path_objects(
    kind: str, flaky: FlakyFS, make_operator, add_conversations, emulator_connection, tmp_path
) -> None:
    ids = add_conversations(3)
    updates_file, report_file, read_report = _locations(kind, tmp_path, flaky)
    text = jsonl([{"conversation_id": c, "title": "From a path"} for c in ids])
    if kind == "object-storage":
        put(flaky, "updates.jsonl", text)
    else:
        (tmp_path / "updates.jsonl").write_text(text)

    summary = make_operator(updates_file=updates_file, report_file=report_file).execute({})

    assert summary["updated"] == 3
    assert {title for title, _ in state(emulator_connection).values()} == {"From a path"}
    assert [json.loads(line)["outcome"] for line in read_report().splitlines()] == ["updated"] * 3


@pytest.mark.integration
@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_resumes_from_a_report_file_given_as_a_path_object(
    kind: str, flaky: FlakyFS, make_operator, add_conversations, emulator_connection, tmp_path
) -> None:
    from types import SimpleNamespace

    ids = add_conversations(3)
    _, report_file, _ = _locations(kind, tmp_path, flaky)
    updates = [{"conversation_id": c, "archived": True} for c in ids]
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="bulk", map_index=-1)
    make_operator(updates=updates, report_file=report_file).execute({"ti": ti})

    summary = make_operator(updates=updates, report_file=report_file).execute({"ti": ti})

    assert (summary["updated"], summary["resumed"]) == (3, 3)
    assert emulator_connection.request_count(method="PATCH") == 3  # nothing sent twice


@pytest.mark.parametrize(
    ("make_report", "make_updates"),
    [
        pytest.param(lambda p: p, str, id="pathlib-and-str"),
        pytest.param(lambda p: _Fspath(str(p)), lambda p: p, id="pathlike-and-pathlib"),
        pytest.param(lambda p: ObjectStoragePath(p.as_uri()), lambda p: p, id="object-storage-and-pathlib"),
        pytest.param(
            lambda p: ObjectStoragePath(str(p)), lambda p: p.as_uri(), id="local-object-storage-and-uri"
        ),
    ],
)
def test_report_file_may_not_be_the_updates_file_however_each_is_given(
    make_report: Callable[[pathlib.Path], Any], make_updates: Callable[[pathlib.Path], Any], tmp_path
) -> None:
    path = tmp_path / "updates.jsonl"
    path.write_text(jsonl([{"conversation_id": "conv_A", "archived": True}]))

    assert storage.same_location(make_report(path), make_updates(path))
    assert not storage.same_location(make_report(path), make_updates(tmp_path / "other.jsonl"))


def test_the_same_object_through_another_connection_is_the_same_location() -> None:
    assert storage.same_location(
        ObjectStoragePath("s3://aws_prod@bucket/a/x.csv"), "s3://bucket/a/../a/x.csv"
    )
    assert storage.same_location("s3://aws_prod@bucket/x.csv", "s3://other_conn@bucket/x.csv")
    assert not storage.same_location(ObjectStoragePath("s3://aws_prod@bucket/x.csv"), "s3://bucket/y.csv")


@pytest.mark.parametrize("value", [123, b"/tmp/updates.jsonl", ["/tmp/updates.jsonl"]])
def test_a_location_of_another_type_is_refused_naming_the_field(value: Any) -> None:
    with pytest.raises(MoveworksValidationError) as raised:
        RowSource(updates_file=value)

    assert str(raised.value) == (
        "Invalid updates_file: must be a path or URI: a string, an os.PathLike or an "
        f"ObjectStoragePath, got {type(value).__name__}"
    )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda: pathlib.PurePosixPath("/data/u.jsonl"), "/data/u.jsonl", id="pathlib"),
        pytest.param(lambda: _Fspath("/data/u.jsonl"), "/data/u.jsonl", id="os-pathlike"),
        pytest.param(
            lambda: ObjectStoragePath("file:///data/u.jsonl"), "file:///data/u.jsonl", id="file-uri"
        ),
        pytest.param(
            lambda: ObjectStoragePath("s3://aws_prod@bucket/u.jsonl"), "s3://aws_prod@bucket/u.jsonl", id="s3"
        ),
    ],
)
def test_a_path_object_is_named_by_its_path_or_uri(make: Callable[[], Any], expected: str) -> None:
    assert storage.location_name(make(), field="updates_file") == expected


def test_the_operator_takes_path_objects_and_keeps_them(tmp_path) -> None:
    from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator

    updates, report = tmp_path / "u.jsonl", ObjectStoragePath((tmp_path / "r.jsonl").as_uri())
    operator = MoveworksBulkUpdateConversationsOperator(task_id="t", updates_file=updates, report_file=report)

    assert (operator.updates_file, operator.report_file) == (updates, report)
