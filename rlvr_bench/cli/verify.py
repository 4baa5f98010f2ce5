"""`rlvr-bench verify`: judge accuracy against gold labels, calibration, McNemar, and the attack suite."""

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
from rlvr_bench.cli.limits import BatchSize, Bins, Bootstrap, check_judge_names, open_cache_before_judging
from rlvr_bench.cli.progress import judging_progress
from rlvr_bench.errors import UserError
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED
from rlvr_bench.rundir import check_run_destination

# the pipeline (scipy's statistics) loads when the command runs, so bad options fail at once;
# these two equal rlvr_bench.pipelines.verify.BREAKDOWNS and stats.verifier_metrics.DEFAULT_CALIBRATION_BINS
# (tests/test_cli_startup.py checks)
BREAKDOWNS = ("domain", "answer_type", "variant")
DEFAULT_CALIBRATION_BINS = 10


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _with_ci(metric: dict[str, Any] | None, digits: int = 3) -> str:
    """"0.812\n[0.79, 0.83]" (CI on a second line), or the estimate alone when there is no CI."""
    if not metric or metric.get("estimate") is None:
        return "—"
    text = _fmt(metric["estimate"], digits)
    if metric.get("ci_low") is not None:
        text += f"\n[{_fmt(metric['ci_low'], 2)}, {_fmt(metric['ci_high'], 2)}]"
    return text


def print_gold_table(results: dict[str, Any]) -> None:
    counts = results["label_counts"]
    table = Table(title=f"Judges vs gold labels: {results['n_responses']} responses ({counts['correct']} correct, "
                        f"{counts['incorrect']} incorrect), {results['n_questions']} questions; "
                        "95% CI, bootstrap over questions")
    columns = ("judge", "scored", "unscored", "accuracy", "bal. acc.", "precision", "recall", "F1", "FPR", "FNR")
    for column in columns:
        table.add_column(column, justify="left" if column == "judge" else "right")
    for name, entry in results["overall"].items():
        c = entry["counts"]
        table.add_row(name, str(c["tp"] + c["fp"] + c["fn"] + c["tn"]), str(c["unscored"]),
                      _with_ci(entry["accuracy"]), _fmt(entry["balanced_accuracy"]["estimate"]),
                      _fmt(entry["precision"]["estimate"]), _fmt(entry["recall"]["estimate"]), _with_ci(entry["f1"]),
                      _with_ci(entry["false_positive_rate"]), _with_ci(entry["false_negative_rate"]))
    console.print(table)


def print_soft_table(results: dict[str, Any]) -> None:
    if not results["soft"]:
        return
    table = Table(title="Soft scores (p_pass): ranking, calibration and the best threshold (in sample)")
    for column in ("judge", "AUROC", "Brier", "ECE", "best threshold", "bal. acc. @t", "accuracy @t"):
        table.add_column(column, justify="left" if column == "judge" else "right")
    for name, soft in results["soft"].items():
        best = soft["best_threshold"]
        table.add_row(name, _with_ci(soft["auroc"]), _with_ci(soft["brier"]), _with_ci(soft["ece"]),
                      _fmt(best["threshold"]["estimate"]), _fmt(best["balanced_accuracy"]["estimate"]),
                      _fmt(best["accuracy"]["estimate"]))
    console.print(table)


def print_mcnemar(results: dict[str, Any]) -> None:
    if not results["mcnemar"]:
        return
    table = Table(title="McNemar's test: do two judges' accuracies differ? (same triples)")
    for column in ("judge A", "judge B", "n", "A only right", "B only right", "acc. A - B", "p", "test"):
        table.add_column(column, justify="left" if column.startswith("judge") else "right")
    for row in results["mcnemar"]:
        # with no triple both judges scored there is no test: no p-value, not p = 1
        p_value = row["p_value"] if row["n"] else None
        table.add_row(row["judge_a"], row["judge_b"], str(row["n"]), str(row["a_only_correct"]),
                      str(row["b_only_correct"]), _with_ci(row["accuracy_difference"]),
                      "—" if p_value is None else f"{p_value:.3g}", row["method"])
    console.print(table)


def print_breakdown(results: dict[str, Any], key: str) -> None:
    groups = results["breakdowns"][key]
    judges = results["judges"]
    table = Table(title=f"Accuracy by {key} (false-positive rate where a group has incorrect responses)")
    table.add_column(key)
    table.add_column("n", justify="right")
    for name in judges:
        table.add_column(name, justify="right")
    for value, group in groups.items():
        cells = []
        for name in judges:
            entry = group["judges"][name]
            cell = _fmt(entry["accuracy"]["estimate"])
            if group["n_incorrect"] and entry["false_positive_rate"]["estimate"] is not None:
                cell += f"\nFPR {_fmt(entry['false_positive_rate']['estimate'], 2)}"
            cells.append(cell)
        table.add_row(value, str(group["n_responses"]), *cells)
    console.print(table)


