"""Input integrity before any request: strict CSV, UTF-8 only, rows with lone surrogates or
absurd nesting are invalid (named with their field), files with no header fail, empty inputs
succeed with a warning; input errors fail without spending task retries."""

from __future__ import annotations

import gzip
import json

import pytest

from airflow_provider_moveworks.bulk.plan import Plan
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.exceptions import MoveworksBulkInvalidRowsError, MoveworksValidationError
from airflow_provider_moveworks.version_compat import AirflowFailException

ID = "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV"


def rows_of(path) -> list:
    return list(RowSource(updates_file=str(path)).rows())


def csv_lines(count: int, start: int = 0) -> str:
    return "".join(f"conv_{n:026d},Title {n},true\n" for n in range(start, start + count))


def test_an_unclosed_quote_fails_naming_the_line_where_the_field_starts(tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text(
        "conversation_id,title,archived\n"
        f"{ID},Fine,true\n"
        f'{ID[:-1]}B,"Unclosed title,true\n'
        f"{ID[:-1]}C,Swallowed,true\n"
    )

    with pytest.raises(MoveworksValidationError) as raised:
        rows_of(path)

    assert "row 2: the record starting on line 3 is not valid CSV" in str(raised.value)
    assert isinstance(raised.value, AirflowFailException)  # no task retry spent on it


def test_a_quoted_newline_is_still_one_field(tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text(f'conversation_id,title,archived\n{ID},"Two\nlines",\n')

    assert rows_of(path) == [(1, {"conversation_id": ID, "title": "Two\nlines"})]


def test_a_field_over_the_size_limit_names_its_row(tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text("conversation_id,title,archived\n" + csv_lines(3) + f'{ID},"{"x" * 200_000}",\n')

    with pytest.raises(MoveworksValidationError) as raised:
        rows_of(path)

    assert "row 4 (from line 5) has a field longer than 131,072 characters" in str(raised.value)


@pytest.mark.parametrize(
    ("name", "content", "row"),
    [
        # latin-1 in row 5001: named there, not somewhere in a read-ahead chunk.
        (
            "latin1.csv",
            ("conversation_id,title,archived\n" + csv_lines(5000)).encode()
            + f"{ID},Caf\u00e9,true\n".encode("latin-1"),
            5001,
        ),
        ("utf16.csv", ("conversation_id,title,archived\n" + csv_lines(3)).encode("utf-16"), 1),
        ("gzipped.jsonl", gzip.compress(b'{"conversation_id": "x"}\n' * 50), 1),
    ],
)
def test_input_that_is_not_utf8_fails_naming_the_row(tmp_path, name, content, row):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(MoveworksValidationError) as raised:
        rows_of(path)

    assert f"row {row} (line " in str(raised.value)
    assert "the file must be UTF-8" in str(raised.value)


def test_a_utf8_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "updates.csv"
    path.write_bytes(b"\xef\xbb\xbfconversation_id,title,archived\n" + f"{ID},T,\n".encode())

    assert rows_of(path) == [(1, {"conversation_id": ID, "title": "T"})]


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"conversation_id": ID, "title": "bad \ud800 title"}, "title"),
        ({"conversation_id": ID[:-1] + "\udfff", "archived": True}, "conversation_id"),
    ],
)
def test_a_lone_surrogate_makes_the_row_invalid_naming_the_field(record, field):
    plan = Plan(RowSource(updates=[record, {"conversation_id": ID[:-1] + "Z", "archived": True}]))
    plan.scan()

    assert (plan.invalid, plan.sends) == (1, 1)
    ((row, reason),) = plan.examples
    assert row == 1
    assert reason.startswith(f"Invalid {field}: holds a lone surrogate")


def test_a_lone_surrogate_in_a_jsonl_file_makes_the_row_invalid(tmp_path):
    path = tmp_path / "updates.jsonl"
    path.write_text(json.dumps({"conversation_id": ID, "title": "a \ud800"}) + "\n")  # escaped: valid JSON

    plan = Plan(RowSource(updates_file=str(path)))
    plan.scan()

    assert plan.invalid == 1
    assert plan.examples[0][1].startswith("Invalid title: holds a lone surrogate")


