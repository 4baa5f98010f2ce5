"""`rlvr-bench tasks` and `rlvr-bench judges`: what is bundled and what can run here."""

from __future__ import annotations

from rich.table import Table

from rlvr_bench.cli.app import app, console, user_errors_exit_2
from rlvr_bench.judges.registry import availability, list_presets
from rlvr_bench.tasks import list_tasks, load_task


@app.command("tasks")
@user_errors_exit_2
def tasks_command() -> None:
    """List bundled tasks with their domains and sizes."""
    table = Table(title="Tasks")
    for column in ("name", "items", "responses", "domains", "splits", "description"):
        table.add_column(column)
    for info in list_tasks():
        summary = load_task(str(info.path)).summary()
        table.add_row(info.name, str(summary["items"]), str(summary["responses"]), ", ".join(info.domains),
                      ", ".join(f"{k} {v}" for k, v in summary["splits"].items()), info.description[:80])
    console.print(table)


@app.command("judges")
@user_errors_exit_2
def judges_command() -> None:
    """List judge presets with their backend and whether they can run on this machine."""
    table = Table(title="Judge presets")
    for column in ("name", "backend", "offline", "available", "description"):
        table.add_column(column)
    for preset in list_presets():
        reason = availability(preset.spec)
        status = "[green]yes[/green]" if reason is None else f"[red]no[/red]: {reason}"
        table.add_row(preset.spec.name, preset.spec.backend, "yes" if preset.offline else "no", status,
                      preset.spec.description)
    console.print(table)
