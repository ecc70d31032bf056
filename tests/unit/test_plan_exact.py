"""bulk/plan.py exactly: an input rewritten between the validation pass and the sending pass (each
changed, new or missing row counted once), the invalid rows quoted redacted, and the examples of
invalid rows and conflicts (ten at most, in row order)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_moveworks.bulk.plan import QUOTED_INVALID_ROWS, Plan, Step
from airflow_provider_moveworks.bulk.rows import RowSource

A, B, C = "conv_a1", "conv_b2", "conv_c3"
MISSING = "the row went missing from the input between the validation pass and the sending pass"
CHANGED = "the row changed between the validation pass and the sending pass"


def write(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def scanned(tmp_path: Path, rows: list[Any], **kwargs: Any) -> tuple[Plan, Path]:
    path = tmp_path / "updates.jsonl"
    write(path, rows)
    plan = Plan(RowSource(updates_file=str(path)), **kwargs)
    plan.scan()
    return plan, path


def test_an_input_emptied_before_the_sending_pass_makes_every_row_missing(tmp_path: Path) -> None:
    plan, path = scanned(
        tmp_path, [{"conversation_id": A, "archived": True}, {"conversation_id": B, "archived": True}]
    )
    path.write_text("")
    assert list(plan.steps()) == [
        Step("invalid", 1, None, message=MISSING),
        Step("invalid", 2, None, message=MISSING),
    ]
    assert plan.changed == 2


def test_rows_missing_at_the_end_are_counted_once_each(tmp_path: Path) -> None:
    rows = [{"conversation_id": cid, "archived": True} for cid in (A, B, C)]
    plan, path = scanned(tmp_path, rows)
    write(path, rows[:1])
    assert list(plan.steps()) == [
        Step("send", 1, A, {"archived": True}),
        Step("invalid", 2, None, message=MISSING),
        Step("invalid", 3, None, message=MISSING),
    ]
    assert plan.changed == 2


def test_a_row_whose_change_was_rewritten_is_counted_once(tmp_path: Path) -> None:
    plan, path = scanned(
        tmp_path, [{"conversation_id": A, "archived": True}, {"conversation_id": B, "archived": True}]
    )
    write(path, [{"conversation_id": A, "archived": False}, {"conversation_id": B, "archived": True}])
    assert list(plan.steps()) == [
        Step("invalid", 1, A, message=CHANGED),
        Step("send", 2, B, {"archived": True}),
    ]
    assert plan.changed == 1


def test_an_invalid_row_is_a_change_only_if_it_was_valid_or_is_new(tmp_path: Path) -> None:
    plan, path = scanned(tmp_path, ["not a mapping", {"conversation_id": A, "archived": True}])
    assert plan.invalid == 1
    # Still invalid: not a change.
    assert [step.action for step in plan.steps()] == ["invalid", "send"]
    assert plan.changed == 0
    # Valid at the validation pass, invalid now: one change.
    write(path, ["not a mapping", "not a mapping either"])
    assert [step.action for step in plan.steps()] == ["invalid", "invalid"]
    assert plan.changed == 1
    # A new row past the rows validated, invalid: one change.
    write(path, ["not a mapping", {"conversation_id": A, "archived": True}, "new"])
    assert [step.action for step in plan.steps()] == ["invalid", "send", "invalid"]
    assert plan.changed == 1


def test_an_invalid_row_is_quoted_redacted_in_its_step(tmp_path: Path) -> None:
    def redact(text: str) -> str:
        return text.replace("SECRET", "***")

    plan, _ = scanned(tmp_path, ["SECRET-1"], redact=redact)
    (step,) = list(plan.steps())
    assert step == Step("invalid", 1, None, message="Invalid row: must be a JSON object, got '***-1'")
    assert plan.examples == [(1, "Invalid row: must be a JSON object, got '***-1'")]


def test_ten_conflicts_are_all_quoted(tmp_path: Path) -> None:
    ids = [f"conv_x{n}" for n in range(QUOTED_INVALID_ROWS)]
    rows = [{"conversation_id": cid, "archived": True} for cid in ids]
    rows += [{"conversation_id": cid, "archived": False} for cid in ids]
    plan, _ = scanned(tmp_path, rows)
    assert QUOTED_INVALID_ROWS == 10
    assert (plan.total, plan.sends, plan.invalid) == (20, 0, 20)
    assert plan.examples == [
        (
            n + 1,
            f"rows {n + 1} and {n + 11} (of 2) ask for different changes to {cid}; none of them is sent",
        )
        for n, cid in enumerate(ids)
    ]


def test_invalid_rows_and_conflicts_are_quoted_in_row_order(tmp_path: Path) -> None:
    rows = [
        {"conversation_id": A, "archived": True},
        "not a mapping",
        {"conversation_id": A, "archived": False},
    ]
    plan, _ = scanned(tmp_path, rows)
    assert plan.examples == [
        (1, f"rows 1 and 3 (of 2) ask for different changes to {A}; none of them is sent"),
        (2, "Invalid row: must be a JSON object, got 'not a mapping'"),
    ]
