"""Agreement between judges (schema ``rlvr-bench/agreement/v1``): kappa and AC1 heatmaps with CIs,
multi-rater coefficients, the pair table with the kappa-paradox flag, judges against gold, per domain.

:func:`agreement_context` is shared with the eval report, whose ``judge_agreement``
block has the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, interval
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.rundir import Run

#: pairwise statistics in the pair table: results key -> column heading
PAIR_COLUMNS = (
    ("cohen_kappa", "Cohen's κ"),
    ("gwet_ac1", "Gwet's AC1"),
    ("pabak", "PABAK"),
    ("observed_agreement", "observed"),
    ("positive_agreement", "positive"),
    ("negative_agreement", "negative"),
    ("prevalence_index", "prevalence idx"),
    ("bias_index", "bias idx"),
)
#: the pair table as two stacked tables (one wide table would not fit a page): (caption, results keys)
PAIR_TABLES = (
    ("Chance-corrected agreement", ("cohen_kappa", "gwet_ac1", "pabak")),
    ("Raw agreement, and the prevalence and bias indices behind a kappa paradox",
     ("observed_agreement", "positive_agreement", "negative_agreement", "prevalence_index", "bias_index")),
)
#: at most this many domains side by side in one per-domain table (more are stacked tables)
DOMAINS_PER_TABLE = 5
#: multi-rater coefficients: results key -> label
MULTI_RATER = (
    ("fleiss_kappa", "Fleiss' κ"),
    ("krippendorff_alpha", "Krippendorff's α"),
    ("gwet_ac1", "Gwet's AC1 (multi-rater)"),
    ("observed_agreement", "observed agreement"),
)
#: judge-vs-gold metrics: results key -> column heading
GOLD_COLUMNS = (
    ("accuracy", "accuracy"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("false_positive_rate", "FPR"),
    ("f1", "F1"),
    ("cohen_kappa", "κ vs gold"),
)


def matrix_cell(block: Any, i: int, j: int) -> dict[str, Any]:
    """Entry (i, j) of a k x k estimate block as a scalar estimate block (None where missing)."""
    if not isinstance(block, Mapping):
        return {"estimate": None, "ci_low": None, "ci_high": None}

    def pick(name: str) -> Any:
        grid: Any = block.get(name)
        try:
            return grid[i][j]
        except (TypeError, IndexError):
            return None

    return {"estimate": pick("estimate"), "ci_low": pick("ci_low"), "ci_high": pick("ci_high")}


def _grid(block: Any, name: str, k: int) -> list[list[Any]]:
    grid = block.get(name) if isinstance(block, Mapping) else None
    if not isinstance(grid, list) or len(grid) != k:
        return [[None] * k for _ in range(k)]
    return [list(row) if isinstance(row, list) else [None] * k for row in grid]


def pair_rows(stats: Mapping[str, Any], judges: Sequence[str]) -> list[dict[str, Any]]:
    """One row per judge pair (i < j): shared scored responses, every pairwise statistic, the paradox flag."""
    pairwise = stats.get("pairwise") or {}
    k = len(judges)
    paradox = _grid({"flags": pairwise.get("kappa_paradox")}, "flags", k)
    n_scored = _grid({"n": pairwise.get("n_scored")}, "n", k)
    rows = []
    for i in range(k):
        for j in range(i + 1, k):
            rows.append({
                "a": judges[i], "b": judges[j], "n": n_scored[i][j], "paradox": bool(paradox[i][j]),
                "stats": {key: matrix_cell(pairwise.get(key), i, j) for key, _ in PAIR_COLUMNS},
            })
    return rows


def heatmap_svg(stats: Mapping[str, Any], judges: Sequence[str], key: str, title: str) -> str | None:
    """Heatmap of one pairwise statistic with CIs in every cell; paradox-flagged pairs marked ⚠."""
    block = (stats.get("pairwise") or {}).get(key)
    if not isinstance(block, Mapping) or len(judges) < 2:
        return None
    k = len(judges)
    flags = _grid({"f": (stats.get("pairwise") or {}).get("kappa_paradox")}, "f", k) if key == "cohen_kappa" else None
    return figures.heatmap(_grid(block, "estimate", k), list(judges), title, ci_low=_grid(block, "ci_low", k),
                           ci_high=_grid(block, "ci_high", k), flags=flags, blank_diagonal=True)


def gold_rows(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in stats.get("gold") or []:
        if isinstance(entry, Mapping):
            rows.append({"judge": str(entry.get("judge", "?")), "n_scored": entry.get("n_scored"),
                         "n_unscored": entry.get("n_unscored"),
                         "stats": {key: entry.get(key) for key, _ in GOLD_COLUMNS}})
    return rows


def domain_table(results: Mapping[str, Any], judges: Sequence[str]) -> dict[str, Any] | None:
    """Per domain: Cohen's kappa of every pair and Fleiss' kappa, for an HTML heat table and a bar chart."""
    by_domain = results.get("by_domain")
    if not isinstance(by_domain, Mapping) or not by_domain:
        return None
    pairs = [(i, j) for i in range(len(judges)) for j in range(i + 1, len(judges))]
    rows: list[dict[str, Any]] = []
    for domain, stats in by_domain.items():
        if not isinstance(stats, Mapping):
            continue
        kappa = (stats.get("pairwise") or {}).get("cohen_kappa")
        rows.append({
            "domain": str(domain), "n_responses": stats.get("n_responses"), "n_questions": stats.get("n_questions"),
            "pairs": [matrix_cell(kappa, i, j) for i, j in pairs],
            "fleiss": (stats.get("multi_rater") or {}).get("fleiss_kappa"),
            "gold": {row["judge"]: row["stats"].get("accuracy") for row in gold_rows(stats)},
        })
    if not rows:
        return None
    names = [row["domain"] for row in rows]
    fleiss_chart = figures.grouped_bars(names, [_series("Fleiss' κ", [row["fleiss"] for row in rows])],
                                        "Fleiss' κ per domain (95% CI)", "Fleiss' κ", ylim=(-1.0, 1.0),
                                        reference_line=0.0)
    gold_chart = None
    if any(row["gold"] for row in rows):
        series = [_series(judge, [row["gold"].get(judge) for row in rows]) for judge in judges]
        gold_chart = figures.grouped_bars(names, series, "Accuracy against gold per domain (95% CI)", "accuracy")
    return {"pair_names": [f"{judges[i]} ~ {judges[j]}" for i, j in pairs], "rows": rows,
            "fleiss_chart": fleiss_chart, "gold_chart": gold_chart}


def _series(name: str, blocks: Sequence[Any]) -> tuple[str, list[float | None], list[float | None],
                                                      list[float | None]]:
    """A bar-chart series (name, estimates, CI lows, CI highs) from estimate blocks."""
    bounds = [interval(block) for block in blocks]
    return name, [estimate(block) for block in blocks], [b[0] for b in bounds], [b[1] for b in bounds]


def agreement_context(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """Template context from agreement results (None when there is no pairwise block to show)."""
    overall = results.get("overall")
    judges = [str(j) for j in results.get("judges") or (overall or {}).get("raters") or []]
    if not isinstance(overall, Mapping) or len(judges) < 2:
        return None
    per_rater = overall.get("per_rater") or {}
    pass_rate = per_rater.get("pass_rate") or {}
    n_scored = per_rater.get("n_scored") or []
    rates = []
    for index, judge in enumerate(judges):
        rates.append({"judge": judge,
                      "n_scored": n_scored[index] if index < len(n_scored) else None,
                      "pass_rate": {key: (pass_rate.get(key) or [None] * len(judges))[index]
                                    for key in ("estimate", "ci_low", "ci_high")}})
    pairs = pair_rows(overall, judges)
    multi = overall.get("multi_rater") or {}
    rule = (overall.get("pairwise") or {}).get("kappa_paradox_rule") or {}
    return {
        "judges": judges,
        "n_responses": results.get("n_responses", overall.get("n_units")),
        "n_questions": results.get("n_questions", overall.get("n_clusters")),
        "bootstrap": results.get("bootstrap") or overall.get("bootstrap") or {},
        "multi": [(label, multi.get(key)) for key, label in MULTI_RATER if isinstance(multi.get(key), Mapping)],
        "kappa_svg": heatmap_svg(overall, judges, "cohen_kappa", "Cohen's κ (95% CI)"),
        "ac1_svg": heatmap_svg(overall, judges, "gwet_ac1", "Gwet's AC1 (95% CI)"),
        "pair_columns": PAIR_COLUMNS,
        "pair_tables": [(caption, [(key, dict(PAIR_COLUMNS)[key]) for key in keys]) for caption, keys in PAIR_TABLES],
        "domains_per_table": DOMAINS_PER_TABLE,
        "pairs": pairs,
        "paradox_pairs": [row for row in pairs if row["paradox"]],
        "paradox_rule": rule,
        "rates": rates,
        "gold_columns": GOLD_COLUMNS,
        "gold": gold_rows(overall),
        "domains": domain_table(results, judges),
        "warnings": [str(w) for w in overall.get("warnings") or []],
    }


def build(run: Run) -> Section | None:
    context = agreement_context(run.results)
    if context is None:
        return None
    subsections = [("heatmaps", "κ and AC1"), ("pairs", "Pairs")]
    if context["gold"]:
        subsections.append(("gold", "Against gold"))
    if context["domains"]:
        subsections.append(("domains", "Per domain"))
    return Section(key="agreement", title="Agreement between judges", template="sections/agreement.html.j2",
                   context=context, subsections=tuple(subsections))


def headline_metrics(run: Run) -> dict[str, Headline]:
    """Pairwise κ and AC1 (keyed by judge names, so different judge sets line up), multi-rater, gold accuracy."""
    context_results = run.results
    overall = context_results.get("overall")
    judges = [str(j) for j in context_results.get("judges") or []]
    if not isinstance(overall, Mapping):
        return {}
    metrics: dict[str, Headline] = {}
    multi = overall.get("multi_rater") or {}
    for key, label in MULTI_RATER[:3]:
        if isinstance(multi.get(key), Mapping):
            metrics[f"agreement.multi.{key}"] = Headline(label, multi[key], group="Agreement (all judges)")
    for row in pair_rows(overall, judges):
        pair = f"{row['a']} ~ {row['b']}"
        key = " ~ ".join(sorted((row["a"], row["b"])))  # the same pair lines up whatever the judge order
        metrics[f"agreement.kappa.{key}"] = Headline(f"κ {pair}", row["stats"]["cohen_kappa"], group="Cohen's κ")
        metrics[f"agreement.ac1.{key}"] = Headline(f"AC1 {pair}", row["stats"]["gwet_ac1"], group="Gwet's AC1")
    for row in gold_rows(overall):
        metrics[f"gold.accuracy.{row['judge']}"] = Headline(f"accuracy {row['judge']}", row["stats"]["accuracy"],
                                                            group="Accuracy against gold")
    return metrics
