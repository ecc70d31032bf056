"""The one place that knows Airflow 2.11 from Airflow 3.x.

Everything else in the provider (and the example DAGs) imports Airflow names from here, so that
no other module branches on the Airflow version. Names that only DAG files, tests and the
bulk operator need (``dag``, ``task``, ``Param``, ``DagBag``, ``ObjectStoragePath``) load on
first use: the operator module is imported at every DAG parse and must stay cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version

AIRFLOW_V_3_0_PLUS = int(_airflow_version.split(".", 1)[0]) >= 3

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.log import mask_secret

    try:  # the Task SDK took these over in 3.1 and 3.2
        from airflow.sdk import BaseHook
    except ImportError:  # Airflow 3.0
        from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    try:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
    except ImportError:  # Airflow 3.0 and 3.1
        from airflow.exceptions import (  # type: ignore[no-redef]
            AirflowException,
            AirflowFailException,
            AirflowSkipException,
        )

    _LAZY = {
        "DAG": "airflow.sdk",
        "dag": "airflow.sdk",
        "task": "airflow.sdk",
        "ObjectStoragePath": "airflow.sdk",
        "DagBag": "airflow.dag_processing.dagbag airflow.models.dagbag",  # 3.2+, then 3.0/3.1
        "Param": "airflow.sdk",
    }
else:  # Airflow 2.11
    from airflow.exceptions import (  # type: ignore[no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
    )
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
    from airflow.models import BaseOperator  # type: ignore[no-redef]
    from airflow.utils.context import Context  # type: ignore[no-redef]
    from airflow.utils.log.secrets_masker import mask_secret  # type: ignore[no-redef]

    _LAZY = {
        "DAG": "airflow.models.dag",
        "dag": "airflow.decorators",
        "task": "airflow.decorators",
        "ObjectStoragePath": "airflow.io.path",
        "DagBag": "airflow.models.dagbag",
        "Param": "airflow.models.param",
    }

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import DAG, ObjectStoragePath, Param, dag, task


def load_retry_policy() -> Any | None:
    """Airflow's ``airflow.sdk.definitions.retry_policy`` module (Airflow 3.3+), else ``None``:
    older versions have no ``retry_policy`` on operators."""
    if not AIRFLOW_V_3_0_PLUS:
        return None
    try:
        return import_module("airflow.sdk.definitions.retry_policy")
    except ImportError:
        return None


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        *candidates, last = _LAZY[name].split()
        for module in candidates:
            try:
                return getattr(import_module(module), name)
            except ImportError:
                continue
        return getattr(import_module(last), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "Context",
    "DagBag",
    "ObjectStoragePath",
    "Param",
    "dag",
    "load_retry_policy",
    "mask_secret",
    "task",
]
