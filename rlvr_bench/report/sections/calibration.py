"""Calibration of soft scores (``verify`` runs with soft judges): reliability diagram, AUROC, Brier, ECE,
and the best pass threshold."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, is_number
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.rundir import Run


def reliability_curve(entry: Mapping[str, Any]) -> tuple[list[float], list[float], list[int]] | None:
    """(mean predicted, observed rate, count) over the non-empty bins of a soft entry's reliability block."""
    bins = (entry.get("reliability") or {}).get("bins") or []
    xs, ys, counts = [], [], []
    for b in bins:
        if not isinstance(b, Mapping):
            continue
        predicted, observed, n = b.get("mean_predicted"), estimate(b.get("observed_rate")), b.get("count")
        if is_number(predicted) and observed is not None and is_number(n) and n > 0:  # empty bins are skipped
            xs.append(float(predicted))
            ys.append(observed)
            counts.append(int(n))
    return (xs, ys, counts) if xs else None


def build(run: Run) -> Section | None:
    soft = run.results.get("soft")
    if not isinstance(soft, Mapping) or not soft:
        return None
    rows, curves = [], []
    for judge, entry in soft.items():
        if not isinstance(entry, Mapping):
            continue
        threshold = entry.get("best_threshold") or {}
        rows.append({"judge": str(judge), "n": entry.get("n"), "n_positive": entry.get("n_positive"),
                     "n_negative": entry.get("n_negative"), "auroc": entry.get("auroc"), "brier": entry.get("brier"),
                     "ece": entry.get("ece"), "threshold": threshold.get("threshold"),
                     "balanced_accuracy": threshold.get("balanced_accuracy"),
                     "tpr": threshold.get("true_positive_rate"), "fpr": threshold.get("false_positive_rate")})
        curve = reliability_curve(entry)
        if curve is not None:
            curves.append((str(judge), *curve))
    if not rows:
        return None
    first = next(iter(soft.values()))
    n_bins = (first.get("reliability") or {}).get("n_bins") if isinstance(first, Mapping) else None
    title = "Reliability diagram (marker area ∝ responses in bin)"
    svg = figures.reliability_diagram(curves, title) if curves else None
    threshold_rule = next((str((e.get("best_threshold") or {}).get("rule")) for e in soft.values()
                           if isinstance(e, Mapping) and (e.get("best_threshold") or {}).get("rule")), None)
    return Section(key="calibration", title="Calibration of soft scores", template="sections/calibration.html.j2",
                   context={"rows": rows, "svg": svg, "n_bins": n_bins, "threshold_rule": threshold_rule})


def headline_metrics(run: Run) -> dict[str, Headline]:
    soft = run.results.get("soft")
    if not isinstance(soft, Mapping):
        return {}
    metrics: dict[str, Headline] = {}
    for judge, entry in soft.items():
        if isinstance(entry, Mapping):
            metrics[f"verify.auroc.{judge}"] = Headline(f"AUROC {judge}", entry.get("auroc"), group="Soft scores")
            metrics[f"verify.ece.{judge}"] = Headline(f"ECE {judge}", entry.get("ece"), better="lower",
                                                      group="Soft scores")
    return metrics
