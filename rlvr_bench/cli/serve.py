"""`rlvr-bench serve`: a judge as an HTTP reward server (OpenRLHF's remote reward protocol, verl's adapter)."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from rlvr_bench.cli.app import app, err_console, user_errors_exit_2
from rlvr_bench.errors import ConfigError

#: the largest --max-wait-ms: a batch that waits longer for company only delays every request
MAX_WAIT_MS_LIMIT = 60_000.0


def _check_settings(max_wait_ms: float, judge_timeout_s: float, drain_s: float, unscored_reward: float,
                    max_batch: int, max_queue: int) -> None:
    """Refuse, before anything starts, the values that would break the server later (one line, exit 2)."""
    from rlvr_bench.reward_server import OPENRLHF_CLIENT_TIMEOUT_S

    problems = []
    if not (math.isfinite(max_wait_ms) and 0 <= max_wait_ms <= MAX_WAIT_MS_LIMIT):
        problems.append(f"--max-wait-ms must be in [0, {MAX_WAIT_MS_LIMIT:g}], got {max_wait_ms:g}")
    if not (math.isfinite(judge_timeout_s) and 0 < judge_timeout_s <= OPENRLHF_CLIENT_TIMEOUT_S):
        problems.append(f"--judge-timeout-s must be in (0, {OPENRLHF_CLIENT_TIMEOUT_S:g}] (OpenRLHF's client gives "
                        f"up after {OPENRLHF_CLIENT_TIMEOUT_S:g} s), got {judge_timeout_s:g}")
    if not (math.isfinite(drain_s) and 0 <= drain_s <= 3600):
        problems.append(f"--drain-s must be in [0, 3600], got {drain_s:g}")
    if not math.isfinite(unscored_reward):
        problems.append(f"--unscored-reward must be a finite number, got {unscored_reward:g}")
    if max_batch > max_queue:
        problems.append(f"--max-batch ({max_batch}) must not exceed --max-queue ({max_queue})")
    if problems:
        raise ConfigError("; ".join(problems))


@app.command()
@user_errors_exit_2
def serve(
    judge: Annotated[str, typer.Option("--judge", help="Judge preset name or preset YAML file.")],
    mode: Annotated[str, typer.Option("--mode", help="binary (1/0) or soft (p_pass).")] = "binary",
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Largest judge batch (responses).")] = 256,
    max_wait_ms: Annotated[float, typer.Option(
        "--max-wait-ms", help="How long a batch waits for more requests to join (ms, at most 60000).")] = 5.0,
    max_queue: Annotated[int, typer.Option(
        "--max-queue", min=1, help="Responses queued before new requests wait for room.")] = 8192,
    unscored_reward: Annotated[float, typer.Option(
        "--unscored-reward", help="Reward of a sample that cannot be judged (flagged in extra_logs.unscored).")] = 0.0,
    judge_timeout_s: Annotated[float, typer.Option(
        "--judge-timeout-s", help="A request's samples fall back (flagged) after waiting this long for the judge "
        "(s; at most 180, OpenRLHF's client timeout).")] = 120.0,
    drain_s: Annotated[float, typer.Option(
        "--drain-s", help="On SIGTERM / Ctrl-C: how long to answer the requests in flight (s); what the judge "
        "has not finished by then gets the flagged fallback.")] = 30.0,
    special_text: Annotated[list[str] | None, typer.Option(
        "--special-text", help="A special text of your model to strip from the end of responses (repeatable); "
        "the common chat templates' EOS / end-of-turn texts are built in.")] = None,
    unscored_score: Annotated[float | None, typer.Option(
        "--unscored-score", help="The `scores` value of an unscored sample (default: --unscored-reward). OpenRLHF's "
        "dynamic filtering reads `scores`: a value below its range drops the sample's prompt group.")] = None,
    use_cache: Annotated[bool, typer.Option(
        "--cache/--no-cache", help="Serve model judges' verdicts from the judgment cache (RLVR_BENCH_CACHE). A cache "
        "that cannot be written is bypassed with a warning (/health says degraded).")] = True,
    reuse_port: Annotated[bool, typer.Option(
        "--reuse-port", help="Share the port with other `serve` processes (Linux SO_REUSEPORT): replicas behind one "
        "URL, so one can die or restart while the others answer.")] = False,
) -> int:
    """Serve a judge as a reward over HTTP (OpenRLHF --reward.remote_url: POST /get_reward; GET /health)."""
    import logging

    from rlvr_bench.judges.registry import judge as build_named_judge
    from rlvr_bench.reward_server import RewardService, make_server, serve_until_signalled

    _check_settings(max_wait_ms, judge_timeout_s, drain_s, unscored_reward, max_batch, max_queue)
    if unscored_score is not None and not math.isfinite(unscored_score):
        raise ConfigError(f"--unscored-score must be a finite number, got {unscored_score:g}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    built = build_named_judge(judge)
    try:
        service = RewardService(built, mode, max_batch, max_wait_ms / 1000.0, max_queue, unscored_reward,
                                judge_timeout_s, special_text or (), use_cache, unscored_score)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        server = make_server(service, host, port, reuse_port=reuse_port)
    except OSError as exc:
        service.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    say = lambda text: err_console.print(text, markup=False, soft_wrap=True)  # noqa: E731
    say(f"serving judge {built.name!r} ({mode}) at http://{host}:{server.server_address[1]}/get_reward "
        f"(GET /health); judge timeout {judge_timeout_s:g} s; SIGTERM or Ctrl-C drains (up to {drain_s:g} s) "
        "and stops")
    return serve_until_signalled(server, service, drain_s, say)
