"""Update rows, read one at a time from a list of mappings or a JSON Lines / CSV file, and
checked with the single-conversation operator's rules.

A row is ``(row_number, raw)``: ``row_number`` counts data records from 1 (blank lines are not
records, a CSV header is not a record), and ``raw`` is the record's mapping, or a string saying
why the record could not be read (bad JSON, too many CSV cells). A file problem that concerns
every row (no header, an unknown column) raises :class:`MoveworksValidationError` instead.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from airflow_provider_moveworks.bulk.storage import UTF8_BOM, Location, location_name, open_binary, reading
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.validation import build_update_body, describe, validate_conversation_id

FIELDS = ("conversation_id", "title", "archived")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)

RawRow = tuple[int, Mapping[str, Any] | str]
# The longest line read: far above any real row (a title is at most 256 characters, a CSV field
# at most 128 KB), far below what would strain a worker's memory.
MAX_LINE_BYTES = 1024 * 1024


class RowSource:
    """Rows from exactly one of ``updates`` (a list of mappings) and ``updates_file`` (a path or
    URI string, an ``os.PathLike`` or an ``ObjectStoragePath``). :meth:`rows` starts a fresh pass
    each time: the operator reads the input twice."""

    def __init__(self, *, updates: Any = None, updates_file: Location | None = None) -> None:
        if (updates is None) == (updates_file is None or updates_file == ""):
            raise MoveworksValidationError(
                "updates/updates_file", "give exactly one of updates and updates_file"
            )
        self._updates = None if updates is None else _as_sequence(updates)
        self._file: Location | None = None if updates is not None else updates_file
        # Refuses, naming the field, what is neither a string nor a path object.
        self._name = None if self._file is None else location_name(self._file, field="updates_file")

    @property
    def location(self) -> Location | None:
        """The input file as given (a path or URI, or a path object), ``None`` for a list."""
        return self._file

    def rows(self) -> Iterator[RawRow]:
        """One pass over the input, record by record."""
        if self._updates is not None:
            for number, item in enumerate(self._updates, start=1):
                yield (
                    number,
                    item if isinstance(item, Mapping) else f"must be a mapping, got {describe(item)}",
                )
            return
        assert self._file is not None
        assert self._name is not None
        fmt = _file_format(self._file, self._name)
        # reading(): a fault of the storage mid-stream is a storage (or validation) error too.
        with (
            reading(self._file, field="updates_file"),
            open_binary(self._file, field="updates_file") as stream,
        ):
            yield from (_jsonl_rows(stream) if fmt == "jsonl" else _csv_rows(stream, self._name))


def parse_row(raw: Mapping[str, Any] | str) -> tuple[str, dict[str, Any]]:
    """The conversation id and PATCH body of one row, or :class:`MoveworksValidationError`."""
    if isinstance(raw, str):
        raise MoveworksValidationError("row", raw)
    unknown = [key for key in raw if key not in FIELDS]
    if unknown:
        raise MoveworksValidationError(
            "row", f"unknown field(s) {', '.join(map(describe, unknown))}; allowed: {', '.join(FIELDS)}"
        )
    for name in FIELDS:
        _check_scalar(name, raw.get(name))
    conversation_id = validate_conversation_id(raw.get("conversation_id"))
    return conversation_id, build_update_body(raw.get("title"), raw.get("archived"))


def _check_scalar(name: str, value: Any) -> None:
    # Before the field rules: a nested value's repr may recurse past the stack, and a lone
    # surrogate cannot be encoded into the request (nor into the report).
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:
            bad = value[error.start]
            raise MoveworksValidationError(
                name, f"holds a lone surrogate {bad!r} at position {error.start}: not valid Unicode text"
            ) from None
    elif value is not None and not isinstance(value, (bool, int, float)):
        raise MoveworksValidationError(name, f"must be a string or a boolean, got {type(value).__name__}")


def _as_sequence(updates: Any) -> Sequence[Any]:
    # With render_template_as_native_obj off, a Jinja-pulled XCom arrives as its text: JSON, or the
    # repr of a Python list. literal_eval only builds literals, it never runs code.
    if isinstance(updates, str):
        try:
            updates = _parse_text(updates)
        except RecursionError:
            raise MoveworksValidationError(
                "updates", "is text nested too deeply to read: a row's value must be a string or a boolean"
            ) from None
    if isinstance(updates, (Mapping, str, bytes)):
        raise MoveworksValidationError("updates", f"must be a list of mappings, got {type(updates).__name__}")
    if isinstance(updates, Sequence):
        return updates
    try:
        return list(updates)  # e.g. a lazy XCom sequence: read once, then passed over twice
    except TypeError:
        raise MoveworksValidationError(
            "updates", f"must be a list of mappings, got {type(updates).__name__}"
        ) from None


def _parse_text(updates: str) -> Any:
    repeated = None
    try:
        return json.loads(updates, object_pairs_hook=_object_without_repeats)
    except _RepeatedKey as error:
        repeated = error.key
    except ValueError:
        try:
            tree = ast.parse(updates, mode="eval")
            repeated = _repeated_literal_key(tree)
            if repeated is None:
                return ast.literal_eval(tree)
        except (ValueError, SyntaxError, MemoryError):
            raise MoveworksValidationError(
                "updates", "is text that is neither JSON nor a Python list of mappings"
            ) from None
    raise MoveworksValidationError(
        "updates",
        f"is text that names the field {describe(repeated)} twice in one row: which one is meant is unclear",
    )


def _repeated_literal_key(tree: ast.AST) -> Any:
    """The first key a dict display in ``tree`` repeats (literal_eval keeps the last silently)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
            seen: set[Any] = set()
            for key in keys:
                if key in seen:
                    return key
                seen.add(key)
    return None


