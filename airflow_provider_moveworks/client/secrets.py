"""The forms in which a secret can come back in text we did not write: an echoed form body or
URL percent-encodes it; a JSON body, an HTML page or a repr escapes it, each server's encoder in
its own way. Redaction replaces each form. One form per escaping scheme (and its repr), never
every mix of schemes: the list stays a few dozen strings at most."""

from __future__ import annotations

import contextlib
import json
import re
from urllib.parse import quote, quote_plus

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
