"""The transport-free request and reply shapes passed between the HTTP handler and the routes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Request:
    """One parsed HTTP request; ``body`` is fully read; ``headers`` keys are lower-case."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Reply:
    """A JSON reply; the handler adds Content-Type, Content-Length and ``x-moveworks-root-uuid``."""

    status: int
    payload: Any
    headers: list[tuple[str, str]] = field(default_factory=list)