def test_absurd_nesting_makes_the_row_invalid_naming_the_field(tmp_path):
    path = tmp_path / "updates.jsonl"
    nested = "[" * 100_000 + "]" * 100_000
    path.write_text(f'{{"conversation_id": "{ID}", "title": {nested}}}\n')
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]

    for source in (
        RowSource(updates_file=str(path)),
        RowSource(updates=[{"conversation_id": ID, "title": deep}]),
    ):
        plan = Plan(source)
        plan.scan()
        assert plan.invalid == 1
        assert "title" in plan.examples[0][1]


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\n\n  \n"])
def test_a_csv_file_with_no_header_line_fails(tmp_path, content):
    path = tmp_path / "updates.csv"
    path.write_bytes(content)

    with pytest.raises(MoveworksValidationError, match="has no CSV header line"):
        rows_of(path)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "content"),
    [("header-only.csv", "conversation_id,title,archived\n"), ("empty.jsonl", ""), (None, None)],
)
def test_empty_inputs_succeed_with_total_0_and_a_warning(
    make_operator, emulator_connection, tmp_path, capfd, name, content
):
    if name is None:
        operator = make_operator(updates=[])
    else:
        path = tmp_path / name
        path.write_text(content)
        operator = make_operator(updates_file=str(path))

    summary = operator.execute({})

    assert summary["total"] == 0
    assert "0 rows: nothing to do" in capfd.readouterr().out
    assert emulator_connection.request_count() == 0


@pytest.mark.integration
def test_input_errors_fail_before_any_request_without_spending_retries(
    make_operator, emulator_connection, add_conversations, tmp_path
):
    (cid,) = add_conversations(1)
    path = tmp_path / "updates.csv"
    path.write_text(f'conversation_id,title,archived\n{cid},Fine,\n{cid},"broken,\n')

    with pytest.raises(MoveworksValidationError) as raised:
        make_operator(updates_file=str(path)).execute({})

    assert isinstance(raised.value, AirflowFailException)
    assert emulator_connection.request_count() == 0
    with pytest.raises(MoveworksBulkInvalidRowsError) as invalid:
        make_operator(updates=[{"conversation_id": cid, "title": "\ud800"}]).execute({})
    assert isinstance(invalid.value, AirflowFailException)
    assert emulator_connection.request_count() == 0


@pytest.mark.integration
def test_a_report_file_that_is_the_updates_file_fails_before_touching_the_input(
    make_operator, emulator_connection, add_conversations, tmp_path
):
    (cid,) = add_conversations(1)
    path = tmp_path / "updates.jsonl"
    path.write_text(json.dumps({"conversation_id": cid, "archived": True}) + "\n")
    before = path.read_text()

    with pytest.raises(MoveworksValidationError, match="must not be the updates_file"):
        make_operator(updates_file=str(path), report_file=str(path)).execute({})

    assert path.read_text() == before
    assert emulator_connection.request_count() == 0


@pytest.mark.integration
@pytest.mark.parametrize("spelling", ["file_uri", "dot", "relative", "symlink", "hardlink"])
def test_a_report_file_naming_the_updates_file_another_way_fails_before_touching_the_input(
    make_operator, emulator_connection, add_conversations, tmp_path, monkeypatch, spelling
):
    (cid,) = add_conversations(1)
    path = tmp_path / "updates.csv"
    path.write_text(f"conversation_id,archived\n{cid},true\n")
    before = path.read_text()
    monkeypatch.chdir(tmp_path)
    if spelling == "symlink":
        (tmp_path / "link.csv").symlink_to(path)
    elif spelling == "hardlink":
        (tmp_path / "link.csv").hardlink_to(path)
    report = {
        "file_uri": f"file://{path}",
        "dot": f"{tmp_path}/./updates.csv",
        "relative": "updates.csv",
        "symlink": str(tmp_path / "link.csv"),
        "hardlink": str(tmp_path / "link.csv"),
    }[spelling]

    with pytest.raises(MoveworksValidationError, match="must not be the updates_file"):
        make_operator(updates_file=str(path), report_file=report).execute({})

    assert path.read_text() == before
    assert emulator_connection.request_count() == 0


def test_same_location_tells_apart_other_files_and_uris(tmp_path):
    from airflow_provider_moveworks.bulk.storage import same_location

    assert not same_location(str(tmp_path / "a.csv"), str(tmp_path / "b.csv"))
    assert not same_location("s3://bucket/a.csv", str(tmp_path / "a.csv"))
    assert same_location("s3://bucket/x/../a.csv", "s3://bucket/a.csv")
    assert not same_location("s3://bucket/a.csv", "s3://other/a.csv")