def _file_format(location: Location, name: str) -> str:
    lowered = name.lower().rsplit("?", 1)[0]
    if lowered.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    with reading(location, field="updates_file"), open_binary(location, field="updates_file") as stream:
        while chunk := stream.read(4096):
            stripped = chunk.removeprefix(UTF8_BOM).lstrip()
            if stripped:
                return "jsonl" if stripped.startswith(b"{") else "csv"
    return "jsonl"  # an empty file: no rows either way


class _NotUtf8(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _LineTooLong(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _lines(stream: IO[bytes]) -> Iterator[str]:
    """The stream's lines, each decoded on its own: a byte that is not UTF-8 is found in the line
    that holds it (raising :class:`_NotUtf8`), not somewhere in a read-ahead chunk. A line over
    :data:`MAX_LINE_BYTES` raises :class:`_LineTooLong` before more of it is read: a file with no
    line breaks (or ``\\r`` alone) must not be read into memory whole."""
    # readline, not iteration: Airflow 2's object-storage file wrapper proxies methods but its
    # ``__getitem__`` breaks the iteration protocol.
    for number, raw in enumerate(iter(lambda: stream.readline(MAX_LINE_BYTES + 1), b""), start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise _LineTooLong(number)
        if number == 1:
            raw = raw.removeprefix(UTF8_BOM)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _NotUtf8(number) from None


def _too_long(row: int, line: int) -> MoveworksValidationError:
    return MoveworksValidationError(
        "updates_file",
        f"row {row} (line {line}) is longer than {MAX_LINE_BYTES:,} bytes: the file has no line breaks "
        "there (lines must end with \\n or \\r\\n; a file with \\r alone must be re-exported)",
    )


def _not_utf8(row: int, line: int) -> MoveworksValidationError:
    return MoveworksValidationError(
        "updates_file",
        f"row {row} (line {line}) is not UTF-8 text; the file must be UTF-8 (a byte-order mark is "
        "fine): re-export it as UTF-8, uncompressed",
    )


def _jsonl_rows(stream: IO[bytes]) -> Iterator[RawRow]:
    number = 0
    lines = _lines(stream)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except _NotUtf8 as error:
            raise _not_utf8(number + 1, error.line) from None
        except _LineTooLong as error:
            raise _too_long(number + 1, error.line) from None
        if not line.strip():
            continue
        number += 1
        try:
            record = json.loads(line, object_pairs_hook=_object_without_repeats)
        except _RepeatedKey as error:
            yield number, f"names the field {describe(error.key)} twice: which one is meant is unclear"
            continue
        except ValueError as error:
            yield number, f"is not valid JSON ({error})"
            continue
        except RecursionError:
            yield number, f"{_nested_field(line)} is nested too deeply to read"
            continue
        yield number, record if isinstance(record, dict) else f"must be a JSON object, got {describe(record)}"


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json keeps the last of two equal keys silently: {"conversation_id": "a", "conversation_id":
    # "b"} would update b although a reader of the file may well mean a.
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _RepeatedKey(key)
        record[key] = value
    return record


def _nested_field(line: str) -> str:
    # The first field whose value opens a list or object: the one that nests.
    match = re.search(r'"([^"\\]{1,64})"\s*:\s*[\[{]', line)
    return f"field {match.group(1)!r}" if match else "the record"


def _csv_rows(stream: IO[bytes], location: str) -> Iterator[RawRow]:
    lines = _lines(stream)
    # strict: an unbalanced quote is an error instead of a field that swallows the rest of the file.
    # skipinitialspace: "a, b" has cells "a" and "b", in the header and the rows alike (a title
    # meant to start with a blank is quoted: a," b").
    reader = csv.reader(lines, strict=True, skipinitialspace=True)
    header: list[str] | None = None
    number = 0
    while True:
        record_line = reader.line_num + 1  # the line this record starts on
        try:
            cells = next(reader)
        except StopIteration:
            break
        except _NotUtf8 as error:
            raise _not_utf8(number + 1, error.line) from None
        except _LineTooLong as error:
            raise _too_long(number + 1, error.line) from None
        except csv.Error as error:
            raise _csv_error(location, number + 1, record_line, error) from None
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = _check_header(cells, location)
            continue
        number += 1
        if len(cells) > len(header):
            yield number, f"has {len(cells)} cells, the header has {len(header)}"
            continue
        # An empty (or missing trailing) cell leaves that field unchanged.
        yield number, {name: cell for name, cell in zip(header, cells, strict=False) if cell != ""}
    if header is None:
        raise MoveworksValidationError(
            "updates_file",
            f"{location!r} has no CSV header line (it is empty or blank): the first line must name "
            "the columns conversation_id,title,archived",
        )


def _csv_error(location: str, row: int, line: int, error: csv.Error) -> MoveworksValidationError:
    text = str(error)
    if "field larger than field limit" in text:
        reason = (
            f"row {row} (from line {line}) has a field longer than {csv.field_size_limit():,} characters "
            "(a quote left open makes one field of every line after it)"
        )
    elif "new-line character seen in unquoted field" in text:
        reason = (
            f"row {row}: the record starting on line {line} holds a bare carriage return (\\r) "
            "outside quotes: lines must end with \\n or \\r\\n (a file with \\r alone, from "
            "classic Mac OS, must be re-exported)"
        )
    else:
        reason = (
            f"row {row}: the record starting on line {line} is not valid CSV ({text}); check its "
            "quotes: a field that opens a quote must close it"
        )
    return MoveworksValidationError("updates_file", f"{location!r}: {reason}")


def _check_header(cells: list[str], location: str) -> list[str]:
    """The column names, matched in any case and without surrounding blanks."""
    header = [cell.strip().lower() for cell in cells]
    unknown = [name for name in header if name not in FIELDS]
    if unknown or "conversation_id" not in header or len(set(header)) != len(header):
        raise MoveworksValidationError(
            "updates_file",
            f"{location!r}: the CSV header must name conversation_id and optionally title and archived, "
            f"each once; got {', '.join(describe(cell.strip()) for cell in cells)}",
        )
    return header
