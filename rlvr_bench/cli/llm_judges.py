"""Commands for the model judges: ``cache stats|clear``, ``serve-judge``, ``build-tiny-judge``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from rlvr_bench.cli.app import app, console, emit_json, err_console, say_written, split_names, user_errors_exit_2
from rlvr_bench.errors import UserError

cache_app = typer.Typer(help="The judgment cache shared by every command (SQLite).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("stats")
@user_errors_exit_2
def cache_stats_command() -> None:
    """How many verdicts are cached, per judge, and where."""
    from rlvr_bench.judges.cache import default_cache

    with default_cache() as cache:
        stats = cache.stats()
    emit_json({"path": str(stats.path), "per_judge": stats.per_judge, "total": stats.total,
               "size_bytes": stats.size_bytes})
    console.print(f"judgment cache: {stats.path}", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("judge")
    table.add_column("verdicts", justify="right")
    for judge, count in stats.per_judge.items():
        table.add_row(judge, str(count))
    table.add_row("[bold]total[/bold]", f"[bold]{stats.total}[/bold]")
    console.print(table)
    console.print(f"size on disk: {stats.size_bytes / 1e6:.2f} MB", highlight=False)


@cache_app.command("clear")
@user_errors_exit_2
def cache_clear_command(
    judges: Annotated[str | None, typer.Option(help="Only these judges (comma-separated preset names).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete cached verdicts (all, or those of some judges)."""
    from rlvr_bench.judges.cache import default_cache

    names = split_names(judges)
    what = f"cached verdicts of {', '.join(names)}" if names else "every cached verdict"
    if not yes and not typer.confirm(f"Delete {what}?"):
        raise typer.Exit(1)
    with default_cache() as cache:
        deleted = cache.clear(names)
    emit_json({"deleted": deleted, "judges": names})
    console.print(f"deleted {deleted} cached verdicts", highlight=False)


@app.command("serve-judge")
@user_errors_exit_2
def serve_judge_command(
    model: Annotated[str, typer.Option(help="Local checkpoint folder, hub id, or rlvr-bench:tiny-judge.")]
    = "rlvr-bench:tiny-judge",
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8765,
    served_name: Annotated[str | None, typer.Option(help="Model name clients send (default: --model).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, or auto.")] = "auto",
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16 or float16.")] = "auto",
    max_batch: Annotated[int, typer.Option(help="Most requests scored in one forward pass.")] = 32,
    added_latency_ms: Annotated[float, typer.Option(help="Delay every response (benchmarks).")] = 0.0,
    threads: Annotated[int | None, typer.Option(help="CPU threads per forward pass (1 suits tiny models).")] = None,
) -> None:
    """Serve a local verifier model as an OpenAI-compatible endpoint (chat completions with logprobs)."""
    from rlvr_bench.serve_judge import JudgeServer, JudgeService

    if port < 0 or max_batch < 1 or added_latency_ms < 0:
        raise UserError("--port must be >= 0, --max-batch >= 1 and --added-latency-ms >= 0")
    service = JudgeService(model, served_name=served_name, device=device, dtype=dtype, max_batch=max_batch,
                           added_latency_s=added_latency_ms / 1000.0, threads=threads)
    try:
        server = JudgeServer(service, port=port)
    except OSError as exc:
        service.close()
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    # the URL line is printed first and flushed: scripts wait for it to know the port
    print(f"serving {service.served_name} at {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err_console.print("stopped")
    finally:
        server.stop()


@app.command("build-tiny-judge")
@user_errors_exit_2
def build_tiny_judge_command(
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if it exists.")] = False,
) -> None:
    """Build (and train on CPU) the tiny YES/NO judge used by the `tiny` preset and the tests."""
    import shutil

    from rlvr_bench.judges.tiny_judge import ensure_tiny_judge, tiny_judge_dir

    if force:
        shutil.rmtree(tiny_judge_dir(), ignore_errors=True)
    path = ensure_tiny_judge(log=lambda line: err_console.print(line, highlight=False))
    emit_json({"tiny_judge": str(path)})
    say_written("tiny judge", path)
