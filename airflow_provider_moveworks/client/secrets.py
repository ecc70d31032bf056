"""The secrets a client must never show, kept in one :class:`SecretRegistry`, and the forms in
which a secret comes back in text we did not write: an echoed form body or URL percent-encodes
it; a JSON body, an HTML page or a repr escapes it, each server's encoder in its own way.
Redaction replaces each form: one per escaping scheme (and its repr), never every mix of
schemes, so the list stays a few dozen strings at most. An encoder no form foresaw (``%7E``
for ``~``, ``&#x2F;`` for ``/``, JSON inside HTML) is caught by :func:`holds_secret`, which
reads text back the way each decoder would."""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

# JSON encoders that write more characters as \u escapes than JSON needs, to be safe in HTML:
# (those characters, upper-case hex, non-ASCII escaped too).
_JSON_U_ESCAPES = (
    ("\"&'+<>", True, True),  # .NET System.Text.Json's default encoder
    ("&<>", False, False),  # Go encoding/json, Rails
    ("&'<=>", False, False),  # Gson
)
_MARKUP = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# HTML escapers, each writing quotes (and Go's templates "+") its own way.
_HTML_ENTITIES = (
    _MARKUP,  # XML text, html.escape(quote=False)
    {**_MARKUP, '"': "&quot;", "'": "&#x27;"},  # Python html.escape
    {**_MARKUP, '"': "&quot;", "'": "&#39;"},  # .NET, Java
    {**_MARKUP, '"': "&quot;", "'": "&#039;"},  # PHP htmlspecialchars
    {**_MARKUP, '"': "&#34;", "'": "&#39;"},  # Go html.EscapeString, Jinja
    {**_MARKUP, '"': "&#34;", "'": "&#39;", "+": "&#43;"},  # Go html/template
)
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")
_BACKSLASH_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.DOTALL)
_ESCAPED_CHARS = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
# Only text holding one of these can hold an escaped secret.
_ESCAPE_MARKS = ("%", "&", "\\")


