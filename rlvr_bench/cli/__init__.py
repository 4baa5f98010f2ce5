"""Command-line interface: ``rlvr-bench COMMAND``. One module per command group."""

from rlvr_bench.cli import agreement as _agreement  # noqa: F401  (registers commands)
from rlvr_bench.cli import catalog as _catalog  # noqa: F401
from rlvr_bench.cli import distill as _distill  # noqa: F401
from rlvr_bench.cli import evaluate as _evaluate  # noqa: F401
from rlvr_bench.cli import llm_judges as _llm_judges  # noqa: F401
from rlvr_bench.cli import report as _report  # noqa: F401
from rlvr_bench.cli import serve as _serve  # noqa: F401
from rlvr_bench.cli import train as _train  # noqa: F401
from rlvr_bench.cli import train_and_eval as _train_and_eval  # noqa: F401
from rlvr_bench.cli import verify as _verify  # noqa: F401
from rlvr_bench.cli.app import app, err_console


def _prepare_process() -> None:
    """What every command wants before any library loads: output that cannot fail to encode, and no
    library chatter that says nothing to the user (deprecation notices, download and shard bars in logs)."""
    import os
    import sys
    import warnings

    for stream in (sys.stdout, sys.stderr):
        # PYTHONIOENCODING=ascii or a C locale: an unencodable character is escaped, never a traceback
        if hasattr(stream, "reconfigure") and (stream.encoding or "").lower().replace("-", "") != "utf8":
            stream.reconfigure(errors="backslashreplace")
    # notices addressed to library developers ("`past_key_values` is deprecated ..."), not to our users
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        for module in ("transformers", "torch", "trl", "accelerate", "datasets", "huggingface_hub", "peft",
                       "sentence_transformers", "sklearn"):
            warnings.filterwarnings("ignore", category=category, module=rf"{module}(\.|$)")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not sys.stderr.isatty():  # bars redrawn with \r are noise in a log; commands print their own progress
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def main(argv: list[str] | None = None) -> None:
    """The console script: like ``app()``, except that a usage error (an unknown option, a value of
    the wrong type or out of range) is one line on stderr and exit code 2, like every other bad input;
    so is a full disk or a file that cannot be written."""
    import errno
    import sys

    import typer
    from typer.exceptions import TyperException

    _prepare_process()
    try:
        code = app(args=argv, prog_name="rlvr-bench", standalone_mode=False)
    except typer.Abort:
        err_console.print("aborted", markup=False)
        sys.exit(130)
    except OSError as exc:
        # the system refused a write (full disk, quota, read-only, permissions): the user's to fix, not a bug.
        # Run directories are staged, so nothing half-written is left behind.
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        err_console.print(f"error: {exc.strerror or exc}{where}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except TyperException as exc:  # typer's click: usage errors and other ClickExceptions
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        if message.strip():  # empty after `rlvr-bench` alone: the help was the answer
            err_console.print(f"error: {message}{hint}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(int(getattr(exc, "exit_code", 2)) or 2)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
