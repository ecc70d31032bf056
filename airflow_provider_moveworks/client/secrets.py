"""The forms in which a secret can come back in text we did not write: an echoed form body or
URL percent-encodes it, a JSON body or a repr escapes it. Redaction replaces each form."""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus


def secret_forms(secret: str) -> set[str]:
    """``secret`` as written, percent-encoded (both ways), and JSON- and repr-escaped."""
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
    return {form for form in forms if form}
