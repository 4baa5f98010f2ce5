"""Report sections: one small module per section, chosen by the run's ``results["schema"]``.

Each section module has ``build(run) -> Section | None``: it reads what it
needs from the run (results.json, config, records) and returns None when its
data is absent, so a section is shown exactly when its data exists. A module
may also define ``headline_metrics(run) -> dict[str, Headline]``: the numbers
the comparison section lines up across runs.

Adding a section for a new results schema is additive: write the module and its
template, and list it under the schema in :data:`SECTIONS_BY_SCHEMA`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from rlvr_bench.rundir import Run

#: sections shown for every run, before the schema's own
COMMON_SECTIONS = ("metadata",)
#: schema -> section modules (in page order) under ``rlvr_bench.report.sections``
SECTIONS_BY_SCHEMA: dict[str, tuple[str, ...]] = {
    "rlvr-bench/agreement/v1": ("agreement", "disagreements"),
    "rlvr-bench/verify/v1": ("accuracy", "calibration", "attacks", "disagreements"),
    "rlvr-bench/eval/v1": ("policy", "eval_agreement", "disagreements"),
    "rlvr-bench/train/v1": ("training", "policy_before_after"),
    "rlvr-bench/train-and-eval/v1": ("train_and_eval",),
    "rlvr-bench/distill/v1": ("distill",),
}
#: runs written before their command stamped a schema, recognised by ``config["command"]``
SCHEMA_BY_COMMAND = {
    "agreement": "rlvr-bench/agreement/v1",
    "verify": "rlvr-bench/verify/v1",
    "eval": "rlvr-bench/eval/v1",
    "train": "rlvr-bench/train/v1",
    "train-and-eval": "rlvr-bench/train-and-eval/v1",
    "distill": "rlvr-bench/distill/v1",
}


@dataclass(frozen=True)
class Section:
    """One block of the page: a heading, an anchor and a template with its context."""

    #: short stable name, unique within a run ("agreement", "disagreements", ...)
    key: str
    #: heading shown in the page and in the table of contents
    title: str
    #: template path under ``rlvr_bench/report/templates/``
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)
    #: sub-headings for the table of contents: (anchor suffix, title)
    subsections: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Headline:
    """One comparable number of a run: a label and an estimate block (or a bare number)."""

    label: str
    value: Any
    #: "higher" when a larger value is better, "lower" when smaller is better, None when neither
    better: str | None = "higher"
    #: the group this number belongs to in the comparison table ("Agreement", "Accuracy", ...)
    group: str = ""


def run_schema(run: Run) -> str | None:
    """The results schema of a run: ``results["schema"]``, else inferred from the command that wrote it."""
    schema = run.results.get("schema")
    if isinstance(schema, str):
        return schema
    command = run.config.get("command")
    return SCHEMA_BY_COMMAND.get(command) if isinstance(command, str) and run.results else None


def section_modules(run: Run) -> list[ModuleType]:
    """The section modules for this run, in page order (an unknown schema gets the common ones only)."""
    names = COMMON_SECTIONS + SECTIONS_BY_SCHEMA.get(run_schema(run) or "", ())
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def build_sections(run: Run) -> list[Section]:
    """Every section that has data in this run."""
    sections = []
    for module in section_modules(run):
        section = module.build(run)
        if section is not None:
            sections.append(section)
    return sections


def headline_metrics(run: Run) -> dict[str, Headline]:
    """Comparable numbers of a run, keyed so the same quantity has the same key in every run."""
    metrics: dict[str, Headline] = {}
    for module in section_modules(run):
        collect = getattr(module, "headline_metrics", None)
        if collect is not None:
            metrics.update(collect(run))
    return metrics
