"""`rlvr-bench agreement`: judge agreement with confidence intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rlvr_bench.cli.app import (
    DATA_EXAMPLES,
    DATA_HELP,
    DataFormat,
    MaxUnscored,
    app,
    console,
    emit_json,
    print_import_summary,
    say_written,
    user_errors_exit_2,
)
from rlvr_bench.cli.limits import BatchSize, Bootstrap, Seed, check_judge_names, open_cache_before_judging
from rlvr_bench.cli.progress import judging_progress
from rlvr_bench.errors import UserError
from rlvr_bench.judges.registry import offline_presets
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED
from rlvr_bench.rundir import check_run_destination

# the pipelines (numpy, scipy's statistics) load when a command runs: a bad option or a missing checkpoint
# is reported in the time Python takes to start, not after seconds of imports


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _estimate_with_ci(estimate: dict[str, Any]) -> str:
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    interval = f" [{low:.2f}, {high:.2f}]" if low is not None and high is not None else ""
    return _fmt(estimate.get("estimate")) + interval


def print_kappa_matrix(results: dict[str, Any]) -> None:
    """The kappa matrix (point estimates), then one row per pair with CIs and the paradox flag."""
    pairwise = results["overall"]["pairwise"]
    judges = results["judges"]
    kappa = pairwise["cohen_kappa"]
    matrix = Table(title="Cohen's kappa")
    matrix.add_column("")
    for name in judges:
        matrix.add_column(name, justify="right")
    for i, row_name in enumerate(judges):
        matrix.add_row(row_name, *("1" if i == j else _fmt(kappa["estimate"][i][j]) for j in range(len(judges))))
    console.print(matrix)

    pairs = Table(title="Pairs (95% CIs: bootstrap over questions)")
    for column in ("pair", "n", "kappa", "AC1", "observed", "PABAK", "paradox"):
        pairs.add_column(column, justify="left" if column == "pair" else "right")
    for i in range(len(judges)):
        for j in range(i + 1, len(judges)):
            pairs.add_row(
                f"{judges[i]} ~ {judges[j]}",
                str(pairwise["n_scored"][i][j]),
                *(_with_ci(pairwise[key], i, j) for key in ("cohen_kappa", "gwet_ac1", "observed_agreement", "pabak")),
                "[yellow]yes[/yellow]" if pairwise["kappa_paradox"][i][j] else "",
            )
    console.print(pairs)


def _with_ci(block: dict[str, Any], i: int, j: int) -> str:
    low, high = block["ci_low"][i][j], block["ci_high"][i][j]
    ci = f" [{_fmt(low, 2)}, {_fmt(high, 2)}]" if low is not None and high is not None else ""
    return _fmt(block["estimate"][i][j]) + ci


def print_judge_summary(results: dict[str, Any]) -> None:
    from rlvr_bench.pipelines.agreement import low_mass_warnings

    table = Table(title="Judges")
    for column in ("judge", "scored", "unscored", "pass rate", "mean p_pass", "vs gold: accuracy", "kappa"):
        table.add_column(column, justify="right" if column != "judge" else "left")
    gold = {row["judge"]: row for row in results["overall"].get("gold") or []}
    for row in results["judge_summary"]:
        versus = gold.get(row["judge"], {})
        table.add_row(row["judge"], str(row["n_scored"]), str(row["n_unscored"]), _fmt(row["pass_rate"]),
                      _fmt(row["mean_p_pass"]), _fmt(versus.get("accuracy", {}).get("estimate")),
                      _fmt(versus.get("cohen_kappa", {}).get("estimate")))
    console.print(table)
    multi = results["overall"].get("multi_rater", {})
    parts = [f"{label} {_estimate_with_ci(multi.get(key, {}))}" for key, label in
             (("fleiss_kappa", "Fleiss' kappa"), ("krippendorff_alpha", "Krippendorff's alpha"),
              ("gwet_ac1", "Gwet's AC1"))]
    console.print("  ".join(parts) + " (95% CIs: bootstrap over questions)")
    for warning in [*results["overall"].get("warnings", []), *low_mass_warnings(results["judge_summary"])]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


@app.command("agreement", epilog=DATA_EXAMPLES)
@user_errors_exit_2
def agreement_command(
    task: Annotated[str | None, typer.Option(help="Bundled task name or task folder (default: starter).")] = None,
    data: Annotated[Path | None, typer.Option(help=DATA_HELP)] = None,
    data_format: DataFormat = None,
    judges: Annotated[str | None, typer.Option(help="Comma-separated judge presets or preset files "
                                               "(default: every offline judge).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to write (default: runs/agreement-<time>).")] = None,
    bootstrap: Bootstrap = 1000,
    seed: Seed = 0,
    split: Annotated[str | None, typer.Option(help="Only items of this split (train/validation/test).")] = None,
    batch_size: BatchSize = 64,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the judgment cache.")] = False,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
) -> None:
    """How much do judges agree on correct/incorrect verdicts? Kappa and friends, per domain, with CIs."""
    # --out, inputs and judges are validated before the progress bar starts, so a bad path,
    # file or name prints exactly one line
    if out is not None:
        check_run_destination(out, "agreement")
    names = check_judge_names(judges) or offline_presets()
    if len(names) < 2:
        raise UserError("agreement needs at least two judges (e.g. --judges exact,contains)")
    from rlvr_bench.pipelines.agreement import agreement, resolve_judges
    from rlvr_bench.pipelines.inputs import load_inputs

    inputs = load_inputs(task, data, split, data_format)
    print_import_summary(inputs.source)
    chosen = resolve_judges(names)
    open_cache_before_judging(chosen, not no_cache)
    n_verdicts = len(inputs.responses) * len(chosen)
    del inputs  # the pipeline reads the inputs again: one copy in memory, not two
    with judging_progress(n_verdicts) as on_progress:
        result = agreement(task=task, judges=chosen, data=data, out=out, n_bootstrap=bootstrap, seed=seed,
                           split=split, batch_size=batch_size, on_progress=on_progress, use_cache=not no_cache,
                           max_unscored=max_unscored, data_format=data_format, report=False)
    results, run_dir = result.results, result.run_dir
    del result  # the records (a million rows: GBs) go before the report reads the run back from disk
    if run_dir is not None:
        from rlvr_bench.report import write_run_report

        write_run_report(run_dir)
    print_judge_summary(results)
    print_kappa_matrix(results)
    emit_json({"run_dir": str(run_dir), "results": results})
    say_written("run directory", run_dir)
