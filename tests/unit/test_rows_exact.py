"""bulk/rows.py exactly: the errors of rows and inputs (each raised without the chain of the
error that revealed it), the row and line numbers they name, the line length limit at its edge,
the format told by a name holding '?', a lazy input read once, and short CSV rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_moveworks.bulk.rows import MAX_LINE_BYTES, RowSource, parse_row
from airflow_provider_moveworks.exceptions import MoveworksValidationError

ID = "conv_a1"


def rows_of(source: RowSource) -> list[Any]:
    return list(source.rows())


def refused(source_or_call: Any) -> MoveworksValidationError:
    call = (lambda: rows_of(source_or_call)) if isinstance(source_or_call, RowSource) else source_or_call
    with pytest.raises(MoveworksValidationError) as raised:
        call()
    assert raised.value.__suppress_context__  # no chain: the message says it all
    return raised.value


def test_a_row_with_an_unknown_field_names_the_fields_allowed() -> None:
    with pytest.raises(MoveworksValidationError) as raised:
        parse_row({"conversation_id": ID, "bogus": 1, "other": 2})
    assert raised.value.field == "row"
    assert (
        raised.value.reason == "unknown field(s) 'bogus', 'other'; allowed: conversation_id, title, archived"
    )


def test_a_lone_surrogate_is_refused_without_the_encoding_error() -> None:
    error = refused(lambda: parse_row({"conversation_id": ID, "title": "a\udc80b"}))
    assert error.field == "title"
    assert error.reason == "holds a lone surrogate '\\udc80' at position 1: not valid Unicode text"


def test_updates_that_are_no_list_of_mappings() -> None:
    assert refused(lambda: RowSource(updates="[" * 100_000)).reason == (
        "is text nested too deeply to read: a row's value must be a string or a boolean"
    )
    assert refused(lambda: RowSource(updates="not json {")).reason == (
        "is text that is neither JSON nor a Python list of mappings"
    )
    assert refused(lambda: RowSource(updates=5)).reason == "must be a list of mappings, got int"
    with pytest.raises(MoveworksValidationError) as raised:
        RowSource(updates={"conversation_id": ID})
    assert raised.value.reason == "must be a list of mappings, got dict"
    with pytest.raises(MoveworksValidationError) as raised:
        RowSource(updates=b"[]")
    assert raised.value.reason == "must be a list of mappings, got bytes"


def test_a_lazy_input_is_read_once_and_passed_over_twice() -> None:
    source = RowSource(updates=({"conversation_id": ID, "archived": True} for _ in range(2)))
    assert (
        rows_of(source)
        == rows_of(source)
        == [
            (1, {"conversation_id": ID, "archived": True}),
            (2, {"conversation_id": ID, "archived": True}),
        ]
    )


def test_the_format_is_told_by_the_name_before_its_last_question_mark(tmp_path: Path) -> None:
    path = tmp_path / "u.csv?v?w"  # neither suffix before the last '?': the content tells
    path.write_text(f'{{"conversation_id": "{ID}", "archived": true}}\n')
    assert rows_of(RowSource(updates_file=str(path))) == [(1, {"conversation_id": ID, "archived": True})]
    other = tmp_path / "u.jsonl?v?w"
    other.write_text(f"\n  \nconversation_id,archived\n{ID},true\n")
    assert rows_of(RowSource(updates_file=str(other))) == [(1, {"conversation_id": ID, "archived": "true"})]


def test_a_short_csv_row_leaves_the_missing_fields_out(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(f"conversation_id,title,archived\n{ID},New\n")
    assert rows_of(RowSource(updates_file=str(path))) == [(1, {"conversation_id": ID, "title": "New"})]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_line_that_is_not_utf8_names_its_row_and_line(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"u{suffix}"
    header = b"conversation_id,archived\n" if suffix == ".csv" else b""
    good = f'{{"conversation_id": "{ID}", "archived": true}}\n' if suffix == ".jsonl" else f"{ID},true\n"
    path.write_bytes(header + good.encode() + b"\n" + b"\xff\xfe\n")
    error = refused(RowSource(updates_file=str(path)))
    line = 4 if suffix == ".csv" else 3
    assert error.reason.startswith(f"row 2 (line {line}) is not UTF-8 text")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_line_over_the_limit_names_its_row_and_one_of_the_limit_is_read(
    tmp_path: Path, suffix: str
) -> None:
    header = b"conversation_id,title\n" if suffix == ".csv" else b""
    if suffix == ".csv":  # cells of one character (a field has a limit of its own)
        at_limit = b"a," * (MAX_LINE_BYTES // 2 - 1) + b"a\n"
    else:
        start = f'{{"conversation_id": "{ID}", "title": "'.encode()
        at_limit = start + b"t" * (MAX_LINE_BYTES - len(start) - 3) + b'"}\n'
    assert len(at_limit) == MAX_LINE_BYTES
    path = tmp_path / f"u{suffix}"
    path.write_bytes(header + at_limit)
    ((row, record),) = rows_of(RowSource(updates_file=str(path)))
    assert row == 1
    if suffix == ".csv":
        assert record == f"has {MAX_LINE_BYTES // 2} cells, the header has 2"
    else:
        assert len(record["title"]) > MAX_LINE_BYTES - 100
    path.write_bytes(header + at_limit[:-1] + b"a\n")
    error = refused(RowSource(updates_file=str(path)))
    line = 2 if suffix == ".csv" else 1
    assert error.reason.startswith(f"row 1 (line {line}) is longer than {MAX_LINE_BYTES:,} bytes")


def test_a_csv_error_is_raised_without_its_chain(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(f'conversation_id,title\n{ID},fine\n{ID},"unclosed\n')
    error = refused(RowSource(updates_file=str(path)))
    assert error.field == "updates_file"
    assert error.reason.endswith(
        "u.csv': row 2: the record starting on line 3 is not valid CSV (unexpected end of data); "
        "check its quotes: a field that opens a quote must close it"
    )
