"""hooks/moveworks.py and validation.py exactly: which part of the connection a failed test
names for each status, the test's own short timeout, a long value's description cut at its
limit, the C1 control characters at both ends of their range, and a proxy URL with a space."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_moveworks.exceptions import (
    MoveworksClientError,
    MoveworksRateLimitError,
    MoveworksServerError,
    MoveworksValidationError,
)
from airflow_provider_moveworks.hooks import moveworks as hook_module
from airflow_provider_moveworks.hooks.moveworks import TEST_CONNECTION_TIMEOUT, MoveworksHook, _culprit
from airflow_provider_moveworks.validation import check_proxy_url, describe, header_value_problem

BUSY = "Moveworks is unavailable or busy now"
BASE_URL = "The base URL could not be used"


@pytest.mark.parametrize(
    ("error", "culprit"),
    [
        (MoveworksRateLimitError("x", status=429), BUSY),
        (MoveworksServerError("x", status=500), BUSY),
        (MoveworksServerError("x", status=599), BUSY),
        (MoveworksClientError("x", status=499), BASE_URL),
        (MoveworksClientError("x", status=430), BASE_URL),
        (MoveworksClientError("x", status=None), BASE_URL),
    ],
)
def test_a_failed_test_names_the_culprit_by_status(error: Any, culprit: str) -> None:
    assert _culprit(error) == culprit


def test_the_connection_test_takes_the_shorter_of_its_own_limit_and_the_connections_timeout(
    set_connection: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    timeouts: list[float] = []

    def new_client(self: MoveworksHook, config: Any = None, **options: Any) -> Any:
        timeouts.append((config.timeout, config.max_retries))
        raise MoveworksClientError("stop here", status=404)

    monkeypatch.setattr(MoveworksHook, "new_client", new_client)
    set_connection(extra={"assistant_name": "test-assistant", "timeout": 3})
    assert MoveworksHook().test_connection()[0] is False
    set_connection(extra={"assistant_name": "test-assistant", "timeout": 60})
    MoveworksHook().test_connection()
    # OAuth: two requests (the token's, then the listing's) share the limit.
    set_connection(
        login="client",
        password="client-secret-41b2",
        extra={"assistant_name": "test-assistant", "token_url": "https://moveworks.test/oauth/v1/token"},
    )
    MoveworksHook().test_connection()
    assert timeouts == [(3.0, 0), (TEST_CONNECTION_TIMEOUT, 0), (TEST_CONNECTION_TIMEOUT / 2, 0)]
    assert hook_module.TEST_CONNECTION_TIMEOUT == 10.0


def test_a_long_value_is_described_cut_to_its_limit() -> None:
    assert describe("a" * 58) == repr("a" * 58)  # 60 characters with its quotes: whole
    assert describe("a" * 59) == repr("a" * 59)[:57] + "..."
    assert len(describe("a" * 59)) == 60
    assert describe("abcdef", limit=6) == "'ab..."


def test_c1_control_characters_are_refused_at_both_ends_of_their_range() -> None:
    assert header_value_problem("key\x80") == "contains a control character (C1)"
    assert header_value_problem("key\x9f") == "contains a control character (C1)"
    assert header_value_problem("key\x7f") is not None  # DEL: a C0-style control character
    assert header_value_problem("key\xa0") is None
    assert header_value_problem("key\xff") is None


def test_a_proxy_url_with_a_space_is_refused() -> None:
    with pytest.raises(MoveworksValidationError, match="contains spaces or control characters"):
        check_proxy_url("proxies", "http://proxy.example.com:3128/a b")
    check_proxy_url("proxies", " http://proxy.example.com:3128 ")
