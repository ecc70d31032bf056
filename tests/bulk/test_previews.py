"""See before you change, send only what changes: dry runs and skip_unchanged against the
emulator, with its counters proving what was (not) sent."""

from __future__ import annotations

import json

import pytest

from airflow_provider_moveworks.operators.moveworks import MoveworksUpdateConversationOperator
from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS
from tests.bulk.conftest import state
from tests.bulk.test_resume import MemoryStateStore, context

pytestmark = pytest.mark.integration

MISSING = "conv_0000000000000000000missing"


def mixed_rows(emu, ids: list[str]) -> list[dict]:
    """Row 1 retitles, row 2 asks what is already so, row 3 is missing, row 4 is invalid, row 5
    repeats row 1, row 6 archives and retitles."""
    emu.configure()  # no faults
    already = emu.get(ids[1])
    return [
        {"conversation_id": ids[0], "title": "New title"},
        {"conversation_id": ids[1], "title": already["title"], "archived": already["archived"]},
        {"conversation_id": MISSING, "archived": True},
        {"conversation_id": "conv_bad-id", "archived": True},
        {"conversation_id": ids[0], "title": "New title"},
        {"conversation_id": ids[2], "title": "Another", "archived": True},
    ]


@pytest.mark.parametrize("current_state", ["get", "listing"])
def test_a_dry_run_sends_no_patch_and_says_what_each_row_would_do(
    make_operator, add_conversations, emulator_connection, tmp_path, current_state
) -> None:
    emu = emulator_connection
    ids = add_conversations(3)
    before = state(emu)
    report = tmp_path / "report.jsonl"

    summary = make_operator(
        updates=mixed_rows(emu, ids),
        dry_run="true",  # as a rendered template gives it
        current_state=current_state,
        report_file=str(report),
        on_invalid="fail",  # a preview reports invalid rows instead of failing on them
    ).execute(context())

    assert emu.request_count(method="PATCH") == 0
    assert state(emu) == before
    assert {
        k: summary[k]
        for k in (
            "total",
            "would_update",
            "unchanged",
            "not_found",
            "invalid",
            "duplicates",
            "updated",
            "failed",
        )
    } == {
        "total": 6,
        "would_update": 2,
        "unchanged": 1,
        "not_found": 1,
        "invalid": 1,
        "duplicates": 1,
        "updated": 0,
        "failed": 0,
    }
    assert summary["dry_run"] is True
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    said = {line["row"]: (line["outcome"], line["message"]) for line in lines}
    missing = (
        "not in the listing of conversations"
        if current_state == "listing"
        else f"Reading conversation {MISSING}: Moveworks answered 404 NOT_FOUND"
    )
    assert said[3][0] == "not_found"
    assert said[3][1].startswith(missing)
    assert {row: said[row] for row in (1, 2, 5, 6)} == {
        1: ("would_update", "would change title"),
        2: ("unchanged", "already as asked; not sent"),
        5: ("duplicate", "same change as row 1; sent once"),
        6: ("would_update", "would change title and archived"),
    }
    assert said[4][0] == "invalid"
    assert all(line["dry_run"] is True for line in lines)
    gets = emu.request_count(method="GET", route="/conversations/{id}")
    lists = emu.request_count(method="GET", route="/conversations")
    assert (gets, lists) == ((4, 0) if current_state == "get" else (0, 2))


def test_a_dry_run_neither_reads_nor_saves_progress(
    make_operator, add_conversations, emulator_connection
) -> None:
    ids = add_conversations(2)
    store = MemoryStateStore()
    updates = [{"conversation_id": c, "archived": True} for c in ids]
    make_operator(updates=updates, dry_run=True).execute(context(store))
    assert (store.sets, store.values) == (0, {})


def test_a_dry_run_log_headline_carries_the_counts(
    make_operator, add_conversations, emulator_connection, capfd
) -> None:
    ids = add_conversations(2)
    make_operator(updates=[{"conversation_id": c, "archived": True} for c in ids], dry_run=True).execute({})
    assert (
        "Dry run of 2 rows: 2 would update, 0 unchanged, 0 not found, 0 failed, 0 invalid, 0 duplicates; "
        "nothing was sent"
    ) in capfd.readouterr().out


