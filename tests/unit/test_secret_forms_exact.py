"""client/secrets.py exactly: the JSON forms of a secret with characters outside ASCII (and
outside the Basic Multilingual Plane), how deep escaped text is read back, the largest code point,
and what a proxy URL makes secret."""

from __future__ import annotations

import base64
import sys
from urllib.parse import quote

from airflow_provider_moveworks.client.secrets import (
    WITHHELD,
    SecretRegistry,
    _unescape_backslashes,
    holds_secret,
    proxy_secrets,
)


def registry(secret: str) -> SecretRegistry:
    secrets = SecretRegistry()
    secrets.keep(secret)
    return secrets


def test_a_secret_outside_the_bmp_is_cut_out_of_json_in_utf16_escapes() -> None:
    secrets = registry("key-\U0001f600-1234")
    # .NET's encoder: every non-ASCII character as \u escapes of its UTF-16 code units.
    assert secrets.redact('{"a": "key-\\uD83D\\uDE00-1234"}') == '{"a": "***"}'


def test_pythons_json_of_a_secret_with_non_ascii_and_escaped_characters_is_cut_out() -> None:
    secrets = registry('\u00e9&"key-1234')
    assert secrets.redact('x \u00e9&\\"key-1234 y') == "x *** y"


def test_gos_json_of_a_non_ascii_secret_is_cut_out_not_withheld() -> None:
    secrets = registry("\u00e9&key-1234")
    assert secrets.redact("x \u00e9\\u0026key-1234 y") == "x *** y"
    assert WITHHELD not in secrets.redact("x \u00e9\\u0026key-1234 y")


def test_escaped_text_is_read_back_four_percent_decodings_deep_and_no_deeper() -> None:
    secret = "key/1234 abcd"
    text = secret
    for _ in range(4):
        text = quote(text, safe="")
    assert holds_secret(text, [secret])
    assert not holds_secret(quote(text, safe=""), [secret])
    assert holds_secret(quote(secret, safe=""), [secret])
    assert not holds_secret("key 1234 abcd", [secret])


def test_the_largest_code_point_is_read_back_and_one_past_it_is_left_as_written() -> None:
    assert _unescape_backslashes("\\u{10FFFF}") == chr(sys.maxunicode)
    assert _unescape_backslashes("\\u{110000}") == "u{110000}"


def test_a_proxy_url_with_credentials_is_secret_and_so_are_its_password_and_basic_credentials() -> None:
    url = "http://proxyuser:pass%2Fword@proxy.example.com:3128"
    basic = base64.b64encode(b"proxyuser:pass/word").decode()
    assert proxy_secrets([url]) == {url, "pass%2Fword", "pass/word", basic}
    user_only = "http://tokenuser@proxy.example.com:3128"
    assert proxy_secrets([user_only]) == {user_only}
    assert proxy_secrets(["http://proxy.example.com:3128"]) == set()
    no_user = "http://:pass-word@proxy.example.com:3128"
    assert proxy_secrets([no_user]) == {no_user, "pass-word", base64.b64encode(b":pass-word").decode()}


def test_text_holding_every_escape_mark_is_read_back_too() -> None:
    page = "a=1&b=2 path\\/x key%2F1234%20abcd"  # "&", "\\" and "%" all present
    assert holds_secret(page, ["key/1234 abcd"])


def test_a_lone_backslash_u_or_x_is_left_as_written() -> None:
    assert _unescape_backslashes("\\uZZ \\xZZ \\u") == "uZZ xZZ u"
