"""bulk/current.py exactly: the digests, the comparison of each field, the index of the rows'
ids, the walk's two listings, and how ``learn`` picks the way, waits in slices and stops."""

from __future__ import annotations

import hashlib
import threading
import time
from array import array
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_moveworks.bulk import current
from airflow_provider_moveworks.bulk.current import (
    FetchedState,
    ListedState,
    _differences,
    learn,
    title_digest,
)
from airflow_provider_moveworks.bulk.plan import Step, id_hash
from airflow_provider_moveworks.exceptions import MoveworksCancelledError

STOPPED = "Listing conversations: the run was stopped"


def step(cid: str, **body: object) -> Step:
    return Step("send", 1, cid, dict(body))


def ids_of(*cids: str) -> array[int]:
    return array("Q", sorted(id_hash(cid) for cid in cids))


def conv(cid: str, title: str | None, archived: bool) -> dict[str, Any]:
    return {"conversation_id": cid, "title": title, "archived": archived}


class Listing:
    """A client whose listing yields the given conversations for each archived flag, and which
    records each listing asked for, the thread that asked, and ``close()``."""

    def __init__(self, by_flag: dict[bool, list[dict[str, Any]]], delay: float = 0.0) -> None:
        self.by_flag = by_flag
        self.delay = delay
        self.calls: list[tuple[bool, int]] = []
        self.threads: list[tuple[str, bool]] = []
        self.closed = 0

    def list_conversations(self, *, archived: bool, page_size: int) -> Iterator[dict[str, Any]]:
        self.calls.append((archived, page_size))
        thread = threading.current_thread()
        self.threads.append((thread.name, thread.daemon))
        time.sleep(self.delay)
        yield from self.by_flag.get(archived, [])

    def close(self) -> None:
        self.closed += 1


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: object) -> None:
        self.lines.append(message % args)


def loaded(cids: tuple[str, ...], by_flag: dict[bool, list[dict[str, Any]]]) -> ListedState:
    listed = ListedState(ids_of(*cids))
    listed.load(Listing(by_flag), threading.Event())  # type: ignore[arg-type]
    return listed


# -- digests and the comparison of each field -------------------------------------------------
def test_a_title_digest_is_64_bits_of_blake2b_and_none_differs_from_the_text_none() -> None:
    for title in ("T", "None", "", "Old 1", "é"):
        expected = hashlib.blake2b(f"t{title}".encode(), digest_size=8).digest()
        assert title_digest(title) == int.from_bytes(expected, "little")
        assert 0 <= title_digest(title) < 2**64
    assert title_digest(None) == int.from_bytes(hashlib.blake2b(b"\0", digest_size=8).digest(), "little")
    assert title_digest(None) != title_digest("None")


def test_differences_names_exactly_the_fields_of_the_body_that_differ() -> None:
    same = title_digest("T")
    assert _differences({"title": "T", "archived": True}, same, True) == []
    assert _differences({"title": "U", "archived": True}, same, True) == ["title"]
    assert _differences({"title": "T", "archived": False}, same, True) == ["archived"]
    assert _differences({"title": "U", "archived": False}, same, True) == ["title", "archived"]
    # A field the body does not set is never a difference, whatever the conversation holds.
    assert _differences({"archived": True}, title_digest("other"), True) == []
    assert _differences({"title": "T"}, same, False) == []
    # A title that cannot be compared (title=None) is taken as different.
    assert _differences({"title": "T", "archived": True}, None, True) == ["title"]
    assert _differences({"archived": True}, None, True) == []


