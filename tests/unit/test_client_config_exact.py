"""client/config.py and client.checked_update exactly: every field of ClientConfig checked when it
is built (not only by the connection that usually builds it), the proxies copied, no_proxy taken
as it is, and a validation error quoting a proxy's password redacted."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_moveworks.client.client import checked_update
from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.client.secrets import SecretRegistry
from airflow_provider_moveworks.exceptions import MoveworksValidationError

KEY = "k" * 20


def config(**fields: Any) -> ClientConfig:
    fields.setdefault("assistant_name", "test-assistant")
    fields.setdefault("api_key", KEY)
    return ClientConfig(**fields)


def test_the_token_url_is_checked_and_kept_without_its_trailing_slash() -> None:
    assert (
        config(token_url="https://auth.example.com/oauth/token/").token_url
        == "https://auth.example.com/oauth/token"
    )
    with pytest.raises(MoveworksValidationError) as raised:
        config(token_url="ftp://auth.example.com/token")
    assert raised.value.field == "token_url"
    with pytest.raises(MoveworksValidationError) as raised:
        config(token_url="http://auth.example.com/token")  # clear text to another machine
    assert raised.value.field == "token_url"


def test_the_assistant_name_is_checked() -> None:
    with pytest.raises(MoveworksValidationError) as raised:
        config(assistant_name="two\nlines")
    assert raised.value.field == "assistant_name"


def test_a_timeout_that_is_not_a_number_is_a_validation_error() -> None:
    for value in ("5", None, [5], True):
        with pytest.raises(MoveworksValidationError) as raised:
            config(timeout=value)
        assert raised.value.field == "timeout"


def test_proxies_are_checked_copied_and_no_proxy_taken_as_it_is() -> None:
    given = {"https": "http://proxy.example.com:3128", "no_proxy": "localhost,127.0.0.1"}
    built = config(proxies=given)
    given["https"] = "http://other.example.com:3128"
    assert built.proxies == {"https": "http://proxy.example.com:3128", "no_proxy": "localhost,127.0.0.1"}
    assert type(built.proxies) is dict
    with pytest.raises(MoveworksValidationError):
        config(proxies={"https": "localhost,127.0.0.1"})


def test_an_invalid_update_quoting_a_proxy_password_is_redacted_and_not_chained() -> None:
    secrets = SecretRegistry()
    secrets.keep("proxy-pass-4471", credential=False)  # kept out of messages, not a credential
    with pytest.raises(MoveworksValidationError) as raised:
        checked_update(secrets, "conv_a proxy-pass-4471", None, True)
    assert raised.value.field == "conversation_id"
    assert "proxy-pass-4471" not in str(raised.value)
    assert "***" in str(raised.value)
    assert raised.value.__cause__ is None
    # Nothing to redact: the error as raised by the check.
    with pytest.raises(MoveworksValidationError) as plain:
        checked_update(secrets, "conv_a b", None, True)
    assert "conv_a b" in str(plain.value)
