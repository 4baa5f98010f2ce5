"""`rlvr-bench train` (RLVR runs from recipes) and `rlvr-bench serve` (the HTTP reward server)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from rlvr_bench.cli.app import MaxUnscored, app, console, err_console, user_errors_exit_2
from rlvr_bench.errors import ConfigError
from rlvr_bench.judging import DEFAULT_MAX_UNSCORED
from rlvr_bench.rundir import check_run_destination


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
    steps: Annotated[int | None, typer.Option("--steps", help="Override the number of RL steps.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the recipe's seed.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run directory (default runs/train-<recipe>-seed<seed>).")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Resolve and validate the recipe (judges, data, trl config); load no weights.")] = False,
    max_unscored: MaxUnscored = DEFAULT_MAX_UNSCORED,
) -> None:
    """Train a policy with RL from a judge's rewards (trl GRPO / RLOO) and evaluate it before and after."""
    # idle OpenMP threads spin while they wait; on a shared machine that starves every process (8 s instead
    # of 0.5 s per SFT step measured on 2 busy cores). Effective only before torch first loads, hence here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from rlvr_bench.training.recipes import load_recipe
    from rlvr_bench.training.rewards import RewardChoice

    try:
        choice = RewardChoice.parse(reward) if reward else None
        resolved = load_recipe(recipe).with_overrides(choice, algo, steps, seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if dry_run:
        from rlvr_bench.training.rl import dry_run as check

        report = check(resolved)
        console.print_json(json.dumps(report, default=str))
        console.print(f"recipe {resolved.name!r} is valid; launch with: {report['launch']}", markup=False)
        return
    from rlvr_bench.training.rl import run_training

    path = out or Path("runs") / f"train-{resolved.name}-seed{resolved.seed}"
    if int(os.environ.get("RANK", "0") or 0) == 0:  # other processes of a distributed run find rank 0's folder
        check_run_destination(path, "train")
    results = run_training(resolved, path, say=lambda text: err_console.print(text, markup=False, soft_wrap=True),
                           max_unscored=max_unscored)
    _print_results(results)
    console.print(f"run directory: {path}", markup=False)


@app.command()
@user_errors_exit_2
def serve(
    judge: Annotated[str, typer.Option("--judge", help="Judge preset name or preset YAML file.")],
    mode: Annotated[str, typer.Option("--mode", help="binary (1/0) or soft (p_pass).")] = "binary",
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Largest judge batch (responses).")] = 256,
    max_wait_ms: Annotated[float, typer.Option(
        "--max-wait-ms", min=0, help="How long a batch waits for more requests to join (ms).")] = 5.0,
    max_queue: Annotated[int, typer.Option(
        "--max-queue", min=1, help="Responses queued before new requests wait for room.")] = 8192,
    unscored_reward: Annotated[float, typer.Option(
        "--unscored-reward", help="Reward of a sample that cannot be judged (flagged in extra_logs.unscored).")] = 0.0,
    judge_timeout_s: Annotated[float, typer.Option(
        "--judge-timeout-s", min=0.001, help="A request's samples fall back after waiting this long (s).")] = 600.0,
    drain_s: Annotated[float, typer.Option(
        "--drain-s", min=0, help="On SIGTERM / Ctrl-C: how long to finish the requests in flight (s).")] = 30.0,
    special_text: Annotated[list[str] | None, typer.Option(
        "--special-text", help="A special text of your model to strip from the end of responses (repeatable); "
        "the common chat templates' EOS / end-of-turn texts are built in.")] = None,
) -> None:
    """Serve a judge as a reward over HTTP (OpenRLHF --reward.remote_url: POST /get_reward; GET /health)."""
    import logging

    from rlvr_bench.judges.registry import judge as build_named_judge
    from rlvr_bench.reward_server import RewardService, make_server, serve_until_signalled

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    built = build_named_judge(judge)
    try:
        service = RewardService(built, mode, max_batch, max_wait_ms / 1000.0, max_queue, unscored_reward,
                                judge_timeout_s, special_text or ())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        server = make_server(service, host, port)
    except OSError as exc:
        service.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    say = lambda text: err_console.print(text, markup=False, soft_wrap=True)  # noqa: E731
    say(f"serving judge {built.name!r} ({mode}) at http://{host}:{server.server_address[1]}/get_reward "
        "(GET /health); SIGTERM or Ctrl-C drains and stops")
    serve_until_signalled(server, service, drain_s, say)
