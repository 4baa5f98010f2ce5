"""`rlvr-bench train-and-eval`: a matrix of RLVR runs from one SFT start, all judged alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rlvr_bench.cli.app import app, console, emit_json, err_console, say_written, split_names, user_errors_exit_2
from rlvr_bench.cli.train import ReportTo
from rlvr_bench.errors import ConfigError
from rlvr_bench.rundir import check_run_destination, default_run_path
from rlvr_bench.training.recipes import ALL_REWARD_KINDS

#: rlvr_bench.training.matrix.SFT_ROW (the matrix module loads when the command runs: quick failures)
SFT_ROW = "sft"


def _cell(block: dict[str, Any] | None, with_ci: bool = True, sign: bool = False) -> str:
    """An accuracy (or difference) block in percent, "37.2 [34.5, 40.1]"; "—" when undefined."""
    if not block or block.get("estimate") is None:
        return "—"
    low, high = block.get("ci_low"), block.get("ci_high")
    ci = f" [{low * 100:.1f}, {high * 100:.1f}]" if with_ci and low is not None and high is not None else ""
    return f"{block['estimate'] * 100:{'+' if sign else ''}.1f}{ci}"


def print_table_one(results: dict[str, Any]) -> None:
    """Table 1 and the findings under every evaluation judge, then the reward-hacking gaps and the distillation."""
    by_judge = results.get("by_judge") or {}
    judges = [j for j in results.get("evaluation_judges") or [] if j in by_judge]
    for judge in judges or [results["reference_judge"]]:
        view = by_judge.get(judge) or results
        _print_judge_table(view["table"], judge, results["n_eval_items"])
        if len(judges) > 1:
            console.print(f"findings as {judge} judges them:", highlight=False, markup=False)
        print_findings(view.get("findings") or {})
    _print_family_gaps(results.get("judge_family_gaps") or {})
    _print_hacking_and_distillation(results)


def _print_family_gaps(gaps: dict[str, Any]) -> None:
    if not gaps:
        return
    out = Table(title="Change from the start under the own family's judge minus under the other (pp, paired 95% CI)")
    for column in ("cell", "own judge", "other judge", "Δ own − Δ other"):
        out.add_column(column, justify="right" if column.startswith("Δ") else "left")
    for cell, entry in gaps.items():
        for other, block in (entry.get("versus") or {}).items():
            out.add_row(cell, str(entry.get("own_judge")), other, _cell(block, sign=True))
    console.print(out)


def _print_judge_table(table: dict[str, Any], judge: str, n_items: int) -> None:
    out = Table(title=f"Held-out accuracy % judged by {judge} "
                      f"(n = {n_items} questions; 95% CIs over questions)")
    out.add_column("method")
    for column in table["columns"]:
        out.add_column("average" if column == "all" else column, justify="right")
    out.add_column("Δ vs SFT (paired)", justify="right")
    for name, row in table["rows"].items():
        diff = table["versus_sft"].get(name, {}).get("all", {}).get("difference") if name != SFT_ROW else None
        # the CI of every domain would make the table too wide for a terminal: the report has them all
        out.add_row(name, *(_cell(row.get(c, {}).get("accuracy"), with_ci=c == "all") for c in table["columns"]),
                    _cell(diff, sign=True))
    console.print(out)


def _print_hacking_and_distillation(results: dict[str, Any]) -> None:
    gaps = Table(title="Reward hacking: training reward vs reference judge on the same completions (last quarter)")
    for column in ("run", "reward pass rate", "reference pass rate", "gap", "agreement"):
        gaps.add_column(column, justify="left" if column == "run" else "right")
    for name, cell in results["cells"].items():
        last = cell["reward_hacking"].get("last_quarter", {})
        gaps.add_row(name, *(f"{last[k]:.3f}" if k in last else "—" for k in
                             ("reward_pass_rate", "reference_pass_rate", "gap", "agreement")))
    console.print(gaps)
    distill = results.get("distillation")
    if distill and distill.get("student_vs_teacher"):
        kappa = distill["student_vs_teacher"].get("cohen_kappa", {})
        estimate, low, high = kappa.get("estimate"), kappa.get("ci_low"), kappa.get("ci_high")
        text = "undefined" if estimate is None else f"{estimate:.3f}" + (
            f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else "")
        console.print(f"distilled student vs teacher ({distill['teacher']}) on held-out questions: "
                      f"Cohen's kappa {text} (target >= {distill['target_kappa']})", highlight=False)


def print_findings(findings: dict[str, Any]) -> None:
    """The study's directional findings with the paired comparisons behind each status."""
    for key, finding in findings.items():
        if not isinstance(finding, dict):
            continue
        console.print(f"finding '{finding.get('claim', key)}': [bold]{finding.get('status')}[/bold]", highlight=False)
        for comparison in finding.get("comparisons") or []:
            console.print(f"    {comparison['a']} − {comparison['b']}: "
                          f"{_cell(comparison.get('difference'), sign=True)} pp ({comparison.get('reading')}"
                          + (f": {comparison['no_signal']})" if comparison.get("no_signal") else ")"),
                          highlight=False, markup=False)


