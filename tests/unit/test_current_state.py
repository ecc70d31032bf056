"""The listing compared in memory: doubt always leads to sending."""

from __future__ import annotations

import threading
from array import array

from airflow_provider_moveworks.bulk.current import ListedState
from airflow_provider_moveworks.bulk.plan import Step, id_hash

CID = "conv_a1"


class Listing:
    """A client whose listing yields the given conversations for each archived flag."""

    def __init__(self, by_flag: dict[bool, list[dict]]) -> None:
        self.by_flag = by_flag

    def list_conversations(self, *, archived: bool, page_size: int):
        assert page_size == 100
        yield from self.by_flag.get(archived, [])


def state_of(by_flag: dict[bool, list[dict]]) -> ListedState:
    listed = ListedState(array("Q", [id_hash(CID)]))
    listed.load(Listing(by_flag), threading.Event())  # type: ignore[arg-type]
    return listed


def conversation(title: str | None, archived: bool) -> dict:
    return {"conversation_id": CID, "title": title, "archived": archived}


def step(**body: object) -> Step:
    return Step("send", 1, CID, dict(body))


def test_a_conversation_as_asked_is_unchanged_and_one_that_differs_names_its_fields() -> None:
    listed = state_of({True: [conversation("T", True)]})
    assert listed.changes(step(archived=True)) == []
    assert listed.changes(step(archived=False, title="T")) == ["archived"]
    assert listed.changes(step(title="Other", archived=True)) == ["title"]


def test_a_conversation_not_listed_is_unknown() -> None:
    assert state_of({}).changes(step(archived=True)) is None


def test_a_conversation_listed_twice_with_different_states_is_sent() -> None:
    listed = state_of({False: [conversation("T", False)], True: [conversation("T", True)]})
    assert listed.changes(step(archived=True)) == ["archived"]


def test_a_conversation_listed_under_the_other_archived_flag_is_sent() -> None:
    listed = state_of({False: [conversation("T", True)]})  # the unarchived walk shows it archived
    assert listed.changes(step(archived=True)) == ["archived"]


def test_a_title_redaction_changed_is_compared_as_different() -> None:
    listed = state_of({False: [conversation("Key rotation *** done", False)]})
    assert listed.changes(step(title="Key rotation *** done")) == ["title"]
