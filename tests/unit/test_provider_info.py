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
    assert {name: (spec["label"], spec["schema"]["type"]) for name, spec in entry["conn-fields"].items()} == {
        "assistant_name": ("Assistant name", "string"),
        "oauth_url": ("OAuth token URL", ["string", "null"]),
        "timeout": ("Timeout (seconds)", ["number", "null"]),
        "verify": ("Verify TLS certificates", ["boolean", "null"]),
        "ca_bundle_path": ("CA bundle path", ["string", "null"]),
        "max_retries": ("Max retries", ["integer", "null"]),
    }
    behaviour = entry["ui-field-behaviour"]
    assert behaviour["hidden-fields"] == ["schema", "port"]
    assert behaviour["relabeling"] == {
        "host": "Base URL",
        "login": "OAuth client ID (optional)",
        "password": "API key or OAuth client secret",
    }
    assert behaviour["placeholders"]["host"] == "https://api.moveworks.ai/rest/v1beta1"


def _should_hide_value_for_key(name: str) -> bool:
    """Airflow's own test of whether the UI and the logs mask a connection extra's value."""
    from importlib import import_module

    for module in (
        "airflow._shared.secrets_masker",  # Airflow 3.2+
        "airflow.sdk.execution_time.secrets_masker",  # 3.0, 3.1
        "airflow.utils.log.secrets_masker",  # 2.11
    ):
        try:
            return bool(import_module(module).should_hide_value_for_key(name))
        except ImportError:
            continue
    raise AssertionError("no secrets masker found in this Airflow")


def test_no_extra_is_named_like_a_secret_so_the_ui_shows_its_value() -> None:
    names = list(connection_type()["conn-fields"])
    assert [name for name in names if _should_hide_value_for_key(name)] == []
    assert _should_hide_value_for_key("token_url")  # why the token endpoint is oauth_url


def test_only_the_tls_switch_has_a_default_to_store() -> None:
    fields = connection_type()["conn-fields"]
    assert {
        name: spec["schema"]["default"] for name, spec in fields.items() if "default" in spec["schema"]
    } == {"verify": True}


def test_defaults_are_shown_in_descriptions_and_placeholders() -> None:
    fields = connection_type()["conn-fields"]
    placeholders = connection_type()["ui-field-behaviour"]["placeholders"]
    shown = {
        "oauth_url": "https://api.moveworks.ai/oauth/v1/token",
        "timeout": "30",
        "max_retries": "5",
    }
    for name, default in shown.items():
        assert fields[name]["description"].endswith(f"Empty: {default}")
        assert placeholders[name] == default
    assert placeholders["assistant_name"].startswith("required")


def test_assistant_name_alone_is_required() -> None:
    fields = connection_type()["conn-fields"]
    required = [name for name, spec in fields.items() if "null" not in spec["schema"]["type"]]
    assert required == ["assistant_name"]
    assert fields["assistant_name"]["schema"]["minLength"] == 1
    assert fields["assistant_name"]["description"].startswith("Required.")


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
    assert {name: widget.field_class.__name__ for name, widget in widgets.items()} == {
        "assistant_name": "StringField",
        "oauth_url": "StringField",
        "timeout": "StringField",
        "verify": "BooleanField",
        "ca_bundle_path": "StringField",
        "max_retries": "IntegerField",
    }
    for name, widget in widgets.items():
        assert str(widget.args[0]) == fields[name]["label"]
        assert widget.kwargs["description"] == fields[name]["description"]
        assert widget.kwargs.get("default") == fields[name]["schema"].get("default")
        assert not widget.kwargs.get("validators")


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
