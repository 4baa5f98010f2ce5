"""`rlvr-bench report`: render run directories into one self-contained HTML page (no model is run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rlvr_bench.cli.app import app, console, emit_json, say_written, user_errors_exit_2
from rlvr_bench.errors import UserError
from rlvr_bench.rundir import check_output_file, require_run_directory

#: where several runs are rendered when no -o is given
DEFAULT_COMPARISON_FILE = Path("report.html")


@app.command("report")
@user_errors_exit_2
def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (one for its report, several to compare).",
                                               show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file to write (default: RUN/report.html "
                                             "for one run, ./report.html for several).")] = None,
) -> None:
    """Render run directories' saved results into one HTML file: figures, tables, comparisons."""
    from rlvr_bench.report import REPORT_FILE, is_report_file, render_report

    for run in runs:
        require_run_directory(run)
    target = out or (runs[0] / REPORT_FILE if len(runs) == 1 else DEFAULT_COMPARISON_FILE)
    if target.is_dir():
        raise UserError(f"{target}: is a folder; give -o a file name such as {target / REPORT_FILE}")
    # only a page rlvr-bench rendered is replaced; a file of the user's at -o is refused before any work
    check_output_file(target, is_report_file, "report")
    written = render_report(runs, target)
    summaries = _summaries(runs)
    for line in summaries:
        console.print(line, highlight=False, markup=False)
    emit_json({"report": str(written), "runs": [str(run) for run in runs], "summary": summaries})
    say_written("report", written)


def _summaries(runs: list[Path]) -> list[str]:
    """What each run showed, in plain lines (rlvr_bench.report.summary)."""
    import json

    from rlvr_bench.report.summary import run_summary
    from rlvr_bench.rundir import CONFIG_FILE, RESULTS_FILE

    lines: list[str] = []
    for run in runs:
        try:
            command = json.loads((run / CONFIG_FILE).read_text(encoding="utf-8")).get("command")
            results = json.loads((run / RESULTS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # render_report already read both; nothing to add for an odd run
        lines.extend(run_summary(command, results))
    return lines
