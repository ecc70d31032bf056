"""Where rows come from: a list (also as Jinja text), JSON Lines and CSV files, ``file://`` URIs,
and format sniffing; plus the file problems that concern every row."""

from __future__ import annotations

import pytest

from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from tests.bulk.conftest import counters, state, write_jsonl

pytestmark = pytest.mark.integration


def test_jsonl_file_rows_are_numbered_without_blank_lines(
    make_operator, add_conversations, emulator, tmp_path
):
    first, second = add_conversations(2)
    path = tmp_path / "updates.jsonl"
    path.write_text(
        f'{{"conversation_id": "{first}", "title": "J1"}}\n\n'
        "[1, 2]\n"
        f'{{"conversation_id": "{second}", "archived": true, "title": null}}\n'
        "{broken\n"
    )

    summary = make_operator(updates_file=str(path), on_invalid="skip").execute({})

    assert [(f["row"], f["message"]) for f in summary["failures"]] == [
        (2, "Invalid row: must be a JSON object, got [1, 2]"),
        (
            4,
            "Invalid row: is not valid JSON (Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1))",
        ),
    ]
    assert (summary["total"], summary["updated"], summary["invalid"]) == (4, 2, 2)
    assert state(emulator) == {first: ("J1", False), second: ("Old 1", True)}


def test_csv_file_empty_cell_leaves_the_field_unchanged(make_operator, add_conversations, emulator, tmp_path):
    first, second, third = add_conversations(3)
    path = tmp_path / "updates.csv"
    path.write_text(
        f'conversation_id,title,archived\n{first},"Quoted, with comma",\n{second},,true\n\n{third},Both,no\n',
        encoding="utf-8",
    )

    summary = make_operator(updates_file=str(path)).execute({})

    assert counters(summary)["updated"] == 3
    assert summary["total"] == 3
    assert state(emulator) == {
        first: ("Quoted, with comma", False),
        second: ("Old 1", True),
        third: ("Both", False),
    }


def test_csv_rows_with_too_many_cells_are_invalid_and_the_header_is_not_a_row(tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text("\ufeffconversation_id,archived\nconv_A,true\nconv_B,true,extra\n", encoding="utf-8")

    rows = list(RowSource(updates_file=str(path)).rows())

    assert rows == [
        (1, {"conversation_id": "conv_A", "archived": "true"}),
        (2, "has 3 cells, the header has 2"),
    ]


def test_csv_header_with_an_unknown_column_is_rejected(tmp_path):
    path = tmp_path / "updates.csv"
    path.write_text("conversation_id,name\nconv_A,x\n")

    with pytest.raises(MoveworksValidationError, match="the CSV header must name conversation_id"):
        list(RowSource(updates_file=str(path)).rows())


def test_file_uri_input_is_read_through_object_storage(make_operator, add_conversations, emulator, tmp_path):
    ids = add_conversations(3)
    path = write_jsonl(tmp_path / "updates.ndjson", [{"conversation_id": c, "title": "Via URI"} for c in ids])

    summary = make_operator(updates_file=f"file://{path}").execute({})

    assert summary["updated"] == 3
    assert {title for title, _ in state(emulator).values()} == {"Via URI"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '\n  {"conversation_id": "conv_A", "archived": true}\n',
            [(1, {"conversation_id": "conv_A", "archived": True})],
        ),
        ("conversation_id,archived\nconv_A,true\n", [(1, {"conversation_id": "conv_A", "archived": "true"})]),
    ],
    ids=["json-lines", "csv"],
)
def test_format_is_sniffed_from_the_first_character_without_a_known_extension(tmp_path, content, expected):
    path = tmp_path / "updates.txt"
    path.write_text(content)

    assert list(RowSource(updates_file=str(path)).rows()) == expected


def test_updates_rendered_as_text_are_parsed_as_json_or_a_python_list():
    as_json = RowSource(updates='[{"conversation_id": "conv_A", "archived": true}]')
    as_repr = RowSource(updates="[{'conversation_id': 'conv_A', 'archived': True}]")

    assert (
        list(as_json.rows()) == list(as_repr.rows()) == [(1, {"conversation_id": "conv_A", "archived": True})]
    )


def test_exactly_one_input_is_required_at_run_time():
    with pytest.raises(MoveworksValidationError, match="give exactly one of updates and updates_file"):
        RowSource(updates=None, updates_file="")


def test_a_missing_file_names_the_argument(tmp_path):
    with pytest.raises(MoveworksValidationError, match="Invalid updates_file: cannot open"):
        list(RowSource(updates_file=str(tmp_path / "absent.jsonl")).rows())


def test_refusing_invalid_rows_quotes_the_first_ten_of_them(make_operator, emulator) -> None:
    from airflow_provider_moveworks.exceptions import MoveworksBulkInvalidRowsError

    updates = [{"conversation_id": f"bad-{n}", "title": "x"} for n in range(1, 13)]

    with pytest.raises(MoveworksBulkInvalidRowsError) as raised:
        make_operator(updates=updates).execute({})

    quoted = str(raised.value).split("First ones: ", 1)[1].split("; ")
    assert [entry.split(":", 1)[0] for entry in quoted] == [f"row {n}" for n in range(1, 11)]
    assert str(raised.value).startswith("12 of 12 rows are invalid; no request was sent")
    assert emulator.request_count(method="PATCH") == 0
