"""Moveworks assets: ``moveworks://<api host>/<assistant name>`` stands for the conversations of
one assistant, so that a DAG can run when another has changed them, with no sensor or polling.

The URI is normalised as the lineage output dataset is: the host lower-cased, the base URL's
default port and a trailing dot dropped, no user-info. Nobody types it: a DAG names the asset of
a connection with :func:`moveworks_conversations_asset`, an alias that the operators resolve to
the connection's URI when they run (so parsing a DAG file looks nothing up). Both operators add
an event to it when they updated anything, its ``extra`` holding the counts (``updated``,
``not_found``, ``failed``, ``unchanged``); a dry run adds none. Airflow 3 only: on 2.11 the
operators add no events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import AssetAlias

SCHEME = "moveworks"
# The alias of a connection's conversations is this prefix and the connection id.
ALIAS_PREFIX = "moveworks-conversations:"
EXTRA_COUNTS = ("updated", "not_found", "failed", "unchanged")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def api_netloc(base_url: str) -> str:
    """The API host of ``base_url`` as one name however the URL spells it: lower case, no
    trailing dot, no default port of its scheme (the lineage namespace uses it too)."""
    parts = urlsplit(base_url)
    port = None
    with contextlib.suppress(ValueError):  # a port that is not a number is no port
        port = parts.port
    return _netloc(parts.hostname or "", port, _DEFAULT_PORTS.get(parts.scheme.lower()))


def asset_uri(base_url: str, assistant_name: str) -> str:
    """The asset URI of an assistant's conversations behind the API at ``base_url``."""
    return f"{SCHEME}://{api_netloc(base_url)}/{quote(assistant_name, safe='')}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Airflow's normaliser of the ``moveworks`` scheme (provider info ``asset-uris``)."""
    if uri.username is not None or uri.password is not None:
        raise ValueError(
            "A moveworks:// asset URI must not carry user-info (credentials belong in a connection)"
        )
    if not uri.hostname or not uri.path.strip("/"):
        raise ValueError("A moveworks:// asset URI is moveworks://<api host>/<assistant name>")
    netloc = _netloc(uri.hostname, uri.port, _DEFAULT_PORTS["https"])
    return uri._replace(netloc=netloc, path="/" + uri.path.strip("/"), query="", fragment="")


def _netloc(hostname: str, port: int | None, default_port: int | None) -> str:
    host = hostname.rstrip(".").lower()
    if ":" in host:
        host = f"[{host}]"  # IPv6
    return host if port in (None, default_port) else f"{host}:{port}"


def convert_asset_to_openlineage(asset: Any, lineage_context: Any) -> Any:
    """The OpenLineage dataset of a Moveworks asset: the one the operators' lineage reports."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(asset.uri)
    return Dataset(namespace=f"{SCHEME}://{parts.netloc}", name=unquote(parts.path.lstrip("/")))


def moveworks_conversations_asset(moveworks_conn_id: str = "moveworks_default") -> AssetAlias:
    """The conversations a ``moveworks`` connection reaches, for a DAG's ``outlets`` and for the
    ``schedule`` of the DAGs that follow it. An alias: the operators resolve it to
    ``moveworks://<api host>/<assistant>`` when they run, so a DAG file looks nothing up."""
    from airflow.providers.common.compat.sdk import AssetAlias

    return AssetAlias(name=f"{ALIAS_PREFIX}{moveworks_conn_id}")


def record_changes(task: Any, context: Any, counts: Mapping[str, Any], *, config: Any, changed: bool) -> None:
    """Add the run's event to each Moveworks outlet of ``task`` if ``changed``: an alias gets an
    event on the asset of ``config`` (a client config), a Moveworks asset its counts as
    ``extra``. Without changes a Moveworks asset is taken out of the outlets, so that Airflow
    records no event for it."""
    from airflow_provider_moveworks.version_compat import AIRFLOW_V_3_0_PLUS

    outlets = list(getattr(task, "outlets", None) or [])
    events = context.get("outlet_events") if hasattr(context, "get") else None
    if not AIRFLOW_V_3_0_PLUS or events is None or not outlets:
        return  # Airflow 2.11 cannot add events through an alias its database has not seen
    from airflow.providers.common.compat.sdk import Asset, AssetAlias

    extra = {key: int(counts.get(key, 0)) for key in EXTRA_COUNTS}
    kept = []
    for outlet in outlets:
        if isinstance(outlet, AssetAlias) and outlet.name.startswith(ALIAS_PREFIX):
            if changed:
                events[outlet].add(Asset(uri=asset_uri(config.base_url, config.assistant_name)), extra=extra)
        elif isinstance(outlet, Asset) and outlet.uri.startswith(f"{SCHEME}://"):
            if not changed:
                continue
            events[outlet].extra = extra
        kept.append(outlet)
    if len(kept) != len(outlets):
        task.outlets = kept
