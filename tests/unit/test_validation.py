"""Every input is checked before a request leaves; each failure names the field and the problem."""

from __future__ import annotations

import pytest

from airflow_provider_moveworks.exceptions import MoveworksValidationError
from airflow_provider_moveworks.validation import (
    build_update_body,
    parse_archived,
    validate_assistant_name,
    validate_conversation_id,
    validate_service_url,
    validate_title,
)


@pytest.mark.parametrize("good", ["conv_01ARZ3NDEKTSV4RRFFQ69G5FAV", "conv_32bt7BMLhLyVzTUjfi35N", "conv_a"])
def test_conversation_id_accepts_conv_prefix_and_ascii_alphanumerics(good: str) -> None:
    assert validate_conversation_id(good) == good


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("conv_abc/../x", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_abc/archive", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_..", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_abc?x=1", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_abc#frag", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_abc%2F", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_ab c", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_abc\n", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_", "not 'conv_' followed by ASCII letters and digits"),
        ("abc", "not 'conv_' followed by ASCII letters and digits"),
        ("CONV_abc", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_ábc", "not 'conv_' followed by ASCII letters and digits"),
        ("conv_١٢٣", "not 'conv_' followed by ASCII letters and digits"),
        ("", "is empty (if it comes from a template such as {{ params.<name> }}"),
        ("  ", "is empty (if it comes from a template such as {{ params.<name> }}"),
        (None, "must be a string, got NoneType"),
        (123, "must be a string, got int"),
        ("conv_" + "a" * 200, "is 205 characters long, at most 128"),
    ],
)
def test_conversation_id_rejects_anything_that_could_change_the_path(bad: object, reason: str) -> None:
    with pytest.raises(MoveworksValidationError, match="conversation_id") as caught:
        validate_conversation_id(bad)
    assert caught.value.field == "conversation_id"
    assert reason in caught.value.reason


def test_title_accepts_1_to_256_characters() -> None:
    assert validate_title("x") == "x"
    assert validate_title("é" * 256) == "é" * 256
    assert validate_title("👍" * 256) == "👍" * 256  # code points, not UTF-16 units or bytes
    assert validate_title("שלום world") == "שלום world"  # right-to-left text itself is fine
    assert validate_title("a\u200db") == "a\u200db"  # zero-width joiner inside a title is fine


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "must not be empty (if it comes from a template such as {{ params.<name> }}"),
        ("   \t", "must not be empty or blank"),
        ("x" * 257, "is 257 characters long, at most 256"),
        ("\u200b\u200b", "must not be empty or blank"),
        (" \u200d\ufeff\u2060 ", "must not be empty or blank"),
        ("\u3000\u00a0", "must not be empty or blank"),
        ("\u00ad\u034f\u3164\u200e", "must not be empty or blank"),
        ("a\nb", "contains the control character U+000A at position 1"),
        ("ab\x00", "contains the control character U+0000 at position 2"),
        ("a\x7f", "contains the control character U+007F"),
        ("a\x85", "contains the control character U+0085"),
        ("a\x9b31m", "contains the control character U+009B"),
        ("invoice \u202egnp.exe", "contains the bidi control character U+202E at position 8"),
        ("\u2066x\u2069", "contains the bidi control character U+2066"),
        ("\u202ax", "contains the bidi control character U+202A"),
        (42, "must be a string, got int 42"),
        (["a"], "must be a string, got list"),
    ],
)
def test_title_rejects_blank_long_and_non_string(bad: object, reason: str) -> None:
    with pytest.raises(MoveworksValidationError) as caught:
        validate_title(bad)
    assert caught.value.field == "title"
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        ("1", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        (" true ", True),
    ],
)
def test_archived_accepts_bools_and_rendered_words(value: object, expected: bool) -> None:
    assert parse_archived(value) is expected


@pytest.mark.parametrize("bad", ["maybe", "", "2", 2, None, 1.5, "None", "tru"])
def test_archived_rejects_other_values(bad: object) -> None:
    with pytest.raises(MoveworksValidationError, match=r"Invalid archived: .* is not a boolean"):
        parse_archived(bad)


def test_update_body_holds_only_the_given_fields() -> None:
    assert build_update_body(title="New") == {"title": "New"}
    assert build_update_body(archived="no") == {"archived": False}
    assert build_update_body(title="New", archived=True) == {"title": "New", "archived": True}


def test_update_body_needs_at_least_one_field() -> None:
    with pytest.raises(MoveworksValidationError, match="give at least one of title and archived"):
        build_update_body()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "is required"),
        (None, "is required"),
        ("bot\r\nX-Evil: 1", "contains a control character"),
        ("bot\x00", "contains a control character"),
        ("bot\x9bx", "contains a control character (C1)"),
        (" bot", "has leading or trailing whitespace"),
        ("bot☃", "that HTTP headers cannot carry"),
    ],
)
def test_assistant_name_rejects_empty_and_header_breaking_values(bad: object, reason: str) -> None:
    with pytest.raises(MoveworksValidationError) as caught:
        validate_assistant_name(bad)
    assert caught.value.field == "assistant_name"
    assert reason in caught.value.reason
    if isinstance(bad, str) and bad.strip():
        assert bad.strip() not in str(caught.value)  # the field and the reason, never the value


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.moveworks.ai/rest/v1beta1/", "https://api.moveworks.ai/rest/v1beta1"),
        ("http://127.0.0.1:8080/rest/v1beta1", "http://127.0.0.1:8080/rest/v1beta1"),
        ("http://localhost:9/x", "http://localhost:9/x"),
        ("http://[::1]:9/x", "http://[::1]:9/x"),
    ],
)
def test_service_url_accepts_https_and_loopback_http(url: str, expected: str) -> None:
    assert validate_service_url(url, "host") == expected


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("http://api.moveworks.ai/rest/v1beta1", "plain http to a host that is not loopback"),
        ("http://10.0.0.1/rest", "plain http to a host that is not loopback"),
        ("ftp://api.moveworks.ai", "is not an absolute http(s) URL"),
        ("api.moveworks.ai/rest", "is not an absolute http(s) URL"),
        ("https://user:pw@api.moveworks.ai", "must not carry credentials"),
        ("https://api.moveworks.ai/rest?x=1", "must not have a query or fragment"),
        ("https://api.moveworks.ai:port/rest", "is not a valid URL"),
        ("", "must be an absolute URL"),
        (None, "must be an absolute URL"),
    ],
)
def test_service_url_rejects_clear_text_to_other_hosts_and_malformed_urls(bad: object, reason: str) -> None:
    with pytest.raises(MoveworksValidationError) as caught:
        validate_service_url(bad, "connection host (base URL)")
    assert caught.value.field == "connection host (base URL)"
    assert reason in caught.value.reason
    assert "pw" not in str(caught.value)


def test_the_c1_controls_end_at_u009f_and_a_no_break_space_is_a_title_character() -> None:
    with pytest.raises(MoveworksValidationError, match="control character"):
        validate_title("Ticket\x9f")
    assert validate_title("Ticket\xa0402") == "Ticket\xa0402"
