"""OpenLineage for the operators' runs: what they read, which conversations they changed, how many.

Loaded only when the OpenLineage provider asks an operator for its facets (so only where
``apache-airflow-providers-openlineage`` is installed, the ``openlineage`` extra); the operator
modules never import it.

- **Input**: the ``updates_file``, named as OpenLineage names files and object storage
  (``file`` + absolute path; ``s3://bucket`` + key; ``gs://bucket`` + object...). Inline
  ``updates`` and the single-conversation operator read no dataset.
- **Output**: one dataset for the assistant's conversations: namespace ``moveworks://`` + the
  base URL's host (``moveworks://api.moveworks.ai``), name = the assistant name.
- **Run facet** ``moveworks``: this try's counts ``updated``, ``not_found``, ``failed``,
  ``invalid``, and ``resumed``: the rows an earlier try updated, not sent again.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attr
from airflow.providers.common.compat.openlineage.facet import Dataset, RunFacet
from airflow.providers.openlineage.extractors import OperatorLineage

COUNTS = ("updated", "not_found", "failed", "invalid")
RUN_FACET = "moveworks"
# Airflow's object-storage schemes whose OpenLineage namespace has another name.
_SCHEME_ALIASES = {"gcs": "gs", "s3a": "s3", "s3n": "s3", "local": "file"}


@attr.define
class MoveworksRunFacet(RunFacet):  # type: ignore[misc]
    """What a try did to the conversations it was given, one count per outcome, and the rows an
    earlier try had updated (``resumed``, not in ``updated``)."""

    updated: int
    not_found: int
    failed: int
    invalid: int
    resumed: int = 0


def file_dataset(location: Any) -> Any:
    """The OpenLineage dataset of a local path or an object-storage URI, given as a string, an
    ``os.PathLike`` or an ``ObjectStoragePath``."""
    from airflow_provider_moveworks.bulk.storage import location_name

    location = location_name(location, field="updates_file")
    if "://" not in location:
        return Dataset(namespace="file", name=os.path.abspath(location))
    parts = urlsplit(location)
    scheme = _SCHEME_ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    # Airflow's object storage allows scheme://conn_id@bucket/key: the connection is no part of it.
    host = parts.netloc.rsplit("@", 1)[-1]
    if scheme == "file":
        # file://localhost/path is the local file /path (as the bulk operator opens it).
        local = host.lower() in ("", "localhost")
        return Dataset(namespace="file" if local else f"file://{host}", name=parts.path)
    return Dataset(namespace=f"{scheme}://{host}", name=parts.path.lstrip("/"))


def conversations_dataset(base_url: str, assistant_name: str) -> Any:
    """The assistant's conversations, where the connection's base URL serves them: one namespace
    per API host however the URL spells it (host names in lower case, without a trailing dot or
    the scheme's default port)."""
    from airflow_provider_moveworks.assets import api_netloc

    return Dataset(namespace=f"moveworks://{api_netloc(base_url)}", name=assistant_name)


def operator_lineage(
    *,
    moveworks_conn_id: str,
    assistant_name: str | None,
    updates_file: Any,
    counts: Mapping[str, Any] | None,
    writes: bool = True,
) -> Any:
    """The lineage of one run. ``counts`` is ``None`` when the run ended before counting anything
    (then no run facet); a connection that cannot be read gives no output dataset, an
    ``updates_file`` that is no path or URI no input dataset."""
    inputs = []
    if updates_file is not None and updates_file != "":
        with contextlib.suppress(Exception):  # lineage never fails a task
            inputs.append(file_dataset(updates_file))
    outputs = []
    # Lineage never fails a task: a connection that is missing or unusable only drops the output.
    # A dry run (``writes=False``) has none.
    with contextlib.suppress(Exception):
        from airflow_provider_moveworks.hooks.moveworks import MoveworksHook

        settings = MoveworksHook(moveworks_conn_id, assistant_name=assistant_name).settings
        if writes:
            outputs.append(conversations_dataset(settings.base_url, settings.assistant_name))
    run_facets = {}
    if counts is not None:
        values = {key: int(counts.get(key, 0)) for key in COUNTS}
        resumed = int(counts.get("resumed", 0))
        values["updated"] -= resumed  # the summary's updated counts them; this try sent none of them
        run_facets[RUN_FACET] = MoveworksRunFacet(**values, resumed=resumed)
    return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)


def single_update_counts(operator: Any, outcome: str | None, succeeded: bool) -> dict[str, int]:
    """The counts of one single-conversation update: its recorded outcome, or, when it failed
    before sending, ``invalid`` if its input does not pass validation and ``failed`` otherwise."""
    if outcome is None:
        outcome = "updated" if succeeded else _unsent_outcome(operator)
    return {key: int(key == outcome) for key in COUNTS}


def _unsent_outcome(operator: Any) -> str:
    from airflow_provider_moveworks.exceptions import MoveworksValidationError
    from airflow_provider_moveworks.validation import build_update_body, validate_conversation_id

    try:
        validate_conversation_id(operator.conversation_id)
        build_update_body(operator.title, operator.archived)
    except MoveworksValidationError:
        return "invalid"
    return "failed"
