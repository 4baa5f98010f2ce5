"""The typer application object and the shared error handling of every command.

Each command lives in its own module under ``rlvr_bench/cli/`` and registers
itself on :data:`app`; ``rlvr_bench/cli/__init__.py`` imports them all. Commands
are thin: parse options, call the library, print.
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass
class OutputMode:
    """What a command prints: set from every command's ``--quiet`` and ``--json``."""

    #: no progress display, tables or notes: only errors (stderr) and what was written (stdout)
    quiet: bool = False
    #: stdout holds one JSON document (the command's results) and nothing else
    json: bool = False


output = OutputMode()

QuietOption = Annotated[bool, typer.Option(
    "--quiet", "-q", help="Print no progress, tables or notes: only errors and the path of what was written.")]
JsonOption = Annotated[bool, typer.Option(
    "--json", help="Print the results as one JSON document on stdout (tables and notes are left out).")]


@contextmanager
def output_mode(quiet: bool, as_json: bool) -> Iterator[None]:
    """Apply ``--quiet`` / ``--json`` to both consoles for the duration of a command."""
    saved = (output.quiet, output.json, console.quiet, err_console.quiet)
    output.quiet, output.json = quiet, as_json
    console.quiet = quiet or as_json  # stdout is for the JSON document alone
    err_console.quiet = quiet
    try:
        yield
    finally:
        output.quiet, output.json, console.quiet, err_console.quiet = saved


def emit_json(payload: Any) -> None:
    """With ``--json``: ``payload`` as one JSON document on stdout (no-op otherwise)."""
    if output.json:
        sys.stdout.write(json.dumps(payload, ensure_ascii=False, default=str, allow_nan=False) + "\n")
        sys.stdout.flush()


def say_written(label: str, path: Any) -> None:
    """The path of what a command wrote ("run directory: runs/x"): printed even with ``--quiet``, not with
    ``--json`` (the JSON document holds it)."""
    if output.json:
        return
    quiet, console.quiet = console.quiet, False
    try:
        console.print(f"{label}: {path}", markup=False, highlight=False, soft_wrap=True)
    finally:
        console.quiet = quiet


def _with_output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with ``--quiet`` and ``--json`` added to its options (every command takes them)."""
    signature = inspect.signature(func, eval_str=True)
    if "quiet" in signature.parameters:
        return func

    @functools.wraps(func)
    def wrapper(*args: Any, quiet: bool = False, json_output: bool = False, **kwargs: Any) -> Any:
        with output_mode(quiet, json_output):
            return func(*args, **kwargs)

    extra = [inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=QuietOption),
             inspect.Parameter("json_output", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=JsonOption)]
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *extra])
    return wrapper


def user_errors_exit_2(func: F) -> F:
    """Turn a UserError into one line on stderr and exit code 2 (no traceback); add ``--quiet`` and ``--json``."""
    with_options = _with_output_options(func)

    @functools.wraps(with_options)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return with_options(*args, **kwargs)
        except UserError as exc:
            err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


#: every judging command's ``--max-unscored`` (see rlvr_bench.judging.FailureBudget)
MaxUnscored = Annotated[float, typer.Option(
    "--max-unscored", min=0.0, max=1.0,
    help="Stop when a judge fails (backend error, unparseable output, timeout) on more than this fraction of "
         "its triples. Abstentions (a numeric judge on a text reference) do not count. Default 0.1.")]


#: ``--format`` of every command that takes ``--data`` (rlvr_bench.importers.LAYOUTS)
DataFormat = Annotated[str | None, typer.Option(
    "--format", help="Layout of --data when its columns fit several, or to insist on one: evouna, openqa-eval, "
    "tinyv, judgebench, xverify, rewardmath, mmlu-pro, verifybench, verifierbench, rlvr-chat, triples "
    "(default: chosen by content).")]
#: ``--data`` of verify and agreement
DATA_HELP = ("A data file instead of a task, in a published layout (EVOUNA, OpenQA-eval TSV+golds JSONL as "
             "A.tsv+B.jsonl, TinyV HardVerify-Math, JudgeBench, xVerify/VAR, RewardMATH, MMLU-Pro eval_results zip, "
             "VerifyBench(-Hard), VerifierBench) or flat triples; JSONL, JSON array, CSV, TSV, zip, a datasets "
             "folder or hf:ORG/NAME[:SPLIT]. See README \"Data files\".")


#: the layouts ``--data`` reads, an example each: the epilog of ``verify --help`` and ``agreement --help``
DATA_EXAMPLES = """Data layouts read by --data (chosen by content; --format NAME to insist):

\b
  evouna         verify --data EVOUNA/NQ.json
  openqa-eval    verify --data NQ301_human.tsv+model_outputs/NQ_FiD.jsonl
  tinyv          verify --data HardVerify-Math.json
  judgebench     verify --data judgebench.jsonl+model_outputs_gemini-1.5-pro-002_5shots.zip
  rewardmath     verify --data RewardMATH_direct.json
  mmlu-pro       verify --data model_outputs_gemini-1.5-pro-002_5shots.zip
  verifybench    verify --data VerifyBench-Hard.json
  verifierbench  verify --data verifierbench.jsonl
  xverify        verify --data VAR_test.json --judges column:GPT_4o_judgment_result,contains
  rlvr-chat      eval --data multi_subject_rlvr.jsonl --policy smollm2 --judges auto
  triples        verify --data mine.csv   (question, reference, response, label)
  hub            verify --data hf:ORG/NAME:test
"""


def print_import_summary(source: dict[str, Any]) -> None:
    """What ``--data`` gave: rows read, items, responses, rows dropped per reason (nothing for a task)."""
    from rlvr_bench.importers import import_summary

    line = import_summary(source)
    if line is not None:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def split_names(value: str | None) -> list[str] | None:
    """"a,b, c" -> ["a", "b", "c"]; None or "" -> None."""
    if not value:
        return None
    return [name.strip() for name in value.split(",") if name.strip()]
