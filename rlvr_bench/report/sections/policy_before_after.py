"""Held-out accuracy of a trained policy before and after RL (``train`` runs), in the Table-1 shape:
all items then one column per domain, accuracy with 95% CIs, the paired difference and McNemar's test."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, interval
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.rundir import Run

ALL = "all"


def _accuracy_blocks(stage: Any) -> dict[str, Any]:
    """{column: accuracy block} of a before/after entry (``{"accuracy": {"all": {...}, domain: {...}}}``)."""
    table = stage.get("accuracy") if isinstance(stage, Mapping) else None
    if not isinstance(table, Mapping):
        return {}
    return {str(name): (entry or {}).get("accuracy") for name, entry in table.items() if isinstance(entry, Mapping)}


def build(run: Run) -> Section | None:
    results = run.results
    before, after = _accuracy_blocks(results.get("before")), _accuracy_blocks(results.get("after"))
    if not before and not after:
        return None
    columns = list(dict.fromkeys([*before, *after]))
    columns.sort(key=lambda name: (name != ALL, name))
    raw_difference = results.get("difference")
    difference: Mapping[str, Any] = raw_difference if isinstance(raw_difference, Mapping) else {}
    diff_cells = []
    for name in columns:
        entry = difference.get(name) or {}
        block = entry.get("difference")
        low, high = interval(block)
        excludes_zero = low is not None and high is not None and (low > 0 or high < 0)
        css = ("delta-up" if (estimate(block) or 0) > 0 else "delta-down") if excludes_zero else ""
        diff_cells.append({"block": block, "p_value": (entry.get("mcnemar") or {}).get("p_value"), "css": css})
    stages = [(label, blocks) for label, blocks in (("before RL", before), ("after RL", after)) if blocks]
    series = []
    for label, blocks in stages:
        bounds = [interval(blocks.get(c)) for c in columns]
        series.append((label, [estimate(blocks.get(c)) for c in columns], [b[0] for b in bounds],
                       [b[1] for b in bounds]))
    judge = results.get("reference_judge")
    chart = figures.grouped_bars(columns, series, f"Held-out accuracy before and after RL (judge {judge}, 95% CI)",
                                 "accuracy")
    return Section(key="before-after", title="Policy before and after RL", template="sections/before_after.html.j2",
                   context={"columns": columns, "stages": [(label, [blocks.get(c) for c in columns])
                                                           for label, blocks in stages],
                            "differences": diff_cells, "has_difference": bool(difference), "judge": judge,
                            "reward": results.get("reward"), "chart": chart})


def headline_metrics(run: Run) -> dict[str, Headline]:
    results = run.results
    metrics: dict[str, Headline] = {}
    for stage, label in (("before", "before RL"), ("after", "after RL")):
        block = _accuracy_blocks(results.get(stage)).get(ALL)
        if block is not None:
            metrics[f"train.{stage}.all"] = Headline(f"accuracy {label}", block, group="Held-out policy accuracy")
    difference = ((results.get("difference") or {}).get(ALL) or {}).get("difference")
    if difference is not None:
        metrics["train.difference.all"] = Headline("after − before", difference, group="Held-out policy accuracy")
    return metrics
