"""The ``moveworks`` connection form, declared once.

Airflow 3.2+ reads it declaratively from ``get_provider_info()``; Airflow 2.11 to 3.1 call the
hook's ``get_connection_form_widgets()``/``get_ui_field_behaviour()``, which are built from the
same declaration here, so the two forms cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_moveworks.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_URL,
)

CONN_TYPE = "moveworks"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "assistant_name": {
        "label": "Assistant name",
        "description": "Sent as the Assistant-Name header; must match the configured assistant exactly.",
        "schema": {"type": ["string", "null"]},
    },
    "token_url": {
        "label": "OAuth token URL",
        "description": f"Used only with an OAuth client ID. Default: {DEFAULT_TOKEN_URL}",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Per request.",
        "schema": {"type": ["number", "null"], "default": DEFAULT_TIMEOUT},
    },
    "verify": {
        "label": "Verify TLS",
        "description": "true, false, or the path of a CA bundle.",
        "schema": {"type": ["string", "null"], "default": "true"},
    },
    "max_retries": {
        "label": "Max retries",
        "description": "Retries of one request on 429, 5xx and network errors.",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RETRIES},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {
        "host": "Base URL",
        "login": "OAuth client ID (optional)",
        "password": "API key or OAuth client secret",
    },
    "placeholders": {
        "host": DEFAULT_BASE_URL,
        "login": "leave empty to use an API key",
        "password": "API key, or the OAuth client secret",
    },
}


def ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the shape of ``BaseHook.get_ui_field_behaviour()``."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def connection_form_widgets() -> dict[str, Any]:
    """``CONN_FIELDS`` as the wtforms widgets of the Flask form (Airflow 2.11 to 3.1)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField

    # Airflow 2.11 accepts only String/Integer/Password/Boolean fields: a decimal timeout is a
    # string here, coerced when the connection is read.
    field_classes = {"string": StringField, "number": StringField, "integer": IntegerField}
    widgets = {}
    for name, spec in CONN_FIELDS.items():
        field_class = field_classes[spec["schema"]["type"][0]]
        widgets[name] = field_class(
            lazy_gettext(spec["label"]),
            description=spec["description"],
            default=spec["schema"].get("default"),
            widget=BS3TextFieldWidget(),
        )
    return widgets
