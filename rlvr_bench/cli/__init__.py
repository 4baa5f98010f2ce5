"""Command-line interface: ``rlvr-bench COMMAND``. One module per command group."""

from rlvr_bench.cli import agreement as _agreement  # noqa: F401  (registers commands)
from rlvr_bench.cli import catalog as _catalog  # noqa: F401
from rlvr_bench.cli import distill as _distill  # noqa: F401
from rlvr_bench.cli import evaluate as _evaluate  # noqa: F401
from rlvr_bench.cli import llm_judges as _llm_judges  # noqa: F401
from rlvr_bench.cli import report as _report  # noqa: F401
from rlvr_bench.cli import train as _train  # noqa: F401
from rlvr_bench.cli import train_and_eval as _train_and_eval  # noqa: F401
from rlvr_bench.cli import verify as _verify  # noqa: F401
from rlvr_bench.cli.app import app, err_console


def main(argv: list[str] | None = None) -> None:
    """The console script: like ``app()``, except that a usage error (an unknown option, a value of
    the wrong type or out of range) is one line on stderr and exit code 2, like every other bad input."""
    import sys

    import typer
    from typer.exceptions import TyperException

    try:
        code = app(args=argv, prog_name="rlvr-bench", standalone_mode=False)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        sys.exit(130)
    except TyperException as exc:  # typer's click: usage errors and other ClickExceptions
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.strip():  # empty after `rlvr-bench` alone: the help was the answer
            err_console.print(f"error: {message}{hint}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)) or 2)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