def test_a_fetched_conversation_is_compared_field_by_field() -> None:
    class Client:
        def __init__(self, answer: dict[str, Any]) -> None:
            self.answer = answer
            self.asked: list[str] = []

        def get_conversation(self, cid: str) -> dict[str, Any]:
            self.asked.append(cid)
            return self.answer

    client = Client({"conversation_id": "c1", "title": "T", "archived": True})
    fetched = FetchedState(client)  # type: ignore[arg-type]
    assert fetched.changes(step("c1", title="T", archived=True)) == []
    assert fetched.changes(step("c1", title="T", archived=False)) == ["archived"]
    assert fetched.changes(step("c1", title="U")) == ["title"]
    assert client.asked == ["c1", "c1", "c1"]
    redacted = FetchedState(Client({"title": "key *** here", "archived": False}))  # type: ignore[arg-type]
    assert redacted.changes(step("c1", title="key *** here", archived=False)) == ["title"]
    with pytest.raises(AssertionError):
        fetched.changes(Step("send", 1, None, {"archived": True}))
    with pytest.raises(AssertionError):
        fetched.changes(Step("send", 1, "c1", None))


# -- the walk ---------------------------------------------------------------------------------
def test_the_walk_lists_unarchived_then_archived_conversations_in_pages_of_100() -> None:
    client = Listing({False: [conv("a", "A", False)], True: [conv("b", "B", True)]})
    listed = ListedState(ids_of("a", "b"))
    listed.load(client, threading.Event())  # type: ignore[arg-type]
    assert client.calls == [(False, 100), (True, 100)]
    assert listed.changes(step("a", title="A", archived=False)) == []
    assert listed.changes(step("b", title="B", archived=True)) == []
    assert listed.changes(step("a", archived=True)) == ["archived"]
    assert listed.changes(step("b", title="A")) == ["title"]


def test_a_conversation_listed_twice_alike_is_unchanged_and_its_title_is_kept() -> None:
    twice = [conv("a", "A", False), conv("a", "A", False)]
    listed = loaded(("a",), {False: twice})
    assert listed.changes(step("a", title="A", archived=False)) == []
    assert listed.changes(step("a", title=None)) == ["title"]


def test_a_listed_title_of_none_is_compared_as_none() -> None:
    listed = loaded(("a",), {False: [conv("a", None, False)]})
    assert listed.changes(step("a", title=None, archived=False)) == []
    assert listed.changes(step("a", title="None")) == ["title"]


def test_a_redacted_title_listed_under_its_own_flag_sends_every_field() -> None:
    listed = loaded(("a",), {True: [conv("a", "k *** k", True)]})
    assert listed.changes(step("a", archived=True)) == ["archived"]
    assert listed.changes(step("a", title="k *** k", archived=True)) == ["title", "archived"]


def test_conversations_the_rows_do_not_name_are_ignored_wherever_their_hash_sorts() -> None:
    rows = ("row-a", "row-b", "row-c")
    hashes = sorted(id_hash(cid) for cid in rows)
    # Conversations whose hash sorts before, between and after the rows' hashes.
    others = [f"other-{n}" for n in range(200)]
    below = next(cid for cid in others if id_hash(cid) < hashes[0])
    between = next(cid for cid in others if hashes[0] < id_hash(cid) < hashes[-1])
    above = next(cid for cid in others if id_hash(cid) > hashes[-1])
    listing = [conv(cid, "X", True) for cid in (below, between, above)]
    listed = loaded(rows, {False: listing})  # listed archived in the unarchived walk: unclear
    for cid in rows:
        assert listed.changes(step(cid, archived=True)) is None
    for cid in (below, between, above):
        assert listed.changes(step(cid, archived=True)) is None


def test_a_stop_ends_the_walk_at_the_next_conversation() -> None:
    stop = threading.Event()
    stop.set()
    client = Listing({False: [conv("a", "A", False)], True: [conv("b", "B", True)]})
    with pytest.raises(MoveworksCancelledError, match=STOPPED):
        ListedState(ids_of("a", "b")).load(client, stop)  # type: ignore[arg-type]
    assert client.calls == [(False, 100)]
    # Nothing listed: nothing to stop at, and nothing seen.
    empty = ListedState(ids_of("a"))
    empty.load(Listing({}), stop)  # type: ignore[arg-type]
    assert empty.changes(step("a", archived=True)) is None


def test_changes_needs_an_id_and_a_body() -> None:
    listed = loaded(("a",), {False: [conv("a", "A", False)]})
    with pytest.raises(AssertionError):
        listed.changes(Step("send", 1, None, {"archived": True}))
    with pytest.raises(AssertionError):
        listed.changes(Step("send", 1, "a", None))


