"""Edges the suite must hold: resume ranges one row apart, the first stop cause, the bare extra
key over its legacy form, three decoding rounds, and the bulk guard on every field."""

from __future__ import annotations

import html
import json
from urllib.parse import quote

import pytest
import responses

from airflow_provider_moveworks.bulk.resume import RowRanges
from airflow_provider_moveworks.bulk.rows import RowSource
from airflow_provider_moveworks.bulk.runner import BulkOptions, BulkRun
from airflow_provider_moveworks.client.secrets import holds_secret
from airflow_provider_moveworks.exceptions import (
    MoveworksAuthenticationError,
    MoveworksBulkInterruptedError,
    MoveworksBulkInvalidRowsError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from tests.conftest import API_KEY, ASSISTANT


@pytest.mark.parametrize(
    "saved", [[[1, 3], [5, 7]], [[5, 7], [1, 3]], [[1, 1], [3, 3]]], ids=["ordered", "unordered", "single"]
)
def test_ranges_one_row_apart_keep_the_row_between_them(saved) -> None:
    ranges = RowRanges(saved)
    hole = saved[0][1] + 1 if saved[0][0] < saved[1][0] else saved[1][1] + 1
    assert hole not in ranges
    assert ranges.ranges() == sorted(saved)


def test_adding_rows_merges_only_neighbours() -> None:
    ranges = RowRanges()
    for row in (1, 2, 4, 6, 5):
        ranges.add(row)
    assert ranges.ranges() == [[1, 2], [4, 6]]
    assert 3 not in ranges
    assert len(ranges) == 5
    ranges.add(3)
    assert ranges.ranges() == [[1, 6]]


def test_adjacent_saved_ranges_merge() -> None:
    assert RowRanges([[1, 3], [4, 5]]).ranges() == [[1, 5]]


def test_the_first_stop_cause_wins() -> None:
    run = BulkRun(lambda **options: None, RowSource(updates=[]), BulkOptions(), None)  # type: ignore[arg-type]
    run.stop("on_kill")
    run.stop("a refused credential", MoveworksAuthenticationError("Updating: 401", status=401))
    error = run._stopped_error({"total": 3})
    assert isinstance(error, MoveworksBulkInterruptedError)
    assert str(error) == "Bulk update stopped after 3 rows by on_kill"


def test_the_bare_extra_key_wins_over_its_legacy_form(set_connection) -> None:
    set_connection(
        extra={
            "assistant_name": ASSISTANT,
            "extra__moveworks__assistant_name": "legacy",
            "timeout": 12,
            "extra__moveworks__timeout": 7,
        }
    )
    settings = MoveworksHook().settings
    assert (settings.assistant_name, settings.timeout) == (ASSISTANT, 12.0)


SECRET = "Q7m-secret/with&marks"


@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_a_secret_encoded_up_to_three_times_is_found(rounds) -> None:
    text = SECRET
    encoders = [
        lambda t: quote(t, safe=""),
        html.escape,
        lambda t: json.dumps(t)[1:-1].replace("&", "\\u0026"),
    ]
    for encode in encoders[:rounds]:
        text = encode(text)
    assert holds_secret(f"echo: {text}", [SECRET])


def test_three_rounds_of_the_same_encoding_are_read_back() -> None:
    text = quote(quote(quote(SECRET, safe=""), safe=""), safe="")
    assert holds_secret(text, [SECRET])


@pytest.mark.parametrize("field", ["conversation_id", "title", "archived"])
def test_the_bulk_guard_refuses_the_key_in_any_field_and_sends_nothing(set_connection, field) -> None:
    set_connection()
    row = {"conversation_id": "conv_a1", "title": "ok", field: f"x {API_KEY}"}
    operator = MoveworksBulkUpdateConversationsOperator(task_id="bulk", updates=[row])
    with responses.RequestsMock() as api, pytest.raises(MoveworksBulkInvalidRowsError) as raised:
        operator.execute({})
    assert len(api.calls) == 0
    assert f"row 1: Invalid {field}: holds this connection's API key" in str(raised.value)
    assert API_KEY not in str(raised.value)