def test_a_jsonl_record_naming_a_field_twice_makes_the_row_invalid(tmp_path):
    # JSON keeps the last of two equal keys: the row would update a conversation the file's
    # reader may not see as the one meant.
    other = ID[:-1] + "B"
    path = tmp_path / "updates.jsonl"
    path.write_text(
        f'{{"conversation_id": "{other}", "conversation_id": "{ID}", "archived": true}}\n'
        f'{{"conversation_id": "{ID}", "archived": true, "archived": false}}\n'
        f'{{"conversation_id": "{other}", "archived": true}}\n'
    )
    plan = Plan(RowSource(updates_file=str(path)))
    plan.scan()

    assert (plan.total, plan.invalid, plan.sends) == (3, 2, 1)
    assert [row for row, _ in plan.examples] == [1, 2]
    assert "names the field 'conversation_id' twice" in plan.examples[0][1]
    assert "names the field 'archived' twice" in plan.examples[1][1]


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000, '[{"conversation_id": ' + "[" * 5_000 + "]" * 5_000 + "}]", "[" + "(" * 100_000 + "]"],
)
def test_updates_text_nested_too_deeply_is_a_validation_error(text):
    # A RecursionError spent the task's retries on an input that can never pass.
    with pytest.raises(MoveworksValidationError, match="Invalid updates") as raised:
        RowSource(updates=text)

    assert isinstance(raised.value, AirflowFailException)


def test_a_csv_file_with_carriage_returns_alone_names_the_line_endings(tmp_path):
    # Before, the message blamed the quotes of a file that had none.
    path = tmp_path / "updates.csv"
    path.write_bytes(f"conversation_id,archived\r{ID},true\r".encode())

    with pytest.raises(MoveworksValidationError) as raised:
        rows_of(path)

    assert "carriage return" in str(raised.value)
    assert "check its quotes" not in str(raised.value)


@pytest.mark.parametrize("name", ["updates.csv", "updates.jsonl"])
def test_a_file_without_line_breaks_fails_without_being_read_whole(tmp_path, name):
    # 20 MB with \r line endings is one line: before, it was read into memory whole (twice over,
    # bytes and text) before the CSV reader or the JSON parser saw it.
    import tracemalloc

    path = tmp_path / name
    row = f'{{"conversation_id": "{ID}", "archived": true}}\r' if name.endswith("jsonl") else f"{ID},true\r"
    header = "" if name.endswith("jsonl") else "conversation_id,archived\r"
    path.write_bytes((header + row * (20_000_000 // len(row))).encode())

    tracemalloc.start()
    try:
        with pytest.raises(MoveworksValidationError, match="longer than 1,048,576 bytes") as raised:
            rows_of(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert "row 1 (line 1)" in str(raised.value)
    assert peak < 5_000_000


@pytest.mark.parametrize(
    "text",
    [
        f'[{{"conversation_id": "{ID}", "conversation_id": "conv_other", "title": "x"}}]',
        f"[{{'conversation_id': '{ID}', 'conversation_id': 'conv_other', 'title': 'x'}}]",
    ],
)
def test_updates_text_naming_a_field_twice_is_refused(text):
    # JSON and Python literals both keep the last of two equal keys: conv_other was updated
    # although a reader of the text may well mean the first.
    with pytest.raises(MoveworksValidationError) as raised:
        RowSource(updates=text)

    assert str(raised.value) == (
        "Invalid updates: is text that names the field 'conversation_id' twice in one row: "
        "which one is meant is unclear"
    )


def test_a_csv_written_with_comma_and_space_reads_its_cells_as_its_header(tmp_path):
    # The header's cells were read without the space after each comma, the rows' cells with it:
    # every title gained a leading space, silently.
    path = tmp_path / "updates.csv"
    path.write_text(
        f'conversation_id, title, archived\n{ID}, Laptop refresh, true\n{ID[:-1]}B, " kept", false\n'
    )

    assert rows_of(path) == [
        (1, {"conversation_id": ID, "title": "Laptop refresh", "archived": "true"}),
        (2, {"conversation_id": f"{ID[:-1]}B", "title": " kept", "archived": "false"}),
    ]


def test_a_stop_ends_the_validation_pass_at_its_next_check_every_1024_rows() -> None:
    import threading

    rows = [{"conversation_id": f"conv_{n:021d}", "archived": True} for n in range(3000)]
    stop = threading.Event()
    stop.set()

    stopped, whole = Plan(RowSource(updates=rows)), Plan(RowSource(updates=rows))
    stopped.scan(stop)
    whole.scan(None)

    assert stopped.total == 1023  # the rows before the first check
    assert (whole.total, whole.sends) == (3000, 3000)


def test_an_invalid_row_moved_to_another_place_changes_the_input_s_fingerprint() -> None:
    valid = {"conversation_id": ID, "archived": True}
    first, second = Plan(RowSource(updates=[valid, [1]])), Plan(RowSource(updates=[[1], valid]))
    first.scan()
    second.scan()

    assert (first.total, first.invalid, second.total, second.invalid) == (2, 1, 2, 1)
    assert first.fingerprint != second.fingerprint  # a retry must not resume rows by the wrong number
