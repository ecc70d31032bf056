"""client/listing.py exactly: empty pages that still carry a cursor are counted one by one, and
the walk gives up after MAX_EMPTY_PAGES of them in a row, naming how many it saw."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_moveworks.client.listing import MAX_EMPTY_PAGES, walk_pages
from airflow_provider_moveworks.exceptions import MoveworksClientError


def page(cursor: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = 200
    answer._content = json.dumps({"conversations": [], "metadata": {"next_cursor": cursor}}).encode()
    answer.headers["Content-Type"] = "application/json"
    return answer


def test_empty_pages_with_a_cursor_are_counted_one_by_one_until_the_walk_gives_up() -> None:
    asked: list[Any] = []

    def send(call: Any) -> requests.Response:
        asked.append(call.params.get("cursor"))
        return page(f"c{len(asked)}")

    with pytest.raises(MoveworksClientError) as raised:
        list(walk_pages("https://moveworks.test/conversations", {"page_size": 100}, send, str))
    assert MAX_EMPTY_PAGES == 3
    assert asked == [None, "c1", "c2", "c3"]  # the 4th empty page in a row ends the walk
    assert str(raised.value).startswith(
        "Listing conversations: the API returned 4 pages in a row that were empty or held only "
        "conversations already listed"
    )
