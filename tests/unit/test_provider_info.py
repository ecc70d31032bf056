"""Provider metadata and the connection form, declared for Airflow 3.2+ and for 2.11-3.1 alike."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from airflow_provider_moveworks import __version__
from airflow_provider_moveworks.get_provider_info import get_provider_info
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook


def connection_type() -> dict:
    (entry,) = get_provider_info()["connection-types"]
    return entry


def test_provider_info_names_the_package_hook_and_connection_type() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-moveworks"
    assert info["versions"] == [__version__]
    entry = connection_type()
    assert entry["connection-type"] == MoveworksHook.conn_type == "moveworks"
    assert entry["hook-class-name"] == "airflow_provider_moveworks.hooks.moveworks.MoveworksHook"
    assert entry["hook-name"] == MoveworksHook.hook_name


def test_declarative_form_has_the_documented_fields() -> None:
    entry = connection_type()
    assert {name: spec["schema"]["type"][0] for name, spec in entry["conn-fields"].items()} == {
        "assistant_name": "string",
        "token_url": "string",
        "timeout": "number",
        "verify": "string",
        "max_retries": "integer",
    }
    behaviour = entry["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == ["schema", "port"]
    assert behaviour["relabeling"] == {
        "host": "Base URL",
        "login": "OAuth client ID (optional)",
        "password": "API key or OAuth client secret",
    }
    assert behaviour["placeholders"]["host"] == "https://api.moveworks.ai/rest/v1beta1"


def test_python_field_behaviour_matches_the_declarative_one() -> None:
    behaviour = connection_type()["ui-field-behaviour"]
    assert MoveworksHook.get_ui_field_behaviour() == {
        "hidden_fields": behaviour["hidden-fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }


@pytest.mark.skipif(
    importlib.util.find_spec("wtforms") is None, reason="the Flask form exists on Airflow 2.11-3.1"
)
def test_python_form_widgets_match_the_declarative_fields() -> None:
    fields = connection_type()["conn-fields"]
    widgets = MoveworksHook.get_connection_form_widgets()
    assert list(widgets) == list(fields)
    kinds = {"string": "StringField", "number": "StringField", "integer": "IntegerField"}
    for name, widget in widgets.items():
        spec = fields[name]
        assert widget.field_class.__name__ == kinds[spec["schema"]["type"][0]]
        assert str(widget.args[0]) == spec["label"]
        assert widget.kwargs["default"] == spec["schema"].get("default")
        assert widget.kwargs["description"] == spec["description"]


def test_airflow_lists_the_provider_and_the_connection_type() -> None:
    providers = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list"], capture_output=True, text=True, check=True
    ).stdout
    hooks = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks"], capture_output=True, text=True, check=True
    ).stdout
    assert "airflow-provider-moveworks" in providers
    assert "airflow_provider_moveworks.hooks.moveworks.MoveworksHook" in hooks
    assert "moveworks" in hooks
