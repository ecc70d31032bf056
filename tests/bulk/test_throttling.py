"""The server's rate limit, with and without Retry-After, and the operator's own cap."""

from __future__ import annotations

import time

import pytest

from tests.bulk.conftest import state

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("retry_after", [True, False], ids=["with-retry-after", "without-retry-after"])
def test_a_server_rate_limit_still_updates_every_row(make_operator, add_conversations, emulator, retry_after):
    ids = add_conversations(120)
    emulator.configure(rate_limit=60, retry_after=retry_after)

    summary = make_operator(updates=[{"conversation_id": c, "archived": True} for c in ids]).execute({})

    assert summary["updated"] == 120
    assert summary["total"] == 120
    assert summary["throttled"] == emulator.request_count(method="PATCH", status=429) > 0
    assert summary["requests"] == emulator.request_count(method="PATCH")
    assert summary["retries"] == summary["requests"] - 120
    assert all(archived for _, archived in state(emulator).values())


def test_max_requests_per_second_caps_the_send_rate(make_operator, add_conversations, emulator):
    ids = add_conversations(31)

    started = time.monotonic()
    summary = make_operator(
        updates=[{"conversation_id": c, "archived": True} for c in ids], max_requests_per_second=60
    ).execute({})
    elapsed = time.monotonic() - started

    assert summary["updated"] == 31
    # 31 requests at 60/s: 30 intervals of 1/60 s, less the limiter's 50 ms burst allowance.
    assert elapsed >= 0.4
    assert summary["throttled"] == 0
