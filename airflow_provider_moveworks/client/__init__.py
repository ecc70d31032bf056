"""The Moveworks Conversations API from plain Python: :class:`MoveworksClient`, built from a
:class:`ClientConfig`. Nothing here imports Airflow itself.

One module per part: ``config`` (what a client is built from), ``transport`` (session, proxies,
body cap, requests in flight), ``deadline`` (one deadline per attempt), ``retry`` (the policy and
its loop), ``auth`` and ``oauth`` (API key and client credentials), ``secrets`` (the registry of
what is never shown), ``responses`` and ``listing`` (reading answers), ``call`` (one call and its
transport errors), ``client`` (the operations).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_moveworks.client.client import MoveworksClient
    from airflow_provider_moveworks.client.config import ClientConfig

__all__ = ["ClientConfig", "MoveworksClient"]

# Loaded on first use: the connection code reads ClientConfig without paying for requests.
_HOMES = {"ClientConfig": "config", "MoveworksClient": "client"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
