"""One redaction step for any text that comes back from a backend (error bodies, echoed headers, raw
outputs) before rlvr-bench stores or prints it: a server that echoes ``Authorization: Bearer sk-...``
in a 401 body must not put the key into a run directory, a log or a report.

Removed: the values of the environment variables that hold keys (the ones a judge or policy names, and
any variable whose name ends in ``_API_KEY``, ``_TOKEN`` or ``_SECRET``), and the common token shapes
(``Bearer ...``, ``sk-...``, ``hf_...``, ``ghp_...``, ``xoxb-...``, AWS access key ids).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

REDACTED = "***"
#: shapes of API keys and bearer tokens, whatever variable (if any) they came from
TOKEN_SHAPES = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-[A-Za-z0-9_-]{8,}"
    r"|\bhf_[A-Za-z0-9]{16,}"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
)
_SECRET_VARIABLE = re.compile(r"(_API_KEY|_KEY|_TOKEN|_SECRET)$")
#: literal values shorter than this are not treated as keys (they would redact ordinary words)
MIN_KEY_LENGTH = 6


def known_secrets(variables: Iterable[str] = ()) -> list[str]:
    """The values of the named variables and of every secret-looking variable in the environment."""
    names = set(variables) | {name for name in os.environ if _SECRET_VARIABLE.search(name)}
    values = {os.environ.get(name, "") for name in names}
    return sorted((v for v in values if len(v) >= MIN_KEY_LENGTH), key=len, reverse=True)


def redact(text: str, variables: Iterable[str] = ()) -> str:
    """``text`` with every known key value and every token-shaped string replaced by ``***``."""
    if not text:
        return text
    for value in known_secrets(variables):
        text = text.replace(value, REDACTED)
    return TOKEN_SHAPES.sub(REDACTED, text)


def looks_like_a_key(value: str) -> bool:
    """True for a literal that has the shape of an API key or token (for refusing keys in preset files)."""
    # token shapes only: a long hex string may be a model revision, not a secret
    return bool(TOKEN_SHAPES.fullmatch(value.strip()))
