"""Several runs side by side: each run's headline numbers in one table, differences to the first run highlighted.

Numbers line up by key (e.g. ``agreement.kappa.exact ~ contains``), so two judge
sets, several policies or a before/after pair compare on whatever they share; a
number one run lacks shows as a dash. A difference is highlighted when the two
95% intervals do not overlap, a conservative reading (non-overlap implies a
difference at roughly the 1% level for independent estimates; overlapping
intervals do not prove there is none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rlvr_bench.report.formatting import estimate, intervals_disjoint
from rlvr_bench.report.sections import Headline, Section, headline_metrics, run_schema
from rlvr_bench.rundir import Run


@dataclass(frozen=True)
class LabelledRun:
    label: str
    run: Run


def _delta(first: Any, other: Any, better: str | None) -> dict[str, Any] | None:
    """Difference other - first, with a CSS class when the intervals do not overlap."""
    a, b = estimate(first), estimate(other)
    if a is None or b is None:
        return None
    diff = b - a
    css = ""
    if intervals_disjoint(first, other):
        if better is None:
            css = "changed"
        else:
            improved = diff > 0 if better == "higher" else diff < 0
            css = "delta-up" if improved else "delta-down"
    return {"value": diff, "css": css, "significant": bool(css)}


def comparison_table(runs: Sequence[LabelledRun]) -> dict[str, Any]:
    """Rows of headline numbers (grouped) for runs of one schema, with differences to the first run."""
    per_run = [headline_metrics(r.run) for r in runs]
    keys: list[str] = []
    for metrics in per_run:
        keys.extend(key for key in metrics if key not in keys)
    groups: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        first_headline: Headline = next(m[key] for m in per_run if key in m)
        values = [m[key].value if key in m else None for m in per_run]
        base = values[0]
        row = {"key": key, "label": first_headline.label, "values": values,
               "deltas": [_delta(base, value, first_headline.better) for value in values[1:]]}
        groups.setdefault(first_headline.group or "Results", []).append(row)
    return {"labels": [r.label for r in runs], "groups": list(groups.items()),
            "n_significant": sum(1 for rows in groups.values() for row in rows
                                 for d in row["deltas"] if d and d["significant"])}


def build_comparison(runs: Sequence[LabelledRun]) -> Section | None:
    """One table per results schema shared by two or more runs; None when no two runs are comparable."""
    by_schema: dict[str, list[LabelledRun]] = {}
    for labelled in runs:
        by_schema.setdefault(run_schema(labelled.run) or "unknown", []).append(labelled)
    tables = []
    for schema, members in by_schema.items():
        if len(members) < 2:
            continue
        table = comparison_table(members)
        if table["groups"]:
            tables.append({"schema": schema, **table})
    if not tables:
        return None
    return Section(key="comparison", title="Comparison of runs", template="sections/comparison.html.j2",
                   context={"tables": tables, "labels": [r.label for r in runs]})
