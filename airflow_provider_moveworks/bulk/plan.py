"""The validation pass over every row, then the second pass that says what to do with each.

The first pass keeps 17 bytes per row, never the rows: a 64-bit hash of the conversation id, a
64-bit digest of the change, and what the row is. Rows are grouped by id hash (a sort of packed
integers); only rows whose hash is shared, i.e. real repeats and rare hash collisions, are read a
second time to compare their actual ids. That is enough to fail before any request is sent, and
for the sending pass to tell each row apart:

* ``send``: the first row of a conversation with a valid, unambiguous change;
* ``duplicate``: a later row asking for exactly the same change (sent once, by the first row);
* ``invalid``: a row that fails the checks, or any row of a conversation that rows ask to change
  in different ways (concurrent PATCHes would race, so none of them is sent).

The pass also yields the input's ``fingerprint``: a digest of every row's id and change, which
tells a retry whether the progress saved by an earlier try still describes this input.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_moveworks.bulk.rows import RowSource, parse_row
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.validation import CONVERSATION_ID_MAX_LENGTH

# Invalid rows quoted in the error that fails a run before sending.
QUOTED_INVALID_ROWS = 10

# What each row is, one byte per row.
_INVALID, _SEND, _DUPLICATE, _CONFLICT = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Step:
    """What to do with one row: ``action`` is ``send``, ``duplicate`` or ``invalid``."""

    action: str
    row: int
    conversation_id: str | None
    body: dict[str, Any] | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class _Repeat:
    """A row of a conversation named by several rows: the first of them, and for a conflict the
    first row that disagrees and how many rows name it."""

    first_row: int
    conversation_id: str
    conflict_row: int = 0
    rows: int = 0


class Plan:
    """Checks every row of ``source`` (:meth:`scan`), then walks it again (:meth:`steps`)."""

    def __init__(
        self,
        source: RowSource,
        *,
        check: Callable[[Mapping[str, Any]], None] | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        """:param check: also refuses a row by its raw values (e.g. the hook's own-secret guard).
        :param redact: applied to every reason and raw id quoted about an invalid row."""
        self._source = source
        self._check = check
        self._redact = redact
        self._ids = array("Q")
        self._changes = array("Q")
        self._kinds = bytearray()
        self._repeats: dict[int, _Repeat] = {}  # row -> its group, for repeated ids only
        self.total = 0
        self.invalid = 0
        self.sends = 0
        self.duplicates = 0
        self.fingerprint = ""
        self.changed = 0  # rows that changed, appeared or went missing during the sending pass
        self.examples: list[tuple[int, str]] = []  # (row, reason) of the first invalid rows

    def scan(self, stop: threading.Event | None = None) -> None:
        """The validation pass: count rows, invalid rows, duplicates and conflicts. Returns early
        (incomplete) once ``stop`` is set."""
        fingerprint = hashlib.blake2b(digest_size=16)
        for row, raw in self._source.rows():
            if row % 1024 == 0 and stop is not None and stop.is_set():
                return
            self.total += 1
            try:
                conversation_id, body = self._parse(raw)
            except MoveworksValidationError as error:
                self._ids.append(0)
                self._changes.append(0)
                self._kinds.append(_INVALID)
                self._example(row, self._redact(str(error)))
                fingerprint.update(b"!")
                continue
            hashed, change = id_hash(conversation_id), _digest(body)
            self._ids.append(hashed)
            self._changes.append(change)
            self._kinds.append(_SEND)
            fingerprint.update(hashed.to_bytes(8, "little") + change.to_bytes(8, "little"))
        self.fingerprint = f"{self.total}:{fingerprint.hexdigest()}"
        self._group_repeats()
        kinds = self._kinds
        self.sends = kinds.count(_SEND)
        self.duplicates = kinds.count(_DUPLICATE)
        self.invalid = self.total - self.sends - self.duplicates
        self.examples.sort()

    def steps(self) -> Iterator[Step]:
        """The second pass: one :class:`Step` per row, in input order. Rows that changed since
        :meth:`scan`, appeared or went missing (the input was rewritten meanwhile) are
        ``invalid`` and counted in :attr:`changed`."""
        self.changed = 0
        seen = 0
        for row, raw in self._source.rows():
            seen = row
            index = row - 1
            planned = index < len(self._kinds)
            kind = self._kinds[index] if planned else _INVALID
            try:
                conversation_id, body = self._parse(raw)
            except MoveworksValidationError as error:
                if kind != _INVALID or not planned:
                    self.changed += 1
                yield Step("invalid", row, _raw_id(raw, self._redact), message=self._redact(str(error)))
                continue
            if (
                kind == _INVALID
                or self._ids[index] != id_hash(conversation_id)
                or self._changes[index] != _digest(body)
            ):
                self.changed += 1
                message = "the row changed between the validation pass and the sending pass"
                yield Step("invalid", row, conversation_id, message=message)
            elif kind == _SEND:
                yield Step("send", row, conversation_id, body)
            elif kind == _DUPLICATE:
                message = f"same change as row {self._repeats[row].first_row}; sent once"
                yield Step("duplicate", row, conversation_id, message=message)
            else:
                yield Step("invalid", row, conversation_id, message=_conflict_message(self._repeats[row]))
        for row in range(seen + 1, self.total + 1):
            self.changed += 1
            message = "the row went missing from the input between the validation pass and the sending pass"
            yield Step("invalid", row, None, message=message)

    def sent_ids(self) -> array[int]:
        """The :func:`id_hash` of every conversation a ``send`` row names, sorted."""
        return array("Q", sorted(h for h, kind in zip(self._ids, self._kinds, strict=True) if kind == _SEND))

    def _group_repeats(self) -> None:
        """Find rows naming the same conversation: sort (id hash, row) packed into one integer
        each, then compare the actual ids of the rows whose hash is shared."""
        ids, kinds = self._ids, self._kinds
        row_bits = max(1, len(ids).bit_length())
        low = (1 << row_bits) - 1
        packed = sorted(
            ((ids[index] >> row_bits) << row_bits) | index for index in range(len(ids)) if kinds[index]
        )
        candidates: set[int] = set()
        for before, after in itertools.pairwise(packed):
            if before >> row_bits == after >> row_bits:
                candidates.add((before & low) + 1)
                candidates.add((after & low) + 1)
        del packed
        if not candidates:
            return
        groups: dict[str, list[int]] = {}
        for row, raw in self._source.rows():
            if row in candidates:
                conversation_id, _ = parse_row(raw)
                groups.setdefault(conversation_id, []).append(row)
        conflicts = 0
        for conversation_id, rows in groups.items():
            if len(rows) == 1:
                continue  # a hash collision with another id: nothing in common
            first = rows[0]
            disagree = [row for row in rows if self._changes[row - 1] != self._changes[first - 1]]
            if not disagree:
                same = _Repeat(first, conversation_id)  # one record per group, not per row
                for row in rows[1:]:
                    kinds[row - 1] = _DUPLICATE
                    self._repeats[row] = same
                continue
            repeat = _Repeat(first, conversation_id, disagree[0], len(rows))
            for row in rows:
                kinds[row - 1] = _CONFLICT
                self._repeats[row] = repeat
            if conflicts < QUOTED_INVALID_ROWS:
                self._example(first, _conflict_message(repeat))
            conflicts += 1

    def _parse(self, raw: Any) -> tuple[str, dict[str, Any]]:
        if self._check is not None and isinstance(raw, Mapping):
            self._check(raw)  # the raw values, before a message about a bad one could quote it
        return parse_row(raw)

    def _example(self, row: int, reason: str) -> None:
        if len(self.examples) < QUOTED_INVALID_ROWS:
            self.examples.append((row, reason))


def id_hash(conversation_id: str) -> int:
    """A 64-bit digest of a conversation id."""
    return int.from_bytes(hashlib.blake2b(conversation_id.encode(), digest_size=8).digest(), "little")


def _digest(body: dict[str, Any]) -> int:
    # A digest, not the title itself: memory stays small whatever the titles' length.
    text = json.dumps([body.get("title"), body.get("archived")], ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _conflict_message(repeat: _Repeat) -> str:
    return (
        f"rows {repeat.first_row} and {repeat.conflict_row} (of {repeat.rows}) ask for different changes "
        f"to {repeat.conversation_id}; none of them is sent"
    )


def _raw_id(raw: Any, redact: Callable[[str], str]) -> str | None:
    value = raw.get("conversation_id") if isinstance(raw, Mapping) else None
    # Quoted in the report as given, redacted, then cut short: an invalid id may be any text.
    return redact(value)[:CONVERSATION_ID_MAX_LENGTH] if isinstance(value, str) else None
