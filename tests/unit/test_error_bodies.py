"""Answers that are not the documented error JSON, at their edges: where the quoted start of a
body ends, which statuses are described as redirects, and error codes that are not strings."""

from __future__ import annotations

import pytest
import responses

from airflow_provider_moveworks.exceptions import (
    MoveworksBadRequestError,
    MoveworksClientError,
    MoveworksServerError,
)
from airflow_provider_moveworks.hooks.moveworks import MoveworksHook
from tests.conftest import ASSISTANT
from tests.unit.test_hook import CONV_ID, CONV_URL


@pytest.fixture
def api(set_connection):
    set_connection(extra={"assistant_name": ASSISTANT, "max_retries": 0})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def update() -> None:
    MoveworksHook().new_client(sleep=lambda seconds: None).update_conversation(CONV_ID, archived=True)


@pytest.mark.parametrize(
    ("body", "quoted"),
    [
        ("a" * 80, f"a text/plain body of 80 bytes starting '{'a' * 80}' instead"),
        ("a" * 80 + "b", f"a text/plain body of 81 bytes starting '{'a' * 80}'... instead"),
    ],
    ids=["80 bytes, whole", "81 bytes, cut"],
)
def test_the_first_80_bytes_of_a_body_are_quoted(api, body, quoted) -> None:
    api.patch(CONV_URL, body=body, content_type="text/plain")
    with pytest.raises(MoveworksClientError) as caught:
        update()
    assert quoted in str(caught.value)


@pytest.mark.parametrize("status", [300, 302, 399])
def test_a_3xx_names_where_it_pointed(api, status) -> None:
    api.patch(CONV_URL, status=status, headers={"Location": "https://elsewhere.example/x"})
    with pytest.raises(MoveworksClientError) as caught:
        update()
    assert caught.value.api_message is not None
    assert caught.value.api_message.endswith("; a redirect to https://elsewhere.example/x is not followed")


def test_a_3xx_without_a_location_says_so(api) -> None:
    api.patch(CONV_URL, status=302)
    with pytest.raises(MoveworksClientError) as caught:
        update()
    assert caught.value.api_message == (
        "the body was an empty body, not the documented error JSON; a redirect to ? is not followed"
    )


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, MoveworksBadRequestError), (500, MoveworksServerError)]
)
def test_an_error_with_a_location_header_is_not_called_a_redirect(api, status, error_class) -> None:
    api.patch(
        CONV_URL,
        status=status,
        body="<h1>Error</h1>",
        content_type="text/html",
        headers={"Location": "https://elsewhere.example/x"},
    )
    with pytest.raises(error_class) as caught:
        update()
    assert caught.value.api_message == (
        "the body was a text/html body of 14 bytes starting '<h1>Error</h1>', not the documented error JSON"
    )


@pytest.mark.parametrize("code", [42, "", None, ["INVALID_INPUT"]])
def test_an_error_code_that_is_not_a_word_makes_the_body_undocumented(api, code) -> None:
    api.patch(CONV_URL, status=400, json={"error": {"code": code, "message": "bad"}})
    with pytest.raises(MoveworksBadRequestError) as caught:
        update()
    assert caught.value.code is None
    assert caught.value.api_message is not None
    assert caught.value.api_message.startswith("the body was a application/json body of")
