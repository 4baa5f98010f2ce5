"""Verifier accuracy against gold labels (schema ``rlvr-bench/verify/v1``): metric table with CIs,
confusion matrices, per-domain bars, breakdowns by answer type and response variant, McNemar pairs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, interval
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.rundir import Run

#: metric key -> (column heading, which direction is better)
METRICS: dict[str, tuple[str, str]] = {
    "accuracy": ("accuracy", "higher"),
    "balanced_accuracy": ("balanced acc.", "higher"),
    "precision": ("precision", "higher"),
    "recall": ("recall", "higher"),
    "f1": ("F1", "higher"),
    "false_positive_rate": ("FPR", "lower"),
    "false_negative_rate": ("FNR", "lower"),
    "unscored_rate": ("unscored", "lower"),
}
#: breakdowns shown as judge x group tables (the domain one is also a chart)
BREAKDOWN_TITLES = {"domain": "domain", "answer_type": "answer type", "variant": "response variant"}


def best_judges(rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, set[str]]:
    """For each metric, the judges with the best estimate (ties all marked); empty when fewer than two have one."""
    best: dict[str, set[str]] = {}
    for key in keys:
        direction = METRICS[key][1]
        values = {row["judge"]: estimate(row["metrics"].get(key)) for row in rows}
        defined = {judge: v for judge, v in values.items() if v is not None}
        if len(defined) < 2:
            best[key] = set()
            continue
        target = max(defined.values()) if direction == "higher" else min(defined.values())
        best[key] = {judge for judge, v in defined.items() if v == target}
    return best


def judge_rows(overall: Mapping[str, Any], judges: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for judge in judges:
        entry = overall.get(judge)
        if isinstance(entry, Mapping):
            rows.append({"judge": judge, "counts": entry.get("counts") or {},
                         "metrics": {key: entry.get(key) for key in METRICS}})
    return rows


def confusion_svg(rows: Sequence[Mapping[str, Any]]) -> str | None:
    tables = []
    for row in rows:
        counts = row["counts"]
        if not counts:
            continue
        tables.append((row["judge"], [[counts.get("tp"), counts.get("fp")], [counts.get("fn"), counts.get("tn")]]))
    if not tables:
        return None
    return figures.confusion_matrices(tables, "Confusion matrices: judge verdict (rows) against gold label (columns)")


def breakdown_tables(breakdowns: Any, judges: Sequence[str]) -> list[dict[str, Any]]:
    """One table per breakdown: groups as rows, each judge's accuracy (and FPR) as columns."""
    tables: list[dict[str, Any]] = []
    if not isinstance(breakdowns, Mapping):
        return tables
    for name, groups in breakdowns.items():
        if not isinstance(groups, Mapping) or not groups:
            continue
        rows = []
        for group, entry in groups.items():
            if not isinstance(entry, Mapping):
                continue
            per_judge = entry.get("judges") or {}
            rows.append({"group": str(group), "n_responses": entry.get("n_responses"),
                         "n_questions": entry.get("n_questions"), "n_correct": entry.get("n_correct"),
                         "n_incorrect": entry.get("n_incorrect"),
                         "accuracy": [(per_judge.get(j) or {}).get("accuracy") for j in judges],
                         "fpr": [(per_judge.get(j) or {}).get("false_positive_rate") for j in judges]})
        tables.append({"name": str(name), "title": BREAKDOWN_TITLES.get(str(name), str(name)), "rows": rows})
    return tables


def domain_chart(breakdowns: Any, judges: Sequence[str]) -> str | None:
    groups = breakdowns.get("domain") if isinstance(breakdowns, Mapping) else None
    if not isinstance(groups, Mapping) or not groups:
        return None
    names = [str(g) for g in groups]
    series = []
    for judge in judges:
        blocks = [((groups[g].get("judges") or {}).get(judge) or {}).get("accuracy") for g in groups]
        lows_highs = [interval(b) for b in blocks]
        series.append((judge, [estimate(b) for b in blocks], [lh[0] for lh in lows_highs],
                       [lh[1] for lh in lows_highs]))
    return figures.grouped_bars(names, series, "Accuracy against gold per domain (95% CI)", "accuracy")


def mcnemar_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in results.get("mcnemar") or []:
        if isinstance(entry, Mapping):
            rows.append({key: entry.get(key) for key in ("judge_a", "judge_b", "n", "a_only_correct",
                                                         "b_only_correct", "statistic", "p_value", "method",
                                                         "accuracy_difference")})
    return rows


def build(run: Run) -> Section | None:
    results = run.results
    overall = results.get("overall")
    judges = [str(j) for j in results.get("judges") or []]
    if not isinstance(overall, Mapping) or not judges:
        return None
    rows = judge_rows(overall, judges)
    metric_keys = [key for key in results.get("metric_names") or METRICS if key in METRICS]
    breakdowns = results.get("breakdowns")
    tables = breakdown_tables(breakdowns, judges)
    context: dict[str, Any] = {
        "judges": judges,
        "n_responses": results.get("n_responses"),
        "n_questions": results.get("n_questions"),
        "n_unlabelled_skipped": results.get("n_unlabelled_skipped"),
        "label_counts": results.get("label_counts") or {},
        "bootstrap": results.get("bootstrap") or {},
        "metrics": [(key, METRICS[key][0]) for key in metric_keys],
        "rows": rows,
        "best": best_judges(rows, metric_keys),
        "confusion_svg": confusion_svg(rows),
        "domain_svg": domain_chart(breakdowns, judges),
        "breakdowns": tables,
        "mcnemar": mcnemar_rows(results),
        "mcnemar_rule": results.get("mcnemar_rule"),
    }
    subsections = [("table", "Metrics"), ("confusion", "Confusion matrices")]
    subsections += [(f"by-{t['name']}", f"By {t['title']}") for t in tables]
    if context["mcnemar"]:
        subsections.append(("mcnemar", "Paired tests"))
    return Section(key="accuracy", title="Verifier accuracy", template="sections/accuracy.html.j2",
                   context=context, subsections=tuple(subsections))


def headline_metrics(run: Run) -> dict[str, Headline]:
    overall = run.results.get("overall")
    judges = [str(j) for j in run.results.get("judges") or []]
    if not isinstance(overall, Mapping):
        return {}
    metrics: dict[str, Headline] = {}
    for row in judge_rows(overall, judges):
        for key in ("accuracy", "f1", "false_positive_rate"):
            label, better = METRICS[key]
            metrics[f"verify.{key}.{row['judge']}"] = Headline(f"{label} {row['judge']}", row["metrics"][key],
                                                               better=better, group=f"Verifier {label}")
    return metrics
