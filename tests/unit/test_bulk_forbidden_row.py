"""A 403 stops a bulk run only while nothing of the run has been updated: before that it refuses
the assistant name sent with every row; after that it is about that one conversation."""

from __future__ import annotations

import pytest
import responses

from airflow_provider_moveworks.exceptions import MoveworksBulkStoppedError, MoveworksBulkUpdateError
from airflow_provider_moveworks.operators.bulk import MoveworksBulkUpdateConversationsOperator
from tests.conftest import BASE_URL

IDS = [f"conv_row{n}" for n in range(1, 5)]


def answer(conversation_id: str) -> dict[str, object]:
    return {
        "conversation_id": conversation_id,
        "title": "x",
        "archived": False,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
    }


def forbidden() -> dict[str, object]:
    return {"error": {"code": "FORBIDDEN", "message": "Not allowed for this conversation"}}


def run(forbidden_id: str) -> MoveworksBulkUpdateConversationsOperator:
    operator = MoveworksBulkUpdateConversationsOperator(
        task_id="bulk", updates=[{"conversation_id": c, "title": "x"} for c in IDS], max_concurrency=1
    )
    operator._client_sleep = lambda seconds: None  # type: ignore[assignment]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        for conversation_id in IDS:
            url = f"{BASE_URL}/conversations/{conversation_id}"
            if conversation_id == forbidden_id:
                api.patch(url, status=403, json=forbidden())
            else:
                api.patch(url, json=answer(conversation_id))
        operator.execute({})
    return operator


def test_a_403_after_an_update_succeeded_is_that_row_s_failure(set_connection) -> None:
    set_connection()
    with pytest.raises(MoveworksBulkUpdateError) as raised:
        run(forbidden_id=IDS[2])
    summary = raised.value.summary
    assert (summary["total"], summary["updated"], summary["failed"]) == (4, 3, 1)
    assert [
        (f["row"], f["conversation_id"], f["outcome"], f["status"], f["code"]) for f in summary["failures"]
    ] == [(3, IDS[2], "failed", 403, "FORBIDDEN")]


def test_a_403_before_any_update_stops_the_run(set_connection) -> None:
    set_connection()
    with pytest.raises(MoveworksBulkStoppedError, match="Moveworks refused the assistant name"):
        run(forbidden_id=IDS[0])
