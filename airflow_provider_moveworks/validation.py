"""Checks that run before any request leaves, so that the API never sees a request it would
reject for a reason we can see. Each check returns the normalised value or raises
:class:`MoveworksValidationError` naming the field and the problem.

Pure functions with no third-party imports: the operator module uses them at no import cost.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_moveworks.exceptions import MoveworksValidationError

TITLE_MAX_LENGTH = 256
CONVERSATION_ID_MAX_LENGTH = 128

CONVERSATION_ID_PREFIX = "conv_"
# The words a boolean field takes, in any case: an archived flag, a connection switch.
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def describe(value: Any, limit: int = 60) -> str:
    """A short repr of a user value for error messages (long values are cut)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


# What an empty value most often means: a template rendered from a run that lacks it.
FROM_A_TEMPLATE = (
    "if it comes from a template such as {{ params.<name> }} or {{ dag_run.conf['<name>'] }}, "
    "the run's params or conf may be missing the value"
)


def validate_conversation_id(value: Any) -> str:
    """``conv_`` followed by ASCII letters and digits only."""
    if isinstance(value, str) and not value.strip():
        raise MoveworksValidationError("conversation_id", f"is empty ({FROM_A_TEMPLATE})")
    if not isinstance(value, str):
        raise MoveworksValidationError(
            "conversation_id", f"must be a string, got {type(value).__name__} {describe(value)}"
        )
    if len(value) > CONVERSATION_ID_MAX_LENGTH:
        raise MoveworksValidationError(
            "conversation_id", f"is {len(value)} characters long, at most {CONVERSATION_ID_MAX_LENGTH}"
        )
    # An id is the opaque "conv_" prefix and ASCII letters and digits (the two published formats,
    # a ULID and 21 base-62 characters, disagree on the rest). Nothing else may reach the URL path.
    rest = value[len(CONVERSATION_ID_PREFIX) :]
    if not (value.startswith(CONVERSATION_ID_PREFIX) and rest.isascii() and rest.isalnum()):
        raise MoveworksValidationError(
            "conversation_id",
            f"{describe(value)} is not 'conv_' followed by ASCII letters and digits",
        )
    return value


# Bidi embedding/override (U+202A-202E) and isolate (U+2066-2069) characters can make a title
# display as something else than it says.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Characters that show nothing besides the format characters (Unicode category Cf: zero-width
# space and joiners, word joiner, BOM, soft hyphen...): the combining grapheme joiner and the
# Hangul fillers. A title of only these and whitespace is blank.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0")


def _shows_nothing(char: str) -> bool:
    import unicodedata  # only needed when a title is checked

    return char.isspace() or char in _INVISIBLE or unicodedata.category(char) == "Cf"


def validate_title(value: Any) -> str:
    """A string of 1 to 256 code points that is not blank (whitespace or zero-width characters
    only), with no control characters (C0, DEL, C1) and no bidi override or isolate characters."""
    if not isinstance(value, str):
        raise MoveworksValidationError(
            "title", f"must be a string, got {type(value).__name__} {describe(value)}"
        )
    if not value:
        raise MoveworksValidationError("title", f"must not be empty ({FROM_A_TEMPLATE})")
    if all(_shows_nothing(char) for char in value):
        raise MoveworksValidationError("title", "must not be empty or blank")
    if len(value) > TITLE_MAX_LENGTH:
        raise MoveworksValidationError(
            "title", f"is {len(value)} characters long, at most {TITLE_MAX_LENGTH}"
        )
    for position, char in enumerate(value):
        code = ord(char)
        if code < 0x20 or 0x7F <= code <= 0x9F:
            raise MoveworksValidationError(
                "title", f"contains the control character U+{code:04X} at position {position}"
            )
        if char in _BIDI_CONTROLS:
            raise MoveworksValidationError(
                "title", f"contains the bidi control character U+{code:04X} at position {position}"
            )
    return value


def parse_archived(value: Any) -> bool:
    """A bool, 0 or 1, or (as rendered templates give) one of the boolean words in any case."""
    return parse_switch("archived", value)


