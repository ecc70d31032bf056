"""A CSV header names each column once, in any case, blanks around it ignored."""

from __future__ import annotations

import pytest

from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.exceptions import MoveworksValidationError


def rows_of(tmp_path, text: str) -> list:
    path = tmp_path / "updates.csv"
    path.write_text(text)
    return list(RowSource(updates_file=str(path)).rows())


def test_header_names_are_matched_in_any_case_and_without_blanks(tmp_path) -> None:
    assert rows_of(tmp_path, " Conversation_ID , Title,ARCHIVED\nconv_a1,Hello,true\n") == [
        (1, {"conversation_id": "conv_a1", "title": "Hello", "archived": "true"})
    ]


@pytest.mark.parametrize(
    ("header", "shown"),
    [
        ("conversation_id,title,title", "'conversation_id', 'title', 'title'"),
        ("conversation_id,Title,title", "'conversation_id', 'Title', 'title'"),
        ("conversation_id,conversation_id", "'conversation_id', 'conversation_id'"),
        ("conversation_id,titel", "'conversation_id', 'titel'"),
        ("title,archived", "'title', 'archived'"),
    ],
)
def test_a_header_naming_a_column_twice_or_an_unknown_one_is_refused(tmp_path, header, shown) -> None:
    with pytest.raises(MoveworksValidationError) as raised:
        rows_of(tmp_path, f"{header}\nconv_a1,x,y\n")
    assert raised.value.field == "updates_file"
    assert raised.value.reason.endswith(
        f"the CSV header must name conversation_id and optionally title and archived, each once; got {shown}"
    )
