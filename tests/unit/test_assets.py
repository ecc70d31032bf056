"""The moveworks:// asset scheme: one API host spelled differently is one asset, credentials are
refused, and its OpenLineage dataset is the one the operators' lineage reports."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from airflow_provider_moveworks.assets import asset_uri, convert_asset_to_openlineage, sanitize_uri
from airflow_provider_moveworks.get_provider_info import get_provider_info


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.moveworks.ai/rest/v1beta1",
        "HTTPS://API.Moveworks.AI/rest/v1beta1",
        "https://api.moveworks.ai:443/rest/v1beta1",
        "https://API.moveworks.ai./rest/v1beta1",
    ],
)
def test_one_api_host_spelled_differently_is_one_asset(base_url) -> None:
    assert asset_uri(base_url, "HR Bot") == "moveworks://api.moveworks.ai/HR%20Bot"


def test_a_port_other_than_the_default_is_kept() -> None:
    assert asset_uri("http://127.0.0.1:8787/rest/v1beta1", "bot") == "moveworks://127.0.0.1:8787/bot"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("moveworks://API.Moveworks.ai./hr-bot", "moveworks://api.moveworks.ai/hr-bot"),
        ("moveworks://api.moveworks.ai:443/hr-bot/", "moveworks://api.moveworks.ai/hr-bot"),
        ("moveworks://127.0.0.1:8787/bot", "moveworks://127.0.0.1:8787/bot"),
    ],
)
def test_the_normaliser_lowercases_the_host_and_drops_the_default_port(uri, expected) -> None:
    assert sanitize_uri(urlsplit(uri)).geturl() == expected


@pytest.mark.parametrize(
    "uri", ["moveworks://user:key@api.moveworks.ai/bot", "moveworks://api.moveworks.ai", "moveworks:///bot"]
)
def test_the_normaliser_refuses_credentials_and_a_uri_without_host_or_assistant(uri) -> None:
    with pytest.raises(ValueError, match="moveworks://"):
        sanitize_uri(urlsplit(uri))


def test_the_openlineage_dataset_is_the_lineage_output() -> None:
    lineage = pytest.importorskip("airflow_provider_moveworks.lineage", exc_type=ImportError)
    from airflow.providers.common.compat.sdk import Asset

    asset = Asset(uri=asset_uri("https://api.moveworks.ai/rest/v1beta1", "HR Bot"))
    converted = convert_asset_to_openlineage(asset, None)
    expected = lineage.conversations_dataset("https://api.moveworks.ai/rest/v1beta1", "HR Bot")
    assert (converted.namespace, converted.name) == (expected.namespace, expected.name)


def test_provider_info_registers_the_scheme() -> None:
    info = get_provider_info()
    entry = {
        "schemes": ["moveworks"],
        "handler": "airflow_provider_moveworks.assets.sanitize_uri",
        "to_openlineage_converter": "airflow_provider_moveworks.assets.convert_asset_to_openlineage",
    }
    assert info["asset-uris"] == [entry]
    assert info["dataset-uris"] == [entry]


def test_airflow_normalises_a_moveworks_asset_through_the_provider() -> None:
    from airflow.providers.common.compat.sdk import Asset

    assert Asset(uri="moveworks://API.Moveworks.AI./bot").uri == "moveworks://api.moveworks.ai/bot"