def print_attack_tables(attacks: dict[str, Any], judges: list[str]) -> None:
    table = Table(title=f"Master keys: false-positive rate per key ({attacks['n_items']} items; lower is better)")
    table.add_column("key")
    for name in judges:
        table.add_column(name, justify="right")
    texts = {key["name"]: key["text"] for key in attacks["master_keys"]}
    for key, row in attacks["master_key"].items():
        table.add_row(f"{key} {texts[key]!r}", *(_fmt(row["judges"][n]["false_positive_rate"]["estimate"], 2)
                                                 for n in judges))
    pooled = attacks["pooled"]["master_key"]
    if pooled:
        table.add_row("all keys", *(_with_ci(pooled["judges"][n]["false_positive_rate"], 2) for n in judges))
    if attacks["master_key_any"]:
        table.add_row("items with >= 1 key passing",
                      *(_with_ci(attacks["master_key_any"][n]["items_with_a_passing_key"], 2) for n in judges))
    console.print(table)
    table = Table(title="Perturbed correct answers: false-negative rate per perturbation (lower is better)")
    table.add_column("perturbation")
    table.add_column("n", justify="right")
    for name in judges:
        table.add_column(name, justify="right")
    for kind, row in attacks["perturbation"].items():
        table.add_row(kind, str(row["n_responses"]),
                      *(_fmt(row["judges"][n]["false_negative_rate"]["estimate"], 2) for n in judges))
    console.print(table)


@app.command("verify", epilog=DATA_EXAMPLES)
@user_errors_exit_2
def verify_command(
    task: Annotated[str | None, typer.Option(help="Bundled task name or task folder (default: verifier-gold).")] = None,
    data: Annotated[Path | None, typer.Option(help=DATA_HELP)] = None,
    data_format: DataFormat = None,
    responses: Annotated[Path | None, typer.Option(help="Labelled responses (rlvr-bench response JSONL) to verify "
                                                   "instead of the task's or file's own.")] = None,
    judges: Annotated[str | None, typer.Option(help="Comma-separated judge presets or preset files "
                                               "(default: every offline judge).")] = None,
    attacks: Annotated[bool, typer.Option("--attacks", help="Also run the robustness suite: master-key "
                                          "responses and perturbed correct answers.")] = False,
    attack_items: Annotated[int | None, typer.Option(help="Run the suite on this many sampled items "
                                                     "(seeded by --seed; default all).")] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to write (default: runs/verify-<time>).")] = None,
    bootstrap: Bootstrap = 1000,
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seed of the bootstrap and of --attack-items "
                                      "sampling (0 to 2^32 - 1).")] = 0,
    bins: Bins = DEFAULT_CALIBRATION_BINS,
    breakdown: Annotated[str, typer.Option(help=f"Breakdown table to print: {', '.join(BREAKDOWNS)} or none "
                                           "(all are in results.json).")] = "variant",
    split: Annotated[str | None, typer.Option(help="Only items of this split (train/validation/test).")] = None,
    batch_size: BatchSize = 64,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the judgment cache.")] = False,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
    gold: Annotated[str | None, typer.Option(help="Take the gold labels from a column of the data file "
                                             "(column:NAME, e.g. a human judgment) instead of 'label'.")] = None,
) -> None:
    """How accurate is each judge against gold labels? Accuracy, F1, FPR with CIs; calibration; attacks."""
    if breakdown not in (*BREAKDOWNS, "none"):
        raise UserError(f"--breakdown must be one of {', '.join(BREAKDOWNS)}, none; got {breakdown!r}")
    if out is not None:
        check_run_destination(out, "verify")
    names = check_judge_names(judges)
    if attack_items is not None and attack_items < 1:
        raise UserError("--attack-items must be at least 1")
    from rlvr_bench.pipelines.verify import plan_verify, run_verify

    plan = plan_verify(task, names, data, responses, split, bootstrap, seed, attacks, attack_items, bins, gold,
                       data_format)
    print_import_summary(plan.config["task"])
    open_cache_before_judging(plan.judges, not no_cache)
    with judging_progress(plan.n_verdicts) as on_progress:
        result = run_verify(plan, out, batch_size=batch_size, on_progress=on_progress, use_cache=not no_cache,
                            max_unscored=max_unscored)
    results = result.results
    if results["overall"] is not None:
        print_gold_table(results)
        print_soft_table(results)
        print_mcnemar(results)
        if breakdown != "none":
            print_breakdown(results, breakdown)
    if results["attacks"] is not None:
        print_attack_tables(results["attacks"], results["judges"])
    for warning in results["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    emit_json({"run_dir": str(result.run_dir), "results": results})
    say_written("run directory", result.run_dir)
