"""`rlvr-bench train`: RLVR runs from recipes (`serve`, the HTTP reward server, is in cli/serve.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from rlvr_bench.cli.app import MaxUnscored, app, console, emit_json, err_console, say_written, user_errors_exit_2
from rlvr_bench.errors import ConfigError
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED
from rlvr_bench.rundir import check_run_destination

#: every training command's ``--report-to`` (trl's ``report_to``)
ReportTo = Annotated[str | None, typer.Option(
    "--report-to", help="Also send the training logs (reward, loss, KL, ...) to these trackers, comma-separated: "
    "wandb, trackio, tensorboard (event files in the run directory's tensorboard/), or none. Default: none "
    "(the run directory's own logs only). Trackers read their usual environment (WANDB_PROJECT, ...).")]


def tensorboard_folder(folder: Path) -> None:
    """Where TensorBoard event files go, unless the user set TENSORBOARD_LOGGING_DIR (transformers reads it)."""
    if not os.environ.get("TENSORBOARD_LOGGING_DIR"):
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(folder.resolve())
        err_console.print(f"TensorBoard event files: {folder}", markup=False, highlight=False, soft_wrap=True)


def _print_results(results: dict[str, Any]) -> None:
    if "before" not in results:
        return
    before = results["before"]["accuracy"]["all"]["accuracy"]
    after = results["after"]["accuracy"]["all"]["accuracy"]
    diff = results["difference"]["all"]["difference"]
    console.print(f"held-out accuracy ({results['reference_judge']}): before {before['estimate']:.3f} "
                  f"[{before['ci_low']:.3f}, {before['ci_high']:.3f}], after {after['estimate']:.3f} "
                  f"[{after['ci_low']:.3f}, {after['ci_high']:.3f}], paired difference {diff['estimate']:+.3f} "
                  f"[{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] over {diff['n']} questions (95% CI)")


@app.command()
@user_errors_exit_2
def train(
    recipe: Annotated[str, typer.Option("--recipe", help="Recipe name (training/NAME.yaml) or a recipe YAML file.")],
    reward: Annotated[str | None, typer.Option(
        "--reward", help="Override the reward: JUDGE or JUDGE:binary / JUDGE:soft.")] = None,
    algo: Annotated[str | None, typer.Option(
        "--algo", help="Override the algorithm: grpo, dr_grpo, dapo, bnpo, gspo, cispo, sapo or rloo.")] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Override the number of RL steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, max=2**32 - 1,
                                             help="Override the recipe's seed.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run directory (default runs/train-<recipe>-seed<seed>).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Resolve and validate the recipe (judges, data, trl config); load no weights.")] = False,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
    report_to: ReportTo = None,
) -> None:
    """Train a policy with RL from a judge's rewards (trl GRPO / RLOO) and evaluate it before and after."""
    # idle OpenMP threads spin while they wait; on a shared machine that starves every process (8 s instead
    # of 0.5 s per SFT step measured on 2 busy cores). Effective only before torch first loads, hence here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rlvr_bench.training.recipes import load_recipe
    from rlvr_bench.training.rewards import RewardChoice
    from rlvr_bench.training.trackers import parse_report_to

    try:
        choice = RewardChoice.parse(reward) if reward else None
        resolved = load_recipe(recipe).with_overrides(choice, algo, steps, seed, parse_report_to(report_to))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if dry_run:
        from rlvr_bench.training.rl import dry_run as check

        report = check(resolved)
        console.print_json(json.dumps(report, default=str))
        console.print(f"recipe {resolved.name!r} is valid; launch with: {report['launch']}", markup=False)
        emit_json(report)
        return
    from rlvr_bench.training.rl import run_training

    path = out or Path("runs") / f"train-{resolved.name}-seed{resolved.seed}"
    if int(os.environ.get("RANK", "0") or 0) == 0:  # other processes of a distributed run find rank 0's folder
        check_run_destination(path, "train")
    results = run_training(resolved, path, say=lambda text: err_console.print(text, markup=False, soft_wrap=True),
                           max_unscored=max_unscored)
    _print_results(results)
    emit_json({"run_dir": str(path), "results": results})
    say_written("run directory", path)
