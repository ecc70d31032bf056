"""What each conversation holds now, for a dry run and for ``skip_unchanged``: learned by one walk
of the listing (pages of 100, both archived states), or by one GET per row to send.

The walk keeps 18 bytes per row to send, never the conversations: the sorted id hashes of the
rows (from the plan), and beside each the digest of its current title and its archived flag.
"""

from __future__ import annotations

import hashlib
import threading
from array import array
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_moveworks.bulk.plan import Step, id_hash
from airflow_provider_moveworks.exceptions import MoveworksCancelledError

if TYPE_CHECKING:
    from airflow_provider_moveworks.client.client import MoveworksClient

# With ``auto``, this many rows to send or more are compared with one walk of the listing, fewer
# with one GET each: a page holds 100 conversations, so from 1,000 rows the walk costs fewer
# requests than the GETs on accounts of up to 100,000 conversations (docs/previews.md).
LISTING_FROM_ROWS = 1_000
LISTING_PAGE_SIZE = 100
# How often the run's thread looks for a stop while the listing is walked.
WAIT_SLICE = 0.1
_ABSENT, _PRESENT, _UNCLEAR = 0, 1, 2
# What redaction leaves in a title: a title that holds it cannot be compared, so it is sent.
_REDACTED = "***"


class CurrentState(Protocol):
    def changes(self, step: Step) -> list[str] | None:
        """The fields of ``step``'s update that differ from the conversation now (empty: it is
        already as asked); ``None`` when the listing did not show it (the PATCH will tell). A
        GET's errors are raised (:class:`MoveworksNotFoundError` for a 404)."""


def title_digest(title: Any) -> int:
    """A 64-bit digest of a title (``None`` included)."""
    text = "\0" if title is None else f"t{title}"
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def _comparable_title(title: Any) -> int | None:
    """The digest of a title as answered, or ``None`` when redaction may have changed it."""
    if isinstance(title, str) and _REDACTED in title:
        return None
    return title_digest(title)


def _differences(body: dict[str, Any], title: int | None, archived: bool) -> list[str]:
    """The fields of ``body`` that differ; ``title=None``: the title as listed cannot be compared."""
    changed = []
    if "title" in body and (title is None or title_digest(body["title"]) != title):
        changed.append("title")
    if "archived" in body and body["archived"] != archived:
        changed.append("archived")
    return changed


class FetchedState:
    """One GET per row, through the run's client (paced, retried, stopped like the PATCHes)."""

    def __init__(self, client: MoveworksClient) -> None:
        self._client = client

    def changes(self, step: Step) -> list[str]:
        assert step.conversation_id is not None
        assert step.body is not None
        now = self._client.get_conversation(step.conversation_id)
        return _differences(step.body, _comparable_title(now.get("title")), now["archived"])


class ListedState:
    """One walk of the listing, compared in memory with the rows to send.

    :param ids: the sorted :func:`id_hash` of every conversation a row sends to.
    """

    def __init__(self, ids: array[int]) -> None:
        self._ids = ids
        self._titles = array("Q", bytes(8 * len(ids)))
        self._archived = bytearray(len(ids))
        self._seen = bytearray(len(ids))
        self.pages = 0

    def load(self, client: MoveworksClient, stop: threading.Event) -> None:
        """Walk every conversation, archived or not; keep the state of those the rows name. A
        conversation listed twice with different states, or under the other archived flag, is
        unclear: its row is sent."""
        for archived in (False, True):
            for conversation in client.list_conversations(archived=archived, page_size=LISTING_PAGE_SIZE):
                if stop.is_set():
                    raise MoveworksCancelledError("Listing conversations: the run was stopped")
                index = self._index(conversation["conversation_id"])
                if index is not None:
                    self._keep(index, conversation, archived)

    def _keep(self, index: int, conversation: dict[str, Any], walk: bool) -> None:
        title = _comparable_title(conversation.get("title"))
        flag = bool(conversation["archived"])
        if title is None or flag != walk:
            self._seen[index] = _UNCLEAR
        elif self._seen[index] == _ABSENT:
            self._seen[index] = _PRESENT
            self._titles[index] = title
            self._archived[index] = flag
        elif (self._titles[index], bool(self._archived[index])) != (title, flag):
            self._seen[index] = _UNCLEAR

    def changes(self, step: Step) -> list[str] | None:
        assert step.conversation_id is not None
        assert step.body is not None
        index = self._index(step.conversation_id)
        if index is None or self._seen[index] == _ABSENT:
            return None
        if self._seen[index] == _UNCLEAR:
            return list(step.body)  # every field asked: sent, or in a dry run would be
        return _differences(step.body, self._titles[index], bool(self._archived[index]))

    def _index(self, conversation_id: str) -> int | None:
        hashed = id_hash(conversation_id)
        index = bisect_left(self._ids, hashed)
        return index if index < len(self._ids) and self._ids[index] == hashed else None


def learn(
    mode: str, ids: array[int], client: MoveworksClient, stop: threading.Event, log: Any
) -> CurrentState:
    """The current state of the conversations ``ids`` names, the way ``mode`` says (``auto``:
    the listing from :data:`LISTING_FROM_ROWS` rows to send, else GETs). The walk runs in a
    thread of its own, so that a stop ends it at once: the caller waits in slices, and once
    ``stop`` is set the client is closed, which ends the page in flight."""
    if mode == "auto":
        mode = "listing" if len(ids) >= LISTING_FROM_ROWS else "get"
    if mode == "get":
        log.info("Current state: one GET per row to send (%s rows)", f"{len(ids):,}")
        return FetchedState(client)
    log.info("Current state: one walk of the listing for %s rows to send", f"{len(ids):,}")
    listed = ListedState(ids)
    failure: list[BaseException] = []

    def walk() -> None:
        try:
            listed.load(client, stop)
        except BaseException as error:  # raised again in the caller's thread
            failure.append(error)

    walker = threading.Thread(target=walk, name="moveworks-listing", daemon=True)
    walker.start()
    while walker.is_alive():
        walker.join(WAIT_SLICE)
        if stop.is_set():
            client.close()
            walker.join(WAIT_SLICE * 10)
            raise MoveworksCancelledError("Listing conversations: the run was stopped")
    if failure:
        raise failure[0]
    return listed
