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


class JudgeBackendError(Exception):
    """A judge's backend failed on a batch (a timeout, an HTTP error, an unreadable reply, out of memory).

    Raised by backends, and recognised in :func:`rlvr_bench.judging.is_backend_error`: the batch's
    verdicts become unscored with the reason. Any other exception is a bug and propagates.
    """


class TooManyUnscored(UserError):
    """A judge failed on more of its triples than the command's ``--max-unscored`` allows."""