# -- learn --------------------------------------------------------------------------------------
def test_auto_walks_the_listing_from_1000_rows_to_send_and_gets_each_row_below() -> None:
    many = array("Q", range(1000))
    log = Log()
    client = Listing({})
    assert isinstance(learn("auto", many, client, threading.Event(), log), ListedState)  # type: ignore[arg-type]
    assert isinstance(learn("auto", many[:999], client, threading.Event(), log), FetchedState)  # type: ignore[arg-type]
    assert isinstance(learn("get", many, client, threading.Event(), log), FetchedState)  # type: ignore[arg-type]
    assert isinstance(learn("listing", many[:1], client, threading.Event(), log), ListedState)  # type: ignore[arg-type]
    assert log.lines == [
        "Current state: one walk of the listing for 1,000 rows to send",
        "Current state: one GET per row to send (999 rows)",
        "Current state: one GET per row to send (1,000 rows)",
        "Current state: one walk of the listing for 1 rows to send",
    ]


def test_learn_walks_in_a_daemon_thread_of_its_own_and_waits_for_it() -> None:
    client = Listing({False: [conv("a", "A", False)], True: [conv("b", "B", True)]}, delay=0.15)
    listed = learn("listing", ids_of("a", "b"), client, threading.Event(), Log())  # type: ignore[arg-type]
    assert client.threads == [("moveworks-listing", True), ("moveworks-listing", True)]
    assert client.closed == 0
    assert listed.changes(step("a", title="A", archived=False)) == []
    assert listed.changes(step("b", archived=False)) == ["archived"]


def test_an_error_of_the_walk_is_raised_in_the_callers_thread() -> None:
    class Failing(Listing):
        def list_conversations(self, *, archived: bool, page_size: int) -> Iterator[dict[str, Any]]:
            raise ConnectionError("listing failed")

    with pytest.raises(ConnectionError, match="listing failed"):
        learn("listing", ids_of("a"), Failing({}), threading.Event(), Log())  # type: ignore[arg-type]


class Blocked(Listing):
    """A listing whose first page never comes until the client is closed (a closed session ends
    the request in flight with an error)."""

    def __init__(self) -> None:
        super().__init__({})
        self.released = threading.Event()

    def list_conversations(self, *, archived: bool, page_size: int) -> Iterator[dict[str, Any]]:
        self.calls.append((archived, page_size))
        self.released.wait(10)
        raise ConnectionError("the session was closed")
        yield {}  # a generator, like the client's

    def close(self) -> None:
        super().close()
        self.released.set()


def test_a_stop_closes_the_client_and_ends_the_walk_at_once() -> None:
    client, stop = Blocked(), threading.Event()
    threading.Timer(0.05, stop.set).start()
    with pytest.raises(MoveworksCancelledError, match=STOPPED):
        learn("listing", ids_of("a"), client, stop, Log())  # type: ignore[arg-type]
    assert client.closed == 1
    assert client.released.is_set()


def test_learn_waits_in_slices_of_a_tenth_of_a_second_then_a_second_after_a_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The slices bound how long a stop waits: one slice to notice it, ten for the walk to end."""
    joins: list[float] = []
    made: list[dict[str, Any]] = []

    class Thread(threading.Thread):
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)
            super().__init__(**kwargs)

        def join(self, timeout: float | None = None) -> None:
            joins.append(timeout)  # type: ignore[arg-type]
            super().join(timeout)

    monkeypatch.setattr(current, "threading", type("threading", (), {"Thread": Thread}))
    client, stop = Blocked(), threading.Event()
    threading.Timer(0.25, stop.set).start()
    with pytest.raises(MoveworksCancelledError, match=STOPPED):
        learn("listing", ids_of("a"), client, stop, Log())  # type: ignore[arg-type]
    assert [(kwargs["name"], kwargs["daemon"]) for kwargs in made] == [("moveworks-listing", True)]
    assert len(joins) >= 3
    assert joins[:-1] == [0.1] * (len(joins) - 1)
    assert joins[-1] == pytest.approx(1.0)
