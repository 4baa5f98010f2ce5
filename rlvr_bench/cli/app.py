"""The typer application object and the shared error handling of every command.

Each command lives in its own module under ``rlvr_bench/cli/`` and registers
itself on :data:`app`; ``rlvr_bench/cli/__init__.py`` imports them all. Commands
are thin: parse options, call the library, print.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from rlvr_bench.errors import UserError

app = typer.Typer(
    name="rlvr-bench",
    help="Measure verifiers for RL with verifiable rewards: agreement, accuracy, policy evaluation, training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# piped output (CI logs, `| tee`) gets a wide console so tables with CIs stay one line per row
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def user_errors_exit_2(func: F) -> F:
    """Turn a UserError into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


#: every judging command's ``--max-unscored`` (see rlvr_bench.judging.FailureBudget)
MaxUnscored = Annotated[float, typer.Option(
    "--max-unscored", min=0.0, max=1.0,
    help="Stop when a judge fails (backend error, unparseable output, timeout) on more than this fraction of "
         "its triples. Abstentions (a numeric judge on a text reference) do not count. Default 0.1.")]


def split_names(value: str | None) -> list[str] | None:
    """"a,b, c" -> ["a", "b", "c"]; None or "" -> None."""
    if not value:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]