def secret_forms(secret: str) -> set[str]:
    """``secret`` as written, percent-encoded (upper- and lower-case hex), JSON-escaped by each
    common encoder, HTML-escaped by each common escaper, each of those as a repr writes it, and
    (when not ASCII) its bytes read back in the other of UTF-8 and Latin-1."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),  # "/" kept, as in a URL path
        quote_plus(secret, safe=""),
    }
    forms |= {_PERCENT_HEX.sub(lambda hex_escape: hex_escape.group().lower(), form) for form in forms}
    json_ascii = json.dumps(secret)[1:-1]
    forms |= {
        json_ascii,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json_ascii.replace("/", "\\/"),  # PHP's json_encode
    }
    forms |= {_json_u_escaped(secret, *scheme) for scheme in _JSON_U_ESCAPES}
    forms |= {"".join(entities.get(char, char) for char in secret) for entities in _HTML_ENTITIES}
    if not secret.isascii():
        # Bytes read with the other charset: a header value goes out in Latin-1 and a body
        # echoing it is read as UTF-8 (each such byte a U+FFFD); a form body goes out in UTF-8
        # and a header echoing it is read as Latin-1.
        forms.add(secret.encode("utf-8").decode("latin-1"))
        with contextlib.suppress(UnicodeEncodeError):  # not Latin-1: never sent in a header
            forms.add(secret.encode("latin-1").decode("utf-8", "replace"))
    # A message quoting text with repr() before it is redacted doubles each backslash.
    forms |= {repr(form)[1:-1] for form in forms}
    return {form for form in forms if form}


def _json_u_escaped(secret: str, escaped: str, upper: bool, non_ascii: bool) -> str:
    """``secret`` in a JSON string by an encoder that writes ``escaped`` (and, if ``non_ascii``,
    every non-ASCII character) as \\u escapes in UTF-16 code units."""
    hex_format = "\\u{:04X}" if upper else "\\u{:04x}"
    parts = []
    for char in secret:
        if char in escaped or (non_ascii and not char.isascii()):
            units = char.encode("utf-16-be")
            parts.append(
                "".join(
                    hex_format.format(int.from_bytes(units[i : i + 2], "big"))
                    for i in range(0, len(units), 2)
                )
            )
        else:
            parts.append(json.dumps(char, ensure_ascii=False)[1:-1])
    return "".join(parts)


def holds_secret(text: str, secrets: Iterable[str]) -> bool:
    """Whether ``text``, as written or read back by any of a percent-decoder, an HTML unescaper
    and a JSON/JavaScript unescaper (alone, or in turn up to three deep), holds one of ``secrets``."""
    secrets = tuple(secrets)
    if not secrets:
        return False
    readings = {text}
    if any(mark in text for mark in _ESCAPE_MARKS):
        readings |= {unquote(text), html.unescape(text), _unescape_backslashes(text)}
        combined = text
        for _ in range(3):
            combined = _unescape_backslashes(html.unescape(unquote(combined)))
            readings.add(combined)
        readings |= {unquote_plus(reading) for reading in tuple(readings)}  # "+" for a blank
    return any(secret in reading for secret in secrets for reading in readings)


def _unescape_backslashes(text: str) -> str:
    """JSON and JavaScript string escapes read back (``\\u0026``, ``\\u{26}``, ``\\x26``,
    ``\\/``, ``\\"``), surrogate pairs joined."""

    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "ux" and len(escape) > 1:  # \\u0026, \\u{26}, \\x26
            code = int(escape[1:].strip("{}"), 16)
            return chr(code) if code <= sys.maxunicode else escape
        return _ESCAPED_CHARS.get(escape, escape)

    unescaped = _BACKSLASH_ESCAPE.sub(one, text)
    return unescaped.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# A secret shorter than this is neither cut out of text nor refused in a title: it would match
# ordinary words and ids. Airflow's secrets masker draws the same line.
MIN_SECRET_LENGTH = 5
# What stands for a text that holds a secret in an encoding no redaction form foresaw.
WITHHELD = "*** (withheld: it holds a secret in an encoded form)"


class SecretRegistry:
    """Every secret a client must never show: redaction of text, and the guard that keeps a
    Moveworks credential out of what is sent. Safe across threads.

    :param announce: told of each secret kept (the hook passes Airflow's ``mask_secret``).
    """

    def __init__(self, announce: Callable[[str], object] | None = None) -> None:
        self._announce = announce
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        # Replaced whole, never changed in place: a thread redacting while another keeps a
        # secret reads one consistent tuple.
        self._forms: tuple[str, ...] = ()  # every form of every secret, longest first
        self._secrets_kept: tuple[str, ...] = ()
        self._credentials: tuple[str, ...] = ()  # Moveworks' own: never in a title

    def keep(self, secret: str | None, *, credential: bool = True) -> None:
        """Never show ``secret``; a ``credential`` (API key, client secret, access token) is
        also never sent in an update."""
        if not secret or len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            forms = {*self._forms, *secret_forms(secret)}
            self._forms = tuple(sorted(forms, key=len, reverse=True))
            self._secrets_kept = (*self._secrets_kept, secret)
            if credential:
                self._credentials = (*self._credentials, secret)
        if self._announce is not None:
            self._announce(secret)

    def redact(self, text: str) -> str:
        """``text`` with every form of every kept secret replaced by ``***``, longest first (a
        shorter form inside a longer one must not leave the rest behind); text that still holds
        a secret in an encoding no form foresaw is withheld whole."""
        for form in self._forms:
            text = text.replace(form, "***")
        if holds_secret(text, self._secrets_kept):
            return WITHHELD
        return text

    def holds_credential(self, text: str) -> bool:
        """Whether ``text``, in any encoding, holds a Moveworks credential."""
        return holds_secret(text, self._credentials)


def proxy_secrets(urls: Iterable[str]) -> set[str]:
    """What to keep out of messages: each proxy URL that carries credentials, its password
    alone, and the Basic credentials sent to the proxy (base64 of ``user:password``, which a
    proxy may echo). A proxy's bare address is no secret."""
    secrets: set[str] = set()
    for url in urls:
        parts = urlsplit(url.strip())
        if parts.username or parts.password:
            secrets.add(url)
        if parts.password:
            secrets |= {parts.password, unquote(parts.password)}
            credentials = f"{unquote(parts.username or '')}:{unquote(parts.password)}"
            for charset in ("latin-1", "utf-8"):  # requests sends Latin-1 when it can
                with contextlib.suppress(UnicodeEncodeError):
                    secrets.add(base64.b64encode(credentials.encode(charset)).decode("ascii"))
    return secrets
