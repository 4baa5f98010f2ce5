"""`rlvr-bench agreement`: judge agreement with confidence intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rlvr_bench.cli.app import MaxUnscored, app, console, split_names, user_errors_exit_2
from rlvr_bench.cli.progress import judging_progress
from rlvr_bench.errors import UserError
from rlvr_bench.judges.registry import offline_presets
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED
from rlvr_bench.pipelines.agreement import agreement, low_mass_warnings, resolve_judges
from rlvr_bench.pipelines.inputs import load_inputs
from rlvr_bench.rundir import check_run_destination


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


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
    parts = [f"{label} {_fmt(multi.get(key, {}).get('estimate'))}" for key, label in
             (("fleiss_kappa", "Fleiss' kappa"), ("krippendorff_alpha", "Krippendorff's alpha"),
              ("gwet_ac1", "Gwet's AC1"))]
    console.print("  ".join(parts))
    for warning in [*results["overall"].get("warnings", []), *low_mass_warnings(results["judge_summary"])]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


@app.command("agreement")
@user_errors_exit_2
def agreement_command(
    task: Annotated[str | None, typer.Option(help="Bundled task name or task folder (default: starter).")] = None,
    data: Annotated[Path | None, typer.Option(help="A data file instead of a task (JSONL, CSV; see README).")] = None,
    judges: Annotated[str | None, typer.Option(help="Comma-separated judge presets or preset files "
                                               "(default: every offline judge).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to write (default: runs/agreement-<time>).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples over questions for CIs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    split: Annotated[str | None, typer.Option(help="Only items of this split (train/validation/test).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Triples per judge call.")] = 64,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the judgment cache.")] = False,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
) -> None:
    """How much do judges agree on correct/incorrect verdicts? Kappa and friends, per domain, with CIs."""
    # --out, inputs and judges are validated before the progress bar starts, so a bad path,
    # file or name prints exactly one line
    if out is not None:
        check_run_destination(out, "agreement")
    inputs = load_inputs(task, data, split)
    chosen = resolve_judges(split_names(judges) or offline_presets())
    if len(chosen) < 2:
        raise UserError("agreement needs at least two judges (e.g. --judges exact,contains)")
    with judging_progress(len(inputs.responses) * len(chosen)) as on_progress:
        result = agreement(task=task, judges=chosen, data=data, out=out, n_bootstrap=bootstrap, seed=seed,
                           split=split, batch_size=batch_size, on_progress=on_progress, use_cache=not no_cache,
                           max_unscored=max_unscored)
    print_judge_summary(result.results)
    print_kappa_matrix(result.results)
    console.print(f"run directory: {result.run_dir}", highlight=False)
