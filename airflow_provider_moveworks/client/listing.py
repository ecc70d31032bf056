"""Walking the list operation page by page, each conversation once, and never without end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import requests

from airflow_provider_moveworks.client.call import ApiCall
from airflow_provider_moveworks.client.responses import Redact, conversation, json_object, list_page
from airflow_provider_moveworks.exceptions import MoveworksClientError

# Empty pages that still carry a cursor, in a row, before the walk is given up as a loop.
MAX_EMPTY_PAGES = 3


def walk_pages(
    url: str,
    params: dict[str, Any],
    send: Callable[[ApiCall], requests.Response],
    redact: Redact,
) -> Iterator[dict[str, Any]]:
    """Every conversation of every page, as answered (checked, not yet redacted), following
    ``metadata.next_cursor``. A conversation seen on an earlier page (the list shifted under the
    walk, or a server repeating itself under new cursors) is yielded once. A cursor seen before,
    or more than :data:`MAX_EMPTY_PAGES` pages in a row with a cursor but nothing new, is a
    :class:`MoveworksClientError`."""
    seen_cursors: set[str] = set()
    seen_ids: set[str] = set()
    empty_pages = 0
    while True:
        call = ApiCall("GET", url, "Listing conversations", params=params)
        response = send(call)
        items, cursor = list_page(json_object(response, call.purpose, redact), response, call.purpose, redact)
        new = 0
        for item in items:
            found = conversation(item, response, call.purpose, redact)
            if found["conversation_id"] not in seen_ids:
                seen_ids.add(found["conversation_id"])
                new += 1
                yield found
        if cursor is None:
            return
        empty_pages = 0 if new else empty_pages + 1
        if empty_pages > MAX_EMPTY_PAGES:
            raise MoveworksClientError(
                f"{call.purpose}: the API returned {empty_pages} pages in a row that were empty or held "
                "only conversations already listed, each with a further cursor; stopped rather than "
                "follow it without end"
            )
        if cursor in seen_cursors:
            raise MoveworksClientError(
                f"{call.purpose}: the API returned the cursor of an earlier page again"
            )
        seen_cursors.add(cursor)
        params = {**params, "cursor": cursor}
