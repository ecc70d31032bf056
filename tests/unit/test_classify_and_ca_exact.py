"""bulk/classify.error_fields and client/transport's CA bundle from the environment, exactly."""

from __future__ import annotations

import pytest

from airflow_provider_moveworks.bulk.classify import error_fields
from airflow_provider_moveworks.client.transport import _ca_bundle_from_environment
from airflow_provider_moveworks.exceptions import (
    MoveworksClientError,
    MoveworksTimeoutError,
    MoveworksValidationError,
)


def test_a_rows_report_fields_from_an_api_error_and_from_any_other() -> None:
    api = MoveworksClientError("Updating conv_a1: Moveworks answered 400 BAD", status=400, code="BAD")
    assert error_fields(api) == {"status": 400, "code": "BAD", "message": str(api)}
    assert error_fields(MoveworksTimeoutError("no answer within 5 s")) == {
        "status": None,
        "code": None,
        "message": "no answer within 5 s",
    }


def test_verification_uses_the_environments_ca_bundle_else_the_default_cas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert _ca_bundle_from_environment(True) is True
    assert _ca_bundle_from_environment(False) is False
    assert _ca_bundle_from_environment("/my/ca.pem") == "/my/ca.pem"
    bundle = f"{tmp_path}/ca.pem"
    open(bundle, "w").close()
    monkeypatch.setenv("CURL_CA_BUNDLE", bundle)
    assert _ca_bundle_from_environment(True) == bundle
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", f"{tmp_path}/missing.pem")
    with pytest.raises(MoveworksValidationError, match="is not an existing CA bundle path"):
        _ca_bundle_from_environment(True)
