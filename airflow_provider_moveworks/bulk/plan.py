"""The validation pass over every row, then the second pass that says what to do with each.

The first pass keeps one small record per conversation (never the rows): where it first
appeared, a digest of its change, how many rows name it, and the first row that disagrees. That
is enough to fail before any request is sent, and for the second pass to tell each row apart:

* ``send``: the first row of a conversation with a valid, unambiguous change;
* ``duplicate``: a later row asking for exactly the same change (sent once, by the first row);
* ``invalid``: a row that fails the checks, or any row of a conversation that rows ask to change
  in different ways (concurrent PATCHes would race, so none of them is sent).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_moveworks.bulk.rows import RowSource, parse_row
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.validation import CONVERSATION_ID_MAX_LENGTH

# Invalid rows quoted in the error that fails a run before sending.
QUOTED_INVALID_ROWS = 10


@dataclass(slots=True)
class _Seen:
    first_row: int
    change: bytes  # a digest, not the title itself: memory stays small whatever the titles' length
    rows: int = 1
    conflict_row: int = 0


@dataclass(frozen=True, slots=True)
class Step:
    """What to do with one row: ``action`` is ``send``, ``duplicate`` or ``invalid``."""

    action: str
    row: int
    conversation_id: str | None
    body: dict[str, Any] | None = None
    message: str | None = None


class Plan:
    """Checks every row of ``source`` (:meth:`scan`), then walks it again (:meth:`steps`)."""

    def __init__(self, source: RowSource) -> None:
        self._source = source
        self._seen: dict[str, _Seen] = {}
        self.total = 0
        self.invalid = 0
        self.sends = 0
        self.duplicates = 0
        self.examples: list[tuple[int, str]] = []  # (row, reason) of the first invalid rows

    def scan(self) -> None:
        """The validation pass: count rows, invalid rows, duplicates and conflicts."""
        bad_rows = 0
        for row, raw in self._source.rows():
            self.total += 1
            try:
                conversation_id, body = parse_row(raw)
            except MoveworksValidationError as error:
                bad_rows += 1
                self._example(row, str(error))
                continue
            change = _digest(body)
            seen = self._seen.get(conversation_id)
            if seen is None:
                self._seen[conversation_id] = _Seen(row, change)
                continue
            seen.rows += 1
            if seen.change != change and not seen.conflict_row:
                seen.conflict_row = row
        conflicted = [(cid, seen) for cid, seen in self._seen.items() if seen.conflict_row]
        for conversation_id, seen in conflicted[:QUOTED_INVALID_ROWS]:
            self._example(seen.first_row, _conflict_message(conversation_id, seen))
        conflict_rows = sum(seen.rows for _, seen in conflicted)
        self.invalid = bad_rows + conflict_rows
        self.sends = len(self._seen) - len(conflicted)
        self.duplicates = self.total - self.invalid - self.sends
        self.examples.sort()

    def steps(self) -> Iterator[Step]:
        """The second pass: one :class:`Step` per row, in input order."""
        for row, raw in self._source.rows():
            try:
                conversation_id, body = parse_row(raw)
            except MoveworksValidationError as error:
                yield Step("invalid", row, _raw_id(raw), message=str(error))
                continue
            seen = self._seen.get(conversation_id)
            if seen is None or (not seen.conflict_row and seen.change != _digest(body)):
                message = "the row changed between the validation pass and the sending pass"
                yield Step("invalid", row, conversation_id, message=message)
            elif seen.conflict_row:
                yield Step("invalid", row, conversation_id, message=_conflict_message(conversation_id, seen))
            elif row == seen.first_row:
                yield Step("send", row, conversation_id, body)
            else:
                message = f"same change as row {seen.first_row}; sent once"
                yield Step("duplicate", row, conversation_id, message=message)

    def _example(self, row: int, reason: str) -> None:
        if len(self.examples) < QUOTED_INVALID_ROWS:
            self.examples.append((row, reason))


def _digest(body: dict[str, Any]) -> bytes:
    text = json.dumps([body.get("title"), body.get("archived")], ensure_ascii=False)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _conflict_message(conversation_id: str, seen: _Seen) -> str:
    return (
        f"rows {seen.first_row} and {seen.conflict_row} (of {seen.rows}) ask for different changes to "
        f"{conversation_id}; none of them is sent"
    )


def _raw_id(raw: Any) -> str | None:
    value = raw.get("conversation_id") if isinstance(raw, Mapping) else None
    # Quoted in the report as given, cut short: an invalid id may be any text at all.
    return value[:CONVERSATION_ID_MAX_LENGTH] if isinstance(value, str) else None
