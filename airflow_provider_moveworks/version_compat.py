"""The one place that knows Airflow 2.11 from Airflow 3.x.

Everything else in the provider imports Airflow names from here, so that no other module
branches on the Airflow version.
"""

from __future__ import annotations

from airflow import __version__ as _airflow_version

AIRFLOW_V_3_0_PLUS = int(_airflow_version.split(".", 1)[0]) >= 3

if AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import BaseHook, BaseOperator, Context
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
    from airflow.sdk.log import mask_secret
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

__all__ = [
    "AIRFLOW_V_3_0_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "Context",
    "mask_secret",
]
