"""The ``moveworks`` connection form, declared once.

Airflow 3.2+ reads it declaratively from ``get_provider_info()``; Airflow 2.11 to 3.1 call the
hook's ``get_connection_form_widgets()``/``get_ui_field_behaviour()``, which are built from the
same declaration here, so the two forms cannot drift apart.

Two rules shape the fields:

- No extra's key contains a word Airflow treats as sensitive (``token``, ``secret``, ``proxy``...):
  the UI would show its value as ``***``. Hence ``oauth_url``, not ``token_url`` (still read).
- Defaults are not written into saved connections: a field left empty is stored as nothing (or
  ``null``) and means "the provider's default", so a later change of a default reaches every
  connection. The defaults are shown in each field's description (Airflow 3.3's form has no
  placeholders for extra fields) and as placeholders where the form has them (2.11 to 3.1).
  The one exception is the TLS switch: a switch always shows a state, and it starts on.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_moveworks.defaults import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_TOKEN_URL,
    MAX_RETRIES_LIMIT,
    MAX_TIMEOUT,
)

CONN_TYPE = "moveworks"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "assistant_name": {
        "label": "Assistant name",
        # No "null" in the type: Airflow 3.2+ marks the field required and refuses to save it empty.
        "schema": {"type": "string", "minLength": 1},
        "description": "Required. Sent as the Assistant-Name header; must match the assistant's name "
        "exactly, e.g. hr-assistant.",
    },
    "oauth_url": {
        "label": "OAuth token URL",
        "schema": {"type": ["string", "null"]},
        "description": f"Used only with an OAuth client ID. Empty: {DEFAULT_TOKEN_URL}",
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": MAX_TIMEOUT},
        "description": f"Per request, connect to last byte. Empty: {DEFAULT_TIMEOUT:g}",
    },
    "verify": {
        "label": "Verify TLS certificates",
        "schema": {"type": ["boolean", "null"], "default": True},
        "description": "Keep on. Off sends the API key to any server that answers: for tests only.",
    },
    "ca_bundle_path": {
        "label": "CA bundle path",
        "schema": {"type": ["string", "null"]},
        "description": "A PEM file on the workers to verify the API's certificate with (e.g. behind a "
        "TLS-inspecting proxy). Empty: the CAs trusted by requests (certifi).",
    },
    "max_retries": {
        "label": "Max retries",
        "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
        "description": f"Retries of one request on 429, 5xx and network errors. Empty: {DEFAULT_MAX_RETRIES}",
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
        # Extra fields: shown by the forms of Airflow 2.11 to 3.1 (3.2+ shows the descriptions).
        "assistant_name": "required, e.g. hr-assistant",
        "oauth_url": DEFAULT_TOKEN_URL,
        "timeout": f"{DEFAULT_TIMEOUT:g}",
        "ca_bundle_path": "/etc/ssl/certs/corporate-ca.pem",
        "max_retries": str(DEFAULT_MAX_RETRIES),
    },
}


def field_name(key: str) -> str:
    """How an error names a connection extra: the label users see, then the stored key."""
    return f"{CONN_FIELDS[key]['label']} (connection extra {key!r})"


def ui_field_behaviour() -> dict[str, Any]:
    """``UI_FIELD_BEHAVIOUR`` in the shape of ``BaseHook.get_ui_field_behaviour()``."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def connection_form_widgets() -> dict[str, Any]:
    """``CONN_FIELDS`` as the wtforms widgets of the Flask form (Airflow 2.11 to 3.1)."""
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import BooleanField, IntegerField, StringField

    # Airflow 2.11 accepts only String/Integer/Password/Boolean fields: a decimal timeout is a
    # string here, coerced when the connection is read. No field gets a validator: the Flask
    # form holds every connection type's extra fields, so a required one would block them all.
    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        kind = form_type(name)
        label = lazy_gettext(spec["label"])
        if kind == "boolean":
            widgets[name] = BooleanField(label, description=spec["description"], default=True)
            continue
        field_class = IntegerField if kind == "integer" else StringField
        widgets[name] = field_class(label, description=spec["description"], widget=BS3TextFieldWidget())
    return widgets


def form_type(name: str) -> str:
    """The JSON-schema type of a field, without ``null``."""
    kind = CONN_FIELDS[name]["schema"]["type"]
    return kind if isinstance(kind, str) else next(t for t in kind if t != "null")
