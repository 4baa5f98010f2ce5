"""One redaction step for any text that rlvr-bench stores or prints from outside: a backend's answer (error
bodies, echoed headers, raw outputs), a policy's response, a judge's output. A server that echoes
``Authorization: Bearer sk-...`` in a 401 body, or a policy that prints a key it saw in training, must
not put the key into a run directory, a log or a report.

Where it applies: :func:`redact_fields` is called by the one serialised form of a verdict and of a
response (:mod:`rlvr_bench.records`), so ``judgments.jsonl`` (``raw``, ``error``), ``responses.jsonl``,
exploration logs, the judgment cache and every report built from them are redacted; the reward server
redacts the reasons it replies with and logs.

Removed: the values of the environment variables that hold keys (the ones a judge or policy names, and
any variable whose name ends in ``_API_KEY``, ``_TOKEN`` or ``_SECRET``), and the common token shapes
(``Bearer ...``, ``sk-...``, ``hf_...``, ``ghp_...``, ``xoxb-...``, AWS access key ids).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

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


_secret_names: tuple[int, frozenset[str]] = (-1, frozenset())


def _secret_variable_names() -> frozenset[str]:
    """The environment's secret-looking variable names, rescanned when the number of variables changes (every
    run file and verdict write redacts: scanning the environment each time would cost a million-row run
    a minute). Values are always read fresh."""
    global _secret_names
    size = len(os.environ)
    if _secret_names[0] != size:
        _secret_names = (size, frozenset(name for name in os.environ if _SECRET_VARIABLE.search(name)))
    return _secret_names[1]


def known_secrets(variables: Iterable[str] = ()) -> list[str]:
    """The values of the named variables and of every secret-looking variable in the environment."""
    names = set(variables) | _secret_variable_names()
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


def printable(text: str) -> str:
    """``text`` writable as UTF-8: a lone surrogate (a policy's broken decode) becomes its ``\\udXXX`` escape
    instead of failing the whole file write or log line."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def redact_fields(record: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``record`` with its string fields ``names`` redacted (:func:`redact`) and made writable
    (:func:`printable`); the other fields unchanged. Values with nothing to hide are kept as they are."""
    secrets = known_secrets()
    out = dict(record)
    for name in names:
        value = out.get(name)
        if isinstance(value, str) and value:
            for secret in secrets:
                value = value.replace(secret, REDACTED)
            out[name] = printable(TOKEN_SHAPES.sub(REDACTED, value))
    return out