@pytest.mark.parametrize("current_state", ["get", "listing", "auto"])
def test_skip_unchanged_sends_only_the_rows_that_differ(
    make_operator, add_conversations, emulator_connection, current_state
) -> None:
    emu = emulator_connection
    ids = add_conversations(10)
    updates = [{"conversation_id": c, "archived": True} for c in ids]
    make_operator(updates=updates[:8]).execute({})  # 8 archived already
    emu.reset_counters()

    summary = make_operator(updates=updates, skip_unchanged=True, current_state=current_state).execute({})

    assert (summary["updated"], summary["unchanged"], summary["total"]) == (2, 8, 10)
    assert emu.request_count(method="PATCH") == 2
    assert all(archived for _, archived in state(emu).values())


def test_skip_unchanged_still_sends_a_row_the_listing_did_not_show(
    make_operator, add_conversations, emulator_connection
) -> None:
    emu = emulator_connection
    add_conversations(1)
    summary = make_operator(
        updates=[{"conversation_id": MISSING, "archived": True}], skip_unchanged=True, current_state="listing"
    ).execute({})
    assert (summary["not_found"], summary["failures"][0]["status"]) == (1, 404)  # the PATCH said so
    assert emu.request_count(method="PATCH", status=404) == 1


@pytest.mark.parametrize(("title", "expected"), [("Old 0", []), ("Renamed", ["title"])])
def test_the_single_operator_s_dry_run_reads_once_and_sends_nothing(
    add_conversations, emulator_connection, title, expected
) -> None:
    emu = emulator_connection
    (cid,) = add_conversations(1)
    result = MoveworksUpdateConversationOperator(
        task_id="one", conversation_id=cid, title=title, dry_run="true"
    ).execute({})
    assert result["dry_run"] is True
    assert (result["conversation_id"], result["would_change"]) == (cid, expected)
    assert result["current"]["title"] == "Old 0"
    assert emu.request_count(method="PATCH") == 0
    assert emu.request_count(method="GET") == 1


class OutletEvents:
    """Airflow's outlet_events accessor, recording what the operator adds."""

    def __init__(self) -> None:
        self.added: list[tuple[str, dict]] = []

    def __getitem__(self, outlet):
        recorder = self

        class Accessor:
            extra: dict = {}

            def add(self, asset, extra=None):
                recorder.added.append((asset.uri, dict(extra or {})))

        return Accessor()


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="asset events are Airflow 3 only")
def test_a_retry_that_only_resumes_announces_no_change(
    make_operator, add_conversations, emulator_connection
) -> None:
    from airflow_provider_moveworks.assets import moveworks_conversations_asset

    ids = add_conversations(3)
    store = MemoryStateStore()
    updates = [{"conversation_id": c, "archived": True} for c in ids]
    first, second = OutletEvents(), OutletEvents()
    outlets = [moveworks_conversations_asset()]
    make_operator(updates=updates, outlets=outlets).execute({**context(store), "outlet_events": first})
    summary = make_operator(updates=updates, outlets=outlets).execute(
        {**context(store), "outlet_events": second}
    )
    assert summary["resumed"] == 3
    assert [extra["updated"] for _, extra in first.added] == [3]
    assert second.added == []


def test_a_stop_during_the_listing_walk_ends_the_run_at_once(
    make_operator, add_conversations, emulator_connection
) -> None:
    import threading
    import time

    from airflow_provider_moveworks.exceptions import MoveworksBulkInterruptedError

    emu = emulator_connection
    ids = add_conversations(2)
    emu.configure(latency=20.0)  # every page takes 20 s
    operator = make_operator(
        updates=[{"conversation_id": c, "archived": True} for c in ids],
        skip_unchanged=True,
        current_state="listing",
    )
    threading.Timer(0.5, operator.on_kill).start()
    started = time.monotonic()
    with pytest.raises(MoveworksBulkInterruptedError, match=r"stopped .*by on_kill"):
        operator.execute(context())
    assert time.monotonic() - started < 3
    assert emu.request_count(method="PATCH") == 0
