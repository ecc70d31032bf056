"""A ``moveworks`` connection is read the same from JSON, a URI or the UI's stored extras."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from airflow_provider_moveworks.client.config import ClientConfig
from airflow_provider_moveworks.connection import read_settings
from airflow_provider_moveworks.defaults import DEFAULT_BASE_URL, DEFAULT_TOKEN_URL
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT, BASE_URL, CLIENT_SECRET


def settings_from_env(monkeypatch: pytest.MonkeyPatch, value: str, **hook_kwargs: object) -> ClientConfig:
    monkeypatch.setenv("AIRFLOW_CONN_MOVEWORKS_DEFAULT", value)
    return MoveworksHook(**hook_kwargs).settings  # type: ignore[arg-type]


def test_json_connection_keeps_the_base_url_whole_and_applies_defaults(set_connection, monkeypatch) -> None:
    set_connection()
    settings = MoveworksHook().settings
    assert settings == ClientConfig(
        base_url=BASE_URL,
        api_key=API_KEY,
        client_id=None,
        assistant_name=ASSISTANT,
        token_url=DEFAULT_TOKEN_URL,
        timeout=30.0,
        verify=True,
        max_retries=5,
        proxies=None,
    )
    assert not settings.uses_oauth


def test_repr_of_settings_and_hook_hide_the_secret(set_connection) -> None:
    set_connection(login="client", password=CLIENT_SECRET)
    hook = MoveworksHook()
    assert CLIENT_SECRET not in repr(hook.settings)
    assert CLIENT_SECRET not in repr(hook)
    assert hook.settings.uses_oauth


def test_uri_connection_rebuilds_the_base_url_from_host_port_and_path(monkeypatch) -> None:
    settings = settings_from_env(
        monkeypatch,
        f"moveworks://:{API_KEY}@api.eu.example.com:8443/rest/v1beta1?assistant_name=bot&timeout=12.5"
        "&verify=false&max_retries=3",
    )
    assert settings.base_url == "https://api.eu.example.com:8443/rest/v1beta1"
    assert settings.secret == API_KEY
    assert (settings.assistant_name, settings.timeout, settings.verify, settings.max_retries) == (
        "bot",
        12.5,
        False,
        3,
    )


def test_uri_connection_accepts_a_percent_encoded_base_url(monkeypatch) -> None:
    settings = settings_from_env(
        monkeypatch,
        f"moveworks://:{API_KEY}@http%3A%2F%2F127.0.0.1%3A8080%2Frest%2Fv1beta1?assistant_name=bot",
    )
    assert settings.base_url == "http://127.0.0.1:8080/rest/v1beta1"


def test_empty_host_means_the_published_base_url(set_connection) -> None:
    set_connection(host="")
    assert MoveworksHook().settings.base_url == DEFAULT_BASE_URL


def test_prefixed_extras_of_older_forms_are_read(set_connection) -> None:
    set_connection(extra={"extra__moveworks__assistant_name": "old-form", "extra__moveworks__timeout": "7"})
    settings = MoveworksHook().settings
    assert (settings.assistant_name, settings.timeout) == ("old-form", 7.0)


def test_empty_form_fields_count_as_absent(set_connection) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "timeout": "", "verify": "", "max_retries": ""})
    settings = MoveworksHook().settings
    assert (settings.timeout, settings.verify, settings.max_retries) == (30.0, True, 5)


def test_hook_arguments_win_over_connection_extras(set_connection) -> None:
    set_connection(extra={"assistant_name": "conn-bot", "timeout": 5, "max_retries": 2})
    settings = MoveworksHook(assistant_name="op-bot", timeout=9, max_retries=0).settings
    assert (settings.assistant_name, settings.timeout, settings.max_retries) == ("op-bot", 9.0, 0)


def test_verify_takes_a_ca_bundle_path(set_connection, tmp_path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    set_connection(extra={"assistant_name": ASSISTANT, "verify": str(bundle)})
    assert MoveworksHook().settings.verify == str(bundle)


def test_proxies_extra_accepts_a_mapping_or_its_json(set_connection) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "proxies": json.dumps({"https": "http://proxy:3128"})})
    assert MoveworksHook().settings.proxies == {"https": "http://proxy:3128"}


@pytest.mark.parametrize(
    ("fields", "field_name", "reason"),
    [
        ({"password": None}, "connection password", "is empty"),
        ({"host": "http://api.moveworks.ai/rest"}, "connection host (base URL)", "not loopback"),
        ({"extra": {}}, "Assistant name", "is required"),
        (
            {"extra": {"assistant_name": ASSISTANT, "timeout": "soon"}},
            "Timeout (seconds) (connection extra 'timeout')",
            "not a number",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "timeout": "-1"}},
            "Timeout (seconds) (connection extra 'timeout')",
            "in (0, 600]",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "timeout": "nan"}},
            "Timeout (seconds) (connection extra 'timeout')",
            "not a finite",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "timeout": True}},
            "Timeout (seconds) (connection extra 'timeout')",
            "not a number",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "timeout": 10**400}},
            "Timeout (seconds) (connection extra 'timeout')",
            "not a finite",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "max_retries": 10**400}},
            "Max retries (connection extra 'max_retries')",
            "not a finite",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "max_retries": "2.5"}},
            "Max retries (connection extra 'max_retries')",
            "whole",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "max_retries": 99}},
            "Max retries (connection extra 'max_retries')",
            "0 to 20",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "verify": "/no/such/ca.pem"}},
            "Verify TLS certificates (connection extra 'verify')",
            "nor an existing CA bundle path",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "verify": 3}},
            "Verify TLS certificates (connection extra 'verify')",
            "not true, false",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "token_url": "http://auth.example.com/t"}},
            "connection extra 'token_url'",
            "not loopback",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "proxies": "{oops"}},
            "connection extra 'proxies'",
            "not JSON",
        ),
        (
            {"extra": {"assistant_name": ASSISTANT, "proxies": {"https": 1}}},
            "connection extra 'proxies'",
            "strings",
        ),
    ],
)
def test_unusable_connection_fields_fail_naming_the_field(set_connection, fields, field_name, reason) -> None:
    set_connection(**fields)
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.field == field_name
    assert reason in caught.value.reason
    assert API_KEY not in str(caught.value)


def test_oauth_url_extra_names_the_token_endpoint(set_connection) -> None:
    set_connection(
        login="client", extra={"assistant_name": ASSISTANT, "oauth_url": "https://auth.example.com/t"}
    )
    assert MoveworksHook().settings.token_url == "https://auth.example.com/t"


def test_token_url_of_saved_connections_is_still_read(set_connection) -> None:
    set_connection(
        login="client", extra={"assistant_name": ASSISTANT, "token_url": "https://old.example.com/t"}
    )
    assert MoveworksHook().settings.token_url == "https://old.example.com/t"


def test_oauth_url_wins_over_the_older_token_url(set_connection) -> None:
    set_connection(
        extra={
            "assistant_name": ASSISTANT,
            "oauth_url": "https://new.example.com/t",
            "token_url": "https://old.example.com/t",
        }
    )
    assert MoveworksHook().settings.token_url == "https://new.example.com/t"


def test_a_bad_oauth_url_names_the_field(set_connection) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "oauth_url": "http://auth.example.com/t"})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.field == "OAuth token URL (connection extra 'oauth_url')"


def test_null_extras_saved_by_the_form_mean_the_defaults(set_connection) -> None:
    # Airflow 3.3's form saves every field it shows, untouched ones as null.
    set_connection(
        extra={
            "assistant_name": ASSISTANT,
            "oauth_url": None,
            "timeout": None,
            "verify": None,
            "ca_bundle_path": None,
            "max_retries": None,
        }
    )
    settings = MoveworksHook().settings
    assert (settings.token_url, settings.timeout, settings.verify, settings.max_retries) == (
        DEFAULT_TOKEN_URL,
        30.0,
        True,
        5,
    )


@pytest.mark.parametrize(("switch", "expected"), [(True, True), (False, False)])
def test_verify_switch_is_a_boolean(set_connection, switch, expected) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "verify": switch})
    assert MoveworksHook().settings.verify is expected


@pytest.mark.parametrize("switch", [True, None])
def test_ca_bundle_path_is_used_while_verification_is_on(set_connection, tmp_path, switch) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    set_connection(extra={"assistant_name": ASSISTANT, "verify": switch, "ca_bundle_path": str(bundle)})
    assert MoveworksHook().settings.verify == str(bundle)


def test_verification_switched_off_ignores_the_ca_bundle(set_connection, tmp_path) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "verify": False, "ca_bundle_path": "/no/such/ca.pem"})
    assert MoveworksHook().settings.verify is False


def test_ca_bundle_path_may_be_a_folder_of_hashed_certificates(set_connection, tmp_path) -> None:
    """requests verifies against a folder such as /etc/ssl/certs; the older ``verify`` path took
    one too, so the field must not call an existing folder missing."""
    set_connection(extra={"assistant_name": ASSISTANT, "ca_bundle_path": str(tmp_path)})
    assert MoveworksHook().settings.verify == str(tmp_path)
    set_connection(extra={"assistant_name": ASSISTANT, "verify": str(tmp_path)})
    assert MoveworksHook().settings.verify == str(tmp_path)


def test_a_missing_ca_bundle_names_the_field(set_connection) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "ca_bundle_path": "/no/such/ca.pem"})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.field == "CA bundle path (connection extra 'ca_bundle_path')"
    assert "does not exist" in caught.value.reason


@pytest.mark.parametrize(("word", "expected"), [("true", True), ("false", False), ("FALSE", False)])
def test_verify_as_the_older_string_form_is_still_read(set_connection, word, expected) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "verify": word})
    assert MoveworksHook().settings.verify is expected


@pytest.mark.parametrize("extra", [{}, {"assistant_name": None}, {"assistant_name": ""}])
def test_a_missing_assistant_name_is_named_as_the_form_labels_it(set_connection, extra) -> None:
    set_connection(extra=extra)
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert str(caught.value) == (
        "Invalid Assistant name: is required: set it on the operator or as the connection extra "
        "'assistant_name'"
    )


def test_prefixed_token_url_and_verify_of_older_forms_are_read(set_connection) -> None:
    set_connection(
        extra={
            "extra__moveworks__assistant_name": ASSISTANT,
            "extra__moveworks__token_url": "https://old-form.example.com/t",
            "extra__moveworks__verify": "false",
        }
    )
    settings = MoveworksHook().settings
    assert (settings.token_url, settings.verify) == ("https://old-form.example.com/t", False)


def test_a_pasted_secret_is_stored_stripped_and_a_proxy_with_credentials_is_kept(set_connection) -> None:
    proxy = "http://user:pr0xy-pa%40ss@proxy.example:3128"
    set_connection(
        password=f"{API_KEY}\r\n", extra={"assistant_name": ASSISTANT, "proxies": {"https": proxy}}
    )
    hook = MoveworksHook()
    assert hook.settings.secret == API_KEY
    assert hook.settings.proxies == {"https": proxy}
    said = f"proxy {proxy} refused pr0xy-pa@ss and pr0xy-pa%40ss"
    assert hook.get_conn().redact(said) == "proxy *** refused *** and ***"


@pytest.mark.parametrize(
    "proxy", ["socks5h://proxy.example:1080", "https://proxy.example", "http://[::1]:3128"]
)
def test_proxy_urls_that_requests_can_use_are_accepted(set_connection, proxy) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "proxies": {"https": proxy}})
    assert MoveworksHook().settings.proxies == {"https": proxy}


@pytest.mark.parametrize("extra", [[1, 2], "text", 5])
def test_an_extra_that_is_not_a_json_object_fails_naming_the_field(extra) -> None:
    # Built by hand: Airflow 3.0 itself refuses such a connection from the environment.
    conn = SimpleNamespace(
        host=BASE_URL, login=None, password=API_KEY, schema=None, port=None, extra_dejson=extra
    )
    with pytest.raises(MoveworksValidationError) as caught:
        read_settings(conn)
    assert caught.value.field == "connection extra"
    assert "not an object" in caught.value.reason


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"assistant-name": "x"}, "'assistant-name' (did you mean 'assistant_name'?)"),
        ({"assistantName": "x"}, "'assistantName' (did you mean 'assistant_name'?)"),
        ({"max_retry": 3}, "'max_retry' (did you mean 'max_retries'?)"),
        ({"extra__moveworks__timout": 3}, "'extra__moveworks__timout' (did you mean 'timeout'?)"),
        ({"colour": "blue"}, "'colour'"),
    ],
)
def test_an_unknown_extra_key_is_one_warning_with_the_likeliest_meant_key(
    set_connection, mocker, extra, said
) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, **extra})
    log = mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock).return_value
    settings = MoveworksHook().settings
    assert settings.assistant_name == ASSISTANT
    log.warning.assert_called_once_with(
        "The Moveworks connection's extra has keys this provider does not read, so they are ignored: %s", said
    )


def test_every_key_the_provider_reads_passes_without_a_warning(set_connection, mocker, tmp_path) -> None:
    set_connection(
        extra={
            "assistant_name": ASSISTANT,
            "oauth_url": "https://auth.example.com/t",
            "token_url": "https://auth.example.com/t",
            "timeout": 5,
            "verify": True,
            "ca_bundle_path": str(tmp_path),
            "max_retries": 1,
            "proxies": {"https": "http://proxy:3128"},
            "extra__moveworks__timeout": 6,
        }
    )
    log = mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock).return_value
    MoveworksHook().settings  # noqa: B018
    log.warning.assert_not_called()


def test_whitespace_around_the_assistant_name_is_removed_with_a_warning(set_connection, mocker) -> None:
    set_connection(extra={"assistant_name": f" {ASSISTANT}\n"})
    log = mocker.patch.object(MoveworksHook, "log", new_callable=mocker.PropertyMock).return_value
    assert MoveworksHook().settings.assistant_name == ASSISTANT
    log.warning.assert_called_once_with(
        "The Moveworks %s had whitespace (spaces, tabs or line breaks) around it; it was removed",
        "assistant name",
    )


@pytest.mark.parametrize("ca_bundle_path", ["   ", 123])
def test_a_ca_bundle_path_that_is_blank_or_no_string_is_not_a_path(set_connection, ca_bundle_path) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "ca_bundle_path": ca_bundle_path})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.field == "CA bundle path (connection extra 'ca_bundle_path')"
    assert caught.value.reason.endswith("is not a path")


@pytest.mark.parametrize(("timeout", "expected"), [("0.5", 0.5), (1, 1.0), ("600", 600.0)])
def test_a_timeout_above_zero_up_to_600_seconds_is_taken(set_connection, timeout, expected) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "timeout": timeout})
    assert MoveworksHook().settings.timeout == expected


@pytest.mark.parametrize("timeout", [0, "0", -1])
def test_a_timeout_of_zero_or_less_is_refused_naming_the_form_field(set_connection, timeout) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "timeout": timeout})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.field == "Timeout (seconds) (connection extra 'timeout')"
    assert caught.value.reason.endswith("is not a number of seconds in (0, 600]")


@pytest.mark.parametrize("timeout", [[30], {"seconds": 30}])
def test_a_timeout_that_is_a_list_or_an_object_is_not_a_number(set_connection, timeout) -> None:
    set_connection(extra={"assistant_name": ASSISTANT, "timeout": timeout})
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.field == "Timeout (seconds) (connection extra 'timeout')"
    assert caught.value.reason.endswith("is not a number")


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"assistant_name": ASSISTANT, "timeout": "thirty"}, id="timeout"),
        pytest.param({"assistant_name": "bot\r\nX-Injected: 1"}, id="assistant_name"),
    ],
)
def test_a_refused_field_s_error_hides_the_internal_error_it_came_from(set_connection, extra) -> None:
    # A traceback shows the field as the form names it, not also the parser's own ValueError or
    # the validator's error under its internal name.
    set_connection(extra=extra)
    with pytest.raises(MoveworksValidationError) as caught:
        MoveworksHook().settings  # noqa: B018
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True
