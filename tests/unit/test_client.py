"""MoveworksClient from plain Python: its config, its layout (no Airflow under client/), the
environment read once, and the one threshold for short secrets."""

from __future__ import annotations

import ast
import importlib
import logging
from pathlib import Path

import pytest
import requests
import responses

from airflow_provider_moveworks.client import ClientConfig, MoveworksClient
from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import API_KEY, ASSISTANT, BASE_URL

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_provider_moveworks"
CONV_ID = "conv_01ARZ3NDEKTSV4RRFFQ69G5FAV"
CONV_URL = f"{BASE_URL}/conversations/{CONV_ID}"


def conversation(**fields: object) -> dict[str, object]:
    return {
        "conversation_id": CONV_ID,
        "title": "Quarterly review",
        "archived": False,
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-02T00:00:00Z",
        **fields,
    }


def imports_of(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` -> the modules it imports (at any depth of its code)."""
    found: dict[str, set[str]] = {}
    for path in (PACKAGE / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "client",
            (
                "airflow",
                "airflow_provider_moveworks.hooks",
                "airflow_provider_moveworks.operators",
                "airflow_provider_moveworks.bulk",
                "airflow_provider_moveworks.connection",
                "airflow_provider_moveworks.version_compat",
            ),
        ),
        ("bulk", ("airflow", "airflow_provider_moveworks.hooks", "airflow_provider_moveworks.operators")),
        ("hooks", ("airflow_provider_moveworks.operators", "airflow_provider_moveworks.bulk")),
    ],
)
def test_imports_go_one_way(package, forbidden) -> None:
    wrong = {
        module: sorted(name for name in names if name == f or name.startswith(f"{f}."))
        for module, names in imports_of(package).items()
        for f in forbidden
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def test_a_config_checks_its_values_and_hides_its_secrets() -> None:
    config = ClientConfig(base_url=f"{BASE_URL}/", api_key=API_KEY, assistant_name=ASSISTANT)
    assert (config.base_url, config.secret, config.uses_oauth) == (BASE_URL, API_KEY, False)
    assert API_KEY not in repr(config)
    oauth = ClientConfig(base_url=BASE_URL, client_id="cid", client_secret="s3cret-value", assistant_name="a")
    assert (oauth.secret, oauth.uses_oauth) == ("s3cret-value", True)
    assert "s3cret-value" not in repr(oauth)


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({}, "api_key", "is required (or client_id and client_secret for OAuth client credentials)"),
        (
            {"api_key": "k" * 8, "client_secret": "s" * 8},
            "api_key",
            "is required (or client_id and client_secret for OAuth client credentials)",
        ),
        ({"client_id": "c"}, "client_secret", "is required with client_id (and api_key is then not used)"),
        (
            {"api_key": "key\nX-Injected: 1"},
            "api_key",
            "contains a control character (such as a line break or tab)",
        ),
        (
            {"api_key": "k" * 8, "base_url": "http://moveworks.example/rest"},
            "base_url",
            "'http://moveworks.example/rest' uses plain http to a host that is not loopback; use https",
        ),
        ({"api_key": "k" * 8, "timeout": 0}, "timeout", "0 is not a number of seconds in (0, 600]"),
        (
            {"api_key": "k" * 8, "timeout": float("nan")},
            "timeout",
            "nan is not a number of seconds in (0, 600]",
        ),
        ({"api_key": "k" * 8, "max_retries": 21}, "max_retries", "21 is not a whole number from 0 to 20"),
        ({"api_key": "k" * 8, "max_retries": True}, "max_retries", "True is not a whole number from 0 to 20"),
    ],
)
def test_a_config_that_cannot_work_names_the_field(fields, field, reason) -> None:
    with pytest.raises(MoveworksValidationError) as raised:
        ClientConfig(**{"base_url": BASE_URL, "assistant_name": ASSISTANT, **fields})
    assert (raised.value.field, raised.value.reason) == (field, reason)


def test_a_client_from_a_plain_config_sends_the_patch_and_closes_its_pool_on_exit() -> None:
    config = ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT)
    with responses.RequestsMock() as api, MoveworksClient(config) as client:
        api.patch(CONV_URL, json=conversation(title="Renamed"))
        assert client.update_conversation(CONV_ID, title="Renamed") == conversation(title="Renamed")
        sent = api.calls[0].request
        assert (sent.method, sent.url, sent.body) == ("PATCH", CONV_URL, b'{"title": "Renamed"}')
        assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
        assert sent.headers["Assistant-Name"] == ASSISTANT
        adapter = client._transport._session.get_adapter(BASE_URL)
    assert len(adapter.poolmanager.pools) == 0


def test_the_proxy_environment_is_read_once_when_the_client_is_built(monkeypatch, mocker) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://first-proxy:3128")
    read = mocker.spy(
        importlib.import_module("airflow_provider_moveworks.client.transport"), "get_environ_proxies"
    )
    client = MoveworksClient(ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT))
    built_with = read.call_count
    monkeypatch.setenv("HTTPS_PROXY", "http://second-proxy:3128")
    send = mocker.spy(client._transport._session, "send")
    with responses.RequestsMock() as api:
        api.patch(CONV_URL, json=conversation(archived=True))
        for _ in range(3):
            client.update_conversation(CONV_ID, archived=True)
    assert read.call_count == built_with
    assert [call.kwargs["proxies"] for call in send.call_args_list] == [
        {"https": "http://first-proxy:3128"}
    ] * 3


def test_the_ca_bundle_variable_is_read_once_when_the_client_is_built(monkeypatch, tmp_path) -> None:
    first, second = tmp_path / "first.pem", tmp_path / "second.pem"
    first.write_text("")
    second.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(first))
    client = MoveworksClient(ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(second))
    with responses.RequestsMock() as api:
        api.patch(CONV_URL, json=conversation(archived=True))
        client.update_conversation(CONV_ID, archived=True)
        assert api.calls[0].request.req_kwargs["verify"] == str(first)


def test_a_ca_bundle_variable_naming_no_file_is_refused_when_the_client_is_built(monkeypatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    with pytest.raises(MoveworksValidationError) as raised:
        MoveworksClient(ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT))
    assert (raised.value.field, raised.value.reason) == (
        "the environment variable REQUESTS_CA_BUNDLE",
        "'/nonexistent/bundle.pem' is not an existing CA bundle path",
    )


def test_the_bulk_operator_s_old_import_path_warns_and_finds_it() -> None:
    from airflow_provider_moveworks.operators import bulk, moveworks

    with pytest.warns(DeprecationWarning, match=r"from airflow_provider_moveworks\.operators\.bulk"):
        found = moveworks.MoveworksBulkUpdateConversationsOperator
    assert found is bulk.MoveworksBulkUpdateConversationsOperator


# -- one threshold for short secrets: below it neither refused nor cut out; at it, both -------------
@pytest.mark.parametrize("key", ["dev1", "dev12"])
def test_a_short_key_is_neither_refused_in_a_title_nor_cut_out_of_answers(key, caplog) -> None:
    config = ClientConfig(base_url=BASE_URL, api_key=key, assistant_name=ASSISTANT)
    title = f"{key} notes"
    with (
        responses.RequestsMock(assert_all_requests_are_fired=False) as api,
        MoveworksClient(config) as client,
    ):
        api.patch(CONV_URL, json=conversation(title=title))
        if len(key) < 5:
            with caplog.at_level(logging.WARNING):
                assert client.update_conversation(CONV_ID, title=title)["title"] == title
            assert [r.getMessage() for r in caplog.records if "different title" in r.getMessage()] == []
            assert client.redact(f"{key} notes") == f"{key} notes"
        else:
            with pytest.raises(MoveworksValidationError, match="holds this connection's API key"):
                client.update_conversation(CONV_ID, title=title)
            assert client.redact(f"{key} notes") == "*** notes"
            assert len(api.calls) == 0


def test_a_title_holding_a_proxy_password_is_redacted_in_the_answer_without_a_false_warning(caplog) -> None:
    proxy = "http://user:pr0xy-pass@proxy.example:3128"
    config = ClientConfig(
        base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT, proxies={"https": proxy}
    )
    with responses.RequestsMock() as api, MoveworksClient(config) as client:
        api.patch(CONV_URL, json=conversation(title="about pr0xy-pass"))
        with caplog.at_level(logging.WARNING):
            result = client.update_conversation(CONV_ID, title="about pr0xy-pass")
    assert result["title"] == "about ***"
    assert [r.getMessage() for r in caplog.records if "different title" in r.getMessage()] == []


def test_the_hook_hands_out_one_client_built_from_the_connection(set_connection) -> None:
    set_connection()
    hook = MoveworksHook()
    client = hook.get_conn()
    assert isinstance(client, MoveworksClient)
    assert hook.get_conn() is client
    assert (client.config.base_url, client.config.secret, client.config.assistant_name) == (
        BASE_URL,
        API_KEY,
        ASSISTANT,
    )


def test_a_session_is_not_trusted_to_read_the_environment_per_request() -> None:
    client = MoveworksClient(ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT))
    session = client._transport._session
    assert isinstance(session, requests.Session)
    assert session.trust_env is False


def test_a_credential_shorter_than_5_characters_is_warned_about(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        MoveworksClient(ClientConfig(base_url=BASE_URL, api_key="dev1", assistant_name=ASSISTANT))
    assert [r.getMessage() for r in caplog.records] == [
        "The Moveworks credential is shorter than 5 characters: it is not masked in logs and messages "
        "(a longer one would match ordinary words)"
    ]


def test_whitespace_around_a_key_is_removed_with_a_warning_and_the_trimmed_key_is_kept_secret(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        config = ClientConfig(base_url=BASE_URL, api_key=f"{API_KEY} \n", assistant_name=ASSISTANT)
    assert config.api_key == API_KEY
    assert "api_key had whitespace" in caplog.text
    assert MoveworksClient(config).redact(f"echo Bearer {API_KEY}") == "echo Bearer ***"


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"api_key": 12345678}, "api_key", "must be a string, got int"),
        ({"api_key": b"k" * 8}, "api_key", "must be a string, got bytes"),
        ({"client_id": 123, "client_secret": "s" * 8}, "client_id", "must be a string, got int"),
        ({"api_key": "k" * 8, "timeout": 10**400}, "timeout", "is not a number of seconds in (0, 600]"),
        (
            {"api_key": "k" * 8, "proxies": "http://proxy:3128"},
            "proxies",
            "must map URL schemes to proxy URLs",
        ),
        (
            {"api_key": "k" * 8, "proxies": {"https": 3128}},
            "proxies (the 'https' proxy)",
            "must be a URL string, got int",
        ),
        (
            {"api_key": "k" * 8, "proxies": {"https": "http://u:pw@[bad"}},
            "proxies (the 'https' proxy)",
            "has a malformed host or a port that is not a number from 0 to 65535",
        ),
        (
            {"api_key": "k" * 8, "proxies": {"https": "ftp://proxy"}},
            "proxies (the 'https' proxy)",
            "must be an absolute URL with one of the schemes",
        ),
        (
            {"api_key": "k" * 8, "verify": "/nonexistent/ca.pem"},
            "verify",
            "'/nonexistent/ca.pem' is not an existing CA bundle path",
        ),
        ({"api_key": "k" * 8, "verify": ""}, "verify", "'' is not True, False or a CA bundle path"),
    ],
)
def test_config_values_of_the_wrong_kind_are_validation_errors(fields, field, reason) -> None:
    with pytest.raises(MoveworksValidationError) as raised:
        ClientConfig(**{"base_url": BASE_URL, "assistant_name": ASSISTANT, **fields})
    assert raised.value.field == field
    assert reason in raised.value.reason
    assert "pw" not in str(raised.value)


def test_a_proxy_from_the_environment_is_kept_secret_and_a_malformed_one_refused(monkeypatch) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://u:env-proxy-pw@127.0.0.1:3128")
    client = MoveworksClient(ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT))
    assert client.redact("via http://u:env-proxy-pw@127.0.0.1:3128 (env-proxy-pw)") == "via *** (***)"
    monkeypatch.setenv("HTTPS_PROXY", "http://u:env-proxy-pw@127.0.0.1:99999")
    with pytest.raises(MoveworksValidationError) as raised:
        MoveworksClient(ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT))
    assert raised.value.field == "the 'https' proxy of the environment (HTTPS_PROXY)"
    assert "env-proxy-pw" not in str(raised.value)


def test_close_ends_a_call_waiting_to_retry_and_nothing_more_is_sent() -> None:
    import threading
    import time

    config = ClientConfig(base_url=BASE_URL, api_key=API_KEY, assistant_name=ASSISTANT, max_retries=3)
    client = MoveworksClient(config)
    outcome: dict[str, BaseException] = {}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.patch(
            CONV_URL,
            status=503,
            headers={"Retry-After": "10"},
            json={"error": {"code": "UNAVAILABLE", "message": "m"}},
        )

        def call() -> None:
            try:
                client.update_conversation(CONV_ID, archived=True)
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=call)
        thread.start()
        while not api.calls:
            time.sleep(0.01)
        started = time.monotonic()
        client.close()
        thread.join(5)
        assert time.monotonic() - started < 1
        assert len(api.calls) == 1
    assert type(outcome["error"]).__name__ == "MoveworksCancelledError"


@pytest.mark.parametrize("header", ["1e2", "+3", "1_0", "\u0663"])
def test_a_retry_after_that_is_not_digits_is_no_wait(header) -> None:
    from airflow_provider_moveworks.client.retry import parse_retry_after

    assert parse_retry_after(header) is None


def test_the_package_lists_its_lazy_names() -> None:
    import airflow_provider_moveworks.client as package

    assert {"ClientConfig", "MoveworksClient"} <= set(dir(package))
