"""Robustness (``verify --attacks``): false-positive rate of "master key" responses and false-negative rate
of format perturbations of correct answers, per judge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, interval
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.rundir import Run


def _rows(groups: Any, judges: Sequence[str], metric: str) -> list[dict[str, Any]]:
    """One row per attack key or perturbation kind: responses and each judge's metric block."""
    rows: list[dict[str, Any]] = []
    if not isinstance(groups, Mapping):
        return rows
    for name, entry in groups.items():
        if not isinstance(entry, Mapping):
            continue
        per_judge = entry.get("judges") or {}
        rows.append({"name": str(name), "n_responses": entry.get("n_responses"),
                     "values": [(per_judge.get(j) or {}).get(metric) for j in judges]})
    return rows


def _chart(rows: Sequence[Mapping[str, Any]], judges: Sequence[str], title: str, ylabel: str) -> str | None:
    if not rows:
        return None
    series = []
    for index, judge in enumerate(judges):
        blocks = [row["values"][index] for row in rows]
        bounds = [interval(b) for b in blocks]
        series.append((judge, [estimate(b) for b in blocks], [b[0] for b in bounds], [b[1] for b in bounds]))
    # rates near 0 are the common case: scale the axis to the data (at least 0..0.1) so small bars stay visible
    tops = [hi for _, _, _, highs in series for hi in highs if hi is not None]
    tops += [v for _, values, _, _ in series for v in values if v is not None]
    top = min(1.0, max(0.1, 1.15 * max(tops, default=0.0)))
    return figures.grouped_bars([row["name"] for row in rows], series, title, ylabel, ylim=(0.0, top))


def build(run: Run) -> Section | None:
    attacks = run.results.get("attacks")
    judges = [str(j) for j in run.results.get("judges") or []]
    if not isinstance(attacks, Mapping) or not judges:
        return None
    key_rows = _rows(attacks.get("master_key"), judges, "false_positive_rate")
    perturbation_rows = _rows(attacks.get("perturbation"), judges, "false_negative_rate")
    pooled = attacks.get("pooled") or {}
    pooled_keys = _rows({"all master keys": pooled.get("master_key")}, judges, "false_positive_rate")
    pooled_perturbations = _rows({"all perturbations": pooled.get("perturbation")}, judges, "false_negative_rate")
    any_key = attacks.get("master_key_any") or {}
    keys = [{"name": str(k.get("name", "")), "kind": str(k.get("kind", "")), "text": str(k.get("text", ""))}
            for k in attacks.get("master_keys") or [] if isinstance(k, Mapping)]
    context: dict[str, Any] = {
        "judges": judges,
        "n_items": attacks.get("n_items"),
        "master_keys": keys,
        "key_rows": key_rows,
        "pooled_keys": pooled_keys,
        "any_key": [(any_key.get(j) or {}).get("items_with_a_passing_key") for j in judges],
        "key_svg": _chart(key_rows, judges, "Master-key false-positive rate per key (95% CI)", "false-positive rate"),
        "perturbation_rows": perturbation_rows,
        "pooled_perturbations": pooled_perturbations,
        "perturbation_svg": _chart(perturbation_rows, judges,
                                   "Perturbed correct answers: false-negative rate (95% CI)", "false-negative rate"),
    }
    if not key_rows and not perturbation_rows:
        return None
    return Section(key="attacks", title="Robustness to attacks", template="sections/attacks.html.j2", context=context,
                   subsections=(("keys", "Master keys"), ("perturbations", "Perturbations")))


def headline_metrics(run: Run) -> dict[str, Headline]:
    attacks = run.results.get("attacks")
    judges = [str(j) for j in run.results.get("judges") or []]
    if not isinstance(attacks, Mapping):
        return {}
    pooled = (attacks.get("pooled") or {}).get("master_key") or {}
    metrics = {}
    for judge in judges:
        block = ((pooled.get("judges") or {}).get(judge) or {}).get("false_positive_rate")
        if block is not None:
            metrics[f"attacks.master_key_fpr.{judge}"] = Headline(f"master-key FPR {judge}", block, better="lower",
                                                                  group="Robustness")
    return metrics
