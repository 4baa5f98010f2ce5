"""Errors the CLI turns into one line on stderr and exit code 2.

Library code raises these for anything the *user* can fix (a bad file, an
unknown name, a missing key or checkpoint); genuine bugs stay ordinary
exceptions with tracebacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Something the user can fix; the message is one line that says what."""


class InputError(UserError):
    """Bad input data: the message names file:line and the field."""


class ConfigError(UserError):
    """A judge, task or recipe cannot be used as configured (missing key, endpoint, checkpoint)."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> UserError:
    """An error for an unknown task/judge/recipe name that suggests the closest known names."""
    known_sorted = sorted(known)
    close = difflib.get_close_matches(name, known_sorted, n=3, cutoff=0.4)
    hint = f"did you mean {', '.join(close)}?" if close else f"known: {', '.join(known_sorted)}"
    return UserError(f"unknown {kind} {name!r}; {hint}")