def parse_switch(field: str, value: Any) -> bool:
    """A bool, 0 or 1, or (a rendered template) one of the boolean words in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise MoveworksValidationError(
        field, f"{describe(value)} is not a boolean (use true/false, 1/0 or yes/no)"
    )


def build_update_body(title: Any = None, archived: Any = None) -> dict[str, Any]:
    """The PATCH body: only the fields given, each validated; at least one of them."""
    body: dict[str, Any] = {}
    if title is not None:
        body["title"] = validate_title(title)
    if archived is not None:
        body["archived"] = parse_archived(archived)
    if not body:
        raise MoveworksValidationError("title/archived", "give at least one of title and archived")
    return body


def validate_assistant_name(value: Any) -> str:
    """A non-empty header value with no control characters (they could split the header)."""
    if not isinstance(value, str) or not value.strip():
        raise MoveworksValidationError(
            "assistant_name",
            "is required: set it on the operator or as the connection extra 'assistant_name'",
        )
    if value != value.strip():
        raise MoveworksValidationError("assistant_name", "has leading or trailing whitespace")
    check_header_value("assistant_name", value)
    return value


def header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot travel in an HTTP header, or ``None``. The one check every header
    value we send passes (API key, client credentials, assistant name, issued token): a control
    character could split the header and inject another, and http.client would otherwise raise
    an error quoting the whole value. Never names the value itself."""
    if has_control_characters(value):
        return "contains a control character (such as a line break or tab)"
    if not value.isascii():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return "contains a character that HTTP headers cannot carry (outside Latin-1)"
        if any(0x80 <= ord(char) <= 0x9F for char in value):
            return "contains a control character (C1)"
    return None


def check_header_value(field: str, value: str) -> str:
    """``value`` if it can travel in an HTTP header, else :class:`MoveworksValidationError`
    naming ``field`` and the reason (never the value: it may be a secret)."""
    problem = header_value_problem(value)
    if problem:
        raise MoveworksValidationError(field, problem)
    return value


def has_control_characters(text: str) -> bool:
    """C0 controls and DEL: they could split an HTTP header or a request line."""
    return any(ord(char) < 0x20 or char == "\x7f" for char in text)


def is_loopback_host(hostname: str) -> bool:
    import ipaddress  # only needed when a connection is read, never at DAG parse

    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def has_userinfo(url: str) -> bool:
    """``user:password@`` (or just ``user@``), found without parsing the URL: a URL with
    credentials may be malformed in other ways too, and a password holding ``/``, ``?`` or ``#``
    ends the host part early for a parser, leaving the rest of it in the path, query or fragment.
    So any ``@`` counts: neither the API's base URL nor its token URL has one otherwise."""
    return "@" in url


def validate_service_url(value: Any, field: str) -> str:
    """An absolute https URL, or http to a loopback host only (a bearer token never travels in
    clear text to another machine). Returned without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise MoveworksValidationError(field, "must be an absolute URL such as https://api.moveworks.ai/...")
    url = value.strip()
    # First, before any message could quote the URL: credentials belong in the connection.
    if has_userinfo(url):
        raise MoveworksValidationError(
            field,
            "must not carry credentials (user:password@); put them in the connection's login and password",
        )
    from urllib.parse import urlsplit  # only needed when a connection is read

    problem = None
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        problem = f"{describe(url)} is not a valid URL ({error})"
    if problem:  # raised outside the handler: the original error stays out of the chain
        raise MoveworksValidationError(field, problem)
    if parts.scheme not in ("https", "http") or not hostname:
        raise MoveworksValidationError(field, f"{describe(url)} is not an absolute http(s) URL")
    if parts.query or parts.fragment:
        # Not quoted: a query pasted with the URL may hold a key (?api_key=..., ?client_secret=...).
        origin = f"{parts.scheme}://{parts.netloc}{parts.path}"
        raise MoveworksValidationError(
            field, f"{describe(origin)}... must not have a query or fragment (not quoted here)"
        )
    if parts.scheme == "http" and not is_loopback_host(hostname):
        raise MoveworksValidationError(
            field, f"{describe(url)} uses plain http to a host that is not loopback; use https"
        )
    if has_control_characters(url) or " " in url:
        raise MoveworksValidationError(field, f"{describe(url)} contains spaces or control characters")
    return url.rstrip("/")


PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def check_proxy_url(field: str, url: Any) -> None:
    """A proxy URL that requests can use, checked so that requests' own errors (which quote the
    URL, password included) never happen. Messages name ``field``, never the URL."""
    from urllib.parse import urlsplit  # only needed when a connection or config is read

    if not isinstance(url, str):
        raise MoveworksValidationError(field, f"must be a URL string, got {type(url).__name__}")
    problem = None
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or out of range
    except ValueError:
        problem = "has a malformed host or a port that is not a number from 0 to 65535"
    if problem:  # raised outside the handler: the ValueError quotes the URL
        raise MoveworksValidationError(field, problem)
    if parts.scheme not in PROXY_SCHEMES or not hostname:
        raise MoveworksValidationError(
            field, f"must be an absolute URL with one of the schemes {', '.join(PROXY_SCHEMES)}"
        )
    if has_control_characters(url) or " " in url.strip():
        raise MoveworksValidationError(field, "contains spaces or control characters")
