"""Render run directories into one self-contained HTML page.

The page is built from saved files only (``load_run``): no judge or policy is
run. Templates live in ``rlvr_bench/report/templates`` and are rendered with
``StrictUndefined`` (a missing variable is a bug, not a blank) and autoescape
(every string from a run is escaped; only our own SVG figures are marked safe).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from rlvr_bench import __version__
from rlvr_bench.errors import UserError
from rlvr_bench.report import figures
from rlvr_bench.report.formatting import FILTERS
from rlvr_bench.report.sections import Section, build_sections, run_schema
from rlvr_bench.report.sections.comparison import LabelledRun, build_comparison
from rlvr_bench.rundir import Run, load_run

REPORT_FILE = "report.html"
#: the page template's ``<meta name="generator">``, how an existing file is recognised as a report of ours
_GENERATOR_MARK = b'<meta name="generator" content="rlvr-bench'
_HEAD_BYTES = 4096
_TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class PlacedSection:
    """A section with its page anchor (unique over the whole page)."""

    anchor: str
    title: str
    template: str
    context: Any
    subsections: tuple[tuple[str, str], ...]


def environment() -> jinja2.Environment:
    """The report's jinja environment: package templates, StrictUndefined, autoescape, number filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def _place(section: Section, prefix: str) -> PlacedSection:
    return PlacedSection(anchor=f"{prefix}{section.key}", title=section.title, template=section.template,
                         context=section.context, subsections=section.subsections)


def display_path(path: Path, relative_to: Path | None) -> str:
    """The run's path as shown in the page: relative to the report's folder when possible (stable across machines)."""
    if relative_to is not None:
        try:
            return Path(os.path.relpath(path.resolve(), relative_to.resolve())).as_posix()
        except ValueError:  # another drive on Windows
            pass
    return path.as_posix()


def run_label(run: Run, index: int, n_runs: int, shown_path: str) -> str:
    name = run.path.name or shown_path
    return name if n_runs == 1 else f"{index + 1}. {name}"


def _title(runs: Sequence[Run]) -> tuple[str, str]:
    if len(runs) == 1:
        run = runs[0]
        command = str(run.config.get("command", "run"))
        return f"rlvr-bench {command}: {run.path.name}", f"Schema {run_schema(run) or 'unknown'}"
    commands = sorted({str(r.config.get("command", "run")) for r in runs})
    return f"rlvr-bench: {len(runs)} runs compared", "Commands: " + ", ".join(commands)


def render_html(runs: Sequence[Run], relative_to: Path | None = None) -> str:
    """The report page for one or more loaded runs, as a string."""
    figures.reset_figure_ids()
    env = environment()
    placed_runs = []
    labelled = []
    for index, run in enumerate(runs):
        shown = display_path(run.path, relative_to)
        label = run_label(run, index, len(runs), shown)
        prefix = f"r{index + 1}-" if len(runs) > 1 else ""
        sections = [_place(section, prefix) for section in build_sections(run)]
        placed_runs.append({"anchor": f"{prefix}run", "label": label, "short": f"run {index + 1}",
                            "path": shown, "sections": sections})
        labelled.append(LabelledRun(label=label, run=run))
    comparison_section = build_comparison(labelled) if len(runs) > 1 else None
    comparison = _place(comparison_section, "") if comparison_section else None
    title, subtitle = _title(runs)
    return env.get_template("page.html.j2").render(
        title=title, subtitle=subtitle, runs=placed_runs, comparison=comparison, version=__version__)


def is_report_file(path: Path) -> bool:
    """Whether ``path`` is a page this module rendered (its head names rlvr-bench as the generator)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return False
    return _GENERATOR_MARK in head


def render_report(runs: Sequence[str | Path], out: str | Path) -> Path:
    """Render the run directories ``runs`` into the HTML file ``out`` (written atomically); returns ``out``.

    A page that cannot be written (a read-only folder, a full disk) is a one-line UserError naming ``out``.
    """
    if not runs:
        raise ValueError("render_report needs at least one run directory")
    out_path = Path(out)
    loaded = [load_run(path) for path in runs]
    html = render_html(loaded, relative_to=out_path.parent)
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(out_path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{out_path}: cannot write the report: {exc.strerror or exc}") from None
    return out_path


def write_run_report(run_dir: str | Path) -> Path:
    """Write ``run_dir/report.html`` for one finished run directory; returns its path."""
    folder = Path(run_dir)
    return render_report([folder], folder / REPORT_FILE)
