"""Provider metadata, read by Airflow's providers manager through the package entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_moveworks import __version__
from airflow_provider_moveworks.connection_form import CONN_FIELDS, CONN_TYPE, UI_FIELD_BEHAVIOUR

# The moveworks:// scheme: an assistant's conversations (airflow_provider_moveworks.assets).
_ASSET_URIS = {
    "schemes": ["moveworks"],
    "handler": "airflow_provider_moveworks.assets.sanitize_uri",
    "to_openlineage_converter": "airflow_provider_moveworks.assets.convert_asset_to_openlineage",
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-moveworks",
        "name": "Moveworks",
        "description": "Update, archive and list conversations through the Moveworks Conversations API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Moveworks",
                "external-doc-url": "https://help.moveworks.com/",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "Moveworks",
                "python-modules": [
                    "airflow_provider_moveworks.operators.moveworks",
                    "airflow_provider_moveworks.operators.bulk",
                ],
            }
        ],
        "hooks": [
            {
                "integration-name": "Moveworks",
                "python-modules": ["airflow_provider_moveworks.hooks.moveworks"],
            }
        ],
        "asset-uris": [_ASSET_URIS],
        "dataset-uris": [_ASSET_URIS],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_moveworks.hooks.moveworks.MoveworksHook",
                "hook-name": "Moveworks",
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
