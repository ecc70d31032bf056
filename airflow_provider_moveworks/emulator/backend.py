"""What the request handlers (``routes``, ``admin``, ``oauth``) see of the emulator: a small
Protocol, so that they never import the server that imports them."""

from __future__ import annotations

from typing import Any, Literal, Protocol

from .auth import CredentialStore
from .cursor import CursorCodec
from .faults import FaultConfig
from .state import Conversation, ConversationStore


class Backend(Protocol):
    """The emulator's state and knobs, as the handlers use them."""

    assistant_name: str
    token_response_shape: Literal["flat", "wrapped"]
    base_path: str
    store: ConversationStore
    cursors: CursorCodec
    auth: CredentialStore

    @property
    def fault_config(self) -> FaultConfig: ...

    def configure(self, **knobs: Any) -> FaultConfig: ...

    def conversations(self) -> dict[str, Conversation]: ...

    def counter_rows(self) -> list[dict[str, object]]: ...

    def reset_counters(self) -> None: ...
