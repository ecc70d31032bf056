"""The forms in which a secret can come back in text we did not write: an echoed form body or
URL percent-encodes it, a JSON body or a repr escapes it. Redaction replaces each form."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import quote, quote_plus


def secret_forms(secret: str) -> set[str]:
    """``secret`` as written, percent-encoded (both ways), JSON- and repr-escaped, and (when not
    ASCII) its bytes read back in the other of UTF-8 and Latin-1."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),  # "/" kept, as in a URL path
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }
    forms |= {form.lower() for form in forms if "%" in form}
    if not secret.isascii():
        # Bytes read with the other charset: a header value goes out in Latin-1 and a body
        # echoing it is read as UTF-8 (each such byte a U+FFFD); a form body goes out in UTF-8
        # and a header echoing it is read as Latin-1.
        forms.add(secret.encode("utf-8").decode("latin-1"))
        with contextlib.suppress(UnicodeEncodeError):  # not Latin-1: never sent in a header
            forms.add(secret.encode("latin-1").decode("utf-8", "replace"))
    return {form for form in forms if form}