@app.command("train-and-eval")
@user_errors_exit_2
def train_and_eval_command(
    recipe: Annotated[str, typer.Option(help="Training recipe (training/NAME.yaml) or a recipe file.")] = "mini",
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/train-and-eval-<time>); "
                                             "re-running with the same --out resumes.")] = None,
    algos: Annotated[str | None, typer.Option(help="Comma-separated algorithms (grpo, dr_grpo, dapo, rloo, ...; "
                                              "default: the recipe's algorithm).")] = None,
    rewards: Annotated[str | None, typer.Option(help=f"Comma-separated reward kinds ({', '.join(ALL_REWARD_KINDS)}; "
                                                "default: the recipe's matrix.rewards, else the first four).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Run the recipe's quick variant (a smoke test).")] = False,
    model_judge: Annotated[str | None, typer.Option(help="Use this judge for model rewards instead of "
                                                    "distilling one (e.g. rm7b).")] = None,
    student: Annotated[str | None, typer.Option(help="Distillation student: minilm-classifier, tiny (generative) "
                                                "or a checkpoint (default: the recipe's matrix.student).")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="RL steps per cell (default: the recipe's matrix.steps, "
                                              "else train.steps).")] = None,
    distill_extra_questions: Annotated[int | None, typer.Option(
        help="Extra procedural questions judged by the teacher for distillation (default: the recipe's).")] = None,
    baseline: Annotated[list[str] | None, typer.Option(
        help="An imported baseline row, judged like the policies on the same held-out items: any `eval --policy` "
             "spec (NAME=PATH, hub id, openai:MODEL@URL, responses:FILE.jsonl). Repeat for several.")] = None,
    eval_judges: Annotated[str | None, typer.Option(
        help="Comma-separated evaluation judges, each with its own Table 1 (default: the recipe's "
             "matrix.evaluation_judges, else its reference judge).")] = None,
    report_to: ReportTo = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Validate the recipe, every cell's trl config and the judges; load no weights.")] = False,
) -> None:
    """The study's experiment: rewards {rule, model, teacher} x {binary, soft} x algorithms from one SFT start."""
    from rlvr_bench.training.matrix import MatrixRequest, matrix_dry_run, train_and_eval
    from rlvr_bench.training.trackers import parse_report_to

    try:
        trackers = parse_report_to(report_to)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    request = MatrixRequest(
        recipe=recipe, out=out or default_run_path("train-and-eval"), algorithms=tuple(split_names(algos) or ()),
        rewards=tuple(split_names(rewards) or ()) or None, quick=quick, model_judge=model_judge, student=student,
        steps=steps, distill_extra_questions=distill_extra_questions, baselines=tuple(baseline or ()),
        report_to=trackers, evaluation_judges=tuple(split_names(eval_judges) or ()) or None,
    )
    if dry_run:
        report = matrix_dry_run(request)
        console.print_json(json.dumps(report, default=str))
        console.print(f"recipe {report['recipe']!r}: {len(report['cells'])} cells valid, evaluated by "
                      f"{', '.join(report['evaluation_judges'])}", markup=False)
        emit_json(report)
        return
    check_run_destination(request.out, "train-and-eval")  # a new folder, or an earlier matrix to resume
    results = train_and_eval(request, say=lambda line: err_console.print(line, markup=False, highlight=False))
    print_table_one(results)
    emit_json({"run_dir": str(request.out), "results": results})
    say_written("run directory", request.out)
    say_written("report", request.out / "report.html")
