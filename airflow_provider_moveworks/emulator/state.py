"""The in-memory conversation store: one lock, deep-copied snapshots, monotonic timestamps."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypedDict

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DAY_US = 86_400 * 1_000_000
_SUBJECTS = (
    "VPN access",
    "Password reset",
    "Laptop replacement",
    "Expense report",
    "Benefits enrollment",
    "Badge access",
    "Software license",
    "Printer setup",
    "PTO balance",
    "Onboarding checklist",
    "Email distribution list",
    "Payroll question",
)
_SUFFIXES = ("request", "issue", "question", "follow-up", "help", "status")


class Conversation(TypedDict):
    """A conversation exactly as the API serialises it."""

    conversation_id: str
    title: str | None
    archived: bool
    created_at: str
    updated_at: str


def to_us(value: datetime | str) -> int:
    """Convert an aware datetime or an ISO 8601 string to integer microseconds since the epoch."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        # Naive datetimes are taken as UTC: the API only ever speaks UTC.
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // timedelta(microseconds=1)


def format_us(us: int) -> str:
    """Format microseconds since the epoch as ISO 8601 UTC with a ``Z`` suffix."""
    # isoformat on a naive datetime is several times faster than strftime.
    return (_NAIVE_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds") + "Z"


def start_of_today_us() -> int:
    """Microseconds at the start of the current UTC day (the default anchor for seed data)."""
    now = time.time_ns() // 1000
    return now - now % _DAY_US


@dataclass
class _Record:
    conversation_id: str
    title: str | None
    archived: bool
    created_us: int
    updated_us: int
    # Formatting is the costliest part of a reply; do it once per change, not once per read.
    created_at: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        self.created_at = format_us(self.created_us)
        self.updated_at = format_us(self.updated_us)

    def touch(self, updated_us: int) -> None:
        """Set ``updated_at``."""
        self.updated_us = updated_us
        self.updated_at = format_us(updated_us)

    def key(self) -> tuple[int, str]:
        """Sort key: newest ``updated_at`` first, ties broken by id (both descending)."""
        return (self.updated_us, self.conversation_id)

    def public(self) -> Conversation:
        return Conversation(
            conversation_id=self.conversation_id,
            title=self.title,
            archived=self.archived,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class ConversationStore:
    """Thread-safe conversation storage; every read returns fresh dicts the caller may mutate.

    :param rng: the source of ids and seed data, so a seeded ``random.Random`` makes both repeatable.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}
        self._last_us = 0

    def _new_id(self) -> str:
        while True:
            cid = "conv_" + "".join(self._rng.choice(_BASE62) for _ in range(21))
            if cid not in self._records:
                return cid

    def _tick(self, floor_us: int = 0) -> int:
        # Strictly increasing across the whole store, so two fast PATCHes never share updated_at
        # and list order is always well defined.
        now = max(time.time_ns() // 1000, self._last_us + 1, floor_us + 1)
        self._last_us = now
        return now

    def seed(self, count: int, archived_share: float, anchor_us: int) -> None:
        """Add ``count`` deterministic conversations spread over the 365 days before ``anchor_us``."""
        with self._lock:
            for _ in range(count):
                created = anchor_us - self._rng.randrange(365 * _DAY_US)
                updated = created + self._rng.randrange(anchor_us - created + 1)
                title = f"{self._rng.choice(_SUBJECTS)} {self._rng.choice(_SUFFIXES)}"
                archived = self._rng.random() < archived_share
                cid = self._new_id()
                self._records[cid] = _Record(cid, title, archived, created, updated)

    def create(
        self,
        title: str | None = None,
        archived: bool = False,
        created_us: int | None = None,
        updated_us: int | None = None,
    ) -> Conversation:
        """Create a conversation; missing timestamps are "now" (``updated_at`` >= ``created_at``)."""
        with self._lock:
            now = self._tick()
            created = now if created_us is None else created_us
            updated = max(created, now) if updated_us is None else updated_us
            record = _Record(self._new_id(), title, archived, created, updated)
            self._records[record.conversation_id] = record
            return record.public()

    def get(self, conversation_id: str) -> Conversation | None:
        """Return one conversation, or None when the id is unknown."""
        with self._lock:
            record = self._records.get(conversation_id)
            return None if record is None else record.public()

    def update(
        self, conversation_id: str, title: str | None = None, archived: bool | None = None
    ) -> Conversation | None:
        """Set the given fields and move ``updated_at`` forward; None when the id is unknown."""
        with self._lock:
            record = self._records.get(conversation_id)
            if record is None:
                return None
            if title is not None:
                record.title = title
            if archived is not None:
                record.archived = archived
            record.touch(self._tick(record.updated_us))
            return record.public()

    def page(
        self, archived: bool, limit: int, after: tuple[int, str] | None
    ) -> tuple[list[Conversation], tuple[int, str] | None]:
        """Return up to ``limit`` conversations older than ``after`` and the key to continue from.

        Keyset pagination: a conversation present for the whole walk is seen exactly once.
        """
        with self._lock:
            matching = sorted(
                (
                    r
                    for r in self._records.values()
                    if r.archived == archived and (after is None or r.key() < after)
                ),
                key=_Record.key,
                reverse=True,
            )
            page = matching[:limit]
            more = len(matching) > limit
            return [r.public() for r in page], (page[-1].key() if more else None)

    def snapshot(self) -> dict[str, Conversation]:
        """Return every conversation keyed by id, newest ``updated_at`` first."""
        with self._lock:
            ordered = sorted(self._records.values(), key=_Record.key, reverse=True)
            return {r.conversation_id: r.public() for r in ordered}

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
