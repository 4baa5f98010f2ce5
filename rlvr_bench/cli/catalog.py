"""`rlvr-bench tasks` and `rlvr-bench judges`: what is bundled and what can run here now."""

from __future__ import annotations

import textwrap
from typing import Any

from rich.markup import escape
from rich.table import Table

from rlvr_bench.cli.app import app, console, emit_json, user_errors_exit_2
from rlvr_bench.judges.base import JudgeSpec
from rlvr_bench.judges.registry import availability, list_presets
from rlvr_bench.tasks import list_tasks, load_task

#: the tasks table's description column: cut at a word boundary, with an ellipsis
DESCRIPTION_WIDTH = 80


def short_description(text: str, width: int = DESCRIPTION_WIDTH) -> str:
    """``text`` on one line, cut at the last whole word that fits in ``width`` characters ("..." marks a cut)."""
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder=" …")


@app.command("tasks")
@user_errors_exit_2
def tasks_command() -> None:
    """List bundled tasks with their domains and sizes."""
    rows = []
    for info in list_tasks():
        summary = load_task(str(info.path)).summary()
        rows.append({"name": info.name, "items": summary["items"], "responses": summary["responses"],
                     "domains": list(info.domains), "splits": summary["splits"], "description": info.description,
                     "path": str(info.path)})
    emit_json({"tasks": rows})
    table = Table(title="Tasks")
    for column in ("name", "items", "responses", "domains", "splits", "description"):
        table.add_column(column)
    for row in rows:
        splits = ", ".join(f"{k} {v}" for k, v in row["splits"].items())
        table.add_row(escape(row["name"]), str(row["items"]), str(row["responses"]),
                      escape(", ".join(row["domains"])), splits, escape(short_description(row["description"])))
    console.print(table)


def endpoint_reason(spec: JudgeSpec) -> str | None:
    """For a judge behind an OpenAI-compatible endpoint: why the endpoint does not answer now, else None."""
    import os

    from rlvr_bench.checkpoints import endpoint_problem

    if spec.backend != "openai":
        return None
    url_env = spec.params.get("base_url_env")
    url = (os.environ.get(str(url_env)) if url_env else None) or spec.params.get("base_url")
    if not url:
        return None  # the backend's own check names what to set
    problem = endpoint_problem(str(url).rstrip("/") + "/models")
    return None if problem is None else f"judge {spec.name!r}: the endpoint {url} does not answer ({problem})"


def can_run_now(spec: JudgeSpec) -> str | None:
    """None when the judge can run here now (package installed, checkpoint local or hub reachable, key set,
    endpoint answering); else the one-line reason."""
    return availability(spec) or endpoint_reason(spec)


@app.command("judges")
@user_errors_exit_2
def judges_command() -> None:
    """List judge presets: their backend, whether they are in the default set (what agreement and verify run
    without --judges), and whether they can run here now (and why not)."""
    rows: list[dict[str, Any]] = []
    for preset in list_presets():
        reason = can_run_now(preset.spec)
        rows.append({"name": preset.spec.name, "backend": preset.spec.backend, "default_set": preset.offline,
                     "available": reason is None, "reason": reason, "description": preset.spec.description})
    emit_json({"judges": rows})
    table = Table(title="Judge presets (available: can run here now)")
    for column in ("name", "backend", "in default set", "available", "description"):
        table.add_column(column)
    for row in rows:
        # every text is escaped: a hint such as pip install 'rlvr-bench[vllm]' is not rich markup
        status = "[green]yes[/green]" if row["available"] else f"[red]no[/red]: {escape(row['reason'])}"
        table.add_row(escape(row["name"]), escape(row["backend"]), "yes" if row["default_set"] else "no", status,
                      escape(row["description"]))
    console.print(table)
