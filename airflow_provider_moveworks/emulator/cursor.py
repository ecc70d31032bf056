"""Opaque, tamper-evident pagination cursors (HMAC-signed keyset positions)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from .errors import ApiError

_SIG_BYTES = 12


class CursorCodec:
    """Encode a list position (and the filter it belongs to) into an opaque string, and back.

    :param key: the HMAC key; a cursor from another emulator instance is rejected.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIG_BYTES]

    def encode(self, archived: bool, position: tuple[int, str]) -> str:
        """Return the cursor for the page after ``position`` of the ``archived`` listing."""
        payload = json.dumps([archived, position[0], position[1]], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._sign(payload) + payload).decode().rstrip("=")

    def decode(self, cursor: str, archived: bool) -> tuple[int, str]:
        """Return the position in ``cursor``; 400 INVALID_CURSOR if forged, garbled or for another filter."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            sig, payload = raw[:_SIG_BYTES], raw[_SIG_BYTES:]
            if not cursor or not hmac.compare_digest(sig, self._sign(payload)):
                raise ValueError("bad signature")
            was_archived, updated_us, cid = json.loads(payload)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise ApiError(400, "INVALID_CURSOR", "The cursor is not valid") from exc
        if was_archived is not archived:
            # A cursor only continues the listing it came from; mixing filters would skip or repeat.
            raise ApiError(
                400, "INVALID_CURSOR", "The cursor belongs to a listing with another archived filter"
            )
        return int(updated_us), str(cid)
