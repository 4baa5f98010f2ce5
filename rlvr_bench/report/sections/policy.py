"""Policy quality (schema ``rlvr-bench/eval/v1``) in the shape of the study's Table 1: one row per policy,
one column per domain plus all items, accuracy with 95% CIs under each judge; paired policy comparisons
(bootstrap difference and McNemar's test)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, interval
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.rundir import Run

ALL_COLUMN = "all items"


def policy_table(per_policy: Mapping[str, Any], policies: Sequence[str], judge: str,
                 domains: Sequence[str]) -> dict[str, Any]:
    """Rows = policies; cells = accuracy blocks for all items then each domain; best estimate per column marked."""
    rows: list[dict[str, Any]] = []
    for policy in policies:
        block = ((per_policy.get(policy) or {}).get("by_judge") or {}).get(judge) or {}
        by_domain = block.get("by_domain") or {}
        cells = [block.get("accuracy")] + [(by_domain.get(d) or {}).get("accuracy") for d in domains]
        rows.append({"policy": policy, "cells": cells, "mean_at_n": block.get("mean_at_n"),
                     "pass_at_n": block.get("pass_at_n"), "n_samples": block.get("n_samples"),
                     "n_unscored": block.get("n_unscored")})
    best: list[set[str]] = []
    for column in range(len(domains) + 1):
        values: dict[str, float | None] = {str(row["policy"]): estimate(row["cells"][column]) for row in rows}
        defined = [v for v in values.values() if v is not None]
        top = max(defined) if len(defined) >= 2 else None
        best.append({p for p, v in values.items() if top is not None and v == top})
    multi_sample = any(isinstance(row["n_samples"], int) and row["n_samples"] > 1 for row in rows)
    return {"judge": judge, "columns": [ALL_COLUMN, *domains], "rows": rows, "best": best,
            "multi_sample": multi_sample}


def domain_chart(table: Mapping[str, Any]) -> str | None:
    if not table["rows"]:
        return None
    series = []
    for row in table["rows"]:
        bounds = [interval(cell) for cell in row["cells"]]
        series.append((row["policy"], [estimate(cell) for cell in row["cells"]], [b[0] for b in bounds],
                       [b[1] for b in bounds]))
    return figures.grouped_bars(table["columns"], series, f"Accuracy per domain, judged by {table['judge']} (95% CI)",
                                "accuracy")


def comparison_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entry in results.get("comparisons") or []:
        if not isinstance(entry, Mapping):
            continue
        difference = entry.get("difference")
        low, high = interval(difference)
        excludes_zero = low is not None and high is not None and (low > 0 or high < 0)
        rows.append({"a": entry.get("policy_a"), "b": entry.get("policy_b"), "judge": entry.get("judge"),
                     "difference": difference, "mcnemar": entry.get("mcnemar") or {},
                     "css": ("delta-up" if (estimate(difference) or 0) > 0 else "delta-down") if excludes_zero else ""})
    return rows


def build(run: Run) -> Section | None:
    results = run.results
    per_policy = results.get("per_policy")
    policies = [str(p) for p in results.get("policies") or []]
    judges = [str(j) for j in results.get("judges") or []]
    if not isinstance(per_policy, Mapping) or not policies or not judges:
        return None
    domains = [str(d) for d in results.get("domains") or []]
    tables = [policy_table(per_policy, policies, judge, domains) for judge in judges]
    errors = [{"policy": p, **((per_policy.get(p) or {}).get("errors") or {})} for p in policies]
    generation = results.get("generation") or {}
    return Section(
        key="policy",
        title="Policy quality",
        template="sections/policy.html.j2",
        context={"policies": policies, "judges": judges, "primary": results.get("primary_judge") or judges[0],
                 "tables": tables, "chart": domain_chart(tables[0]), "comparisons": comparison_rows(results),
                 "n_items": results.get("n_items"), "split": results.get("split"),
                 "generation": generation, "sampling": generation.get("sampling") or {},
                 "errors": errors, "specs": [(p, (per_policy.get(p) or {}).get("spec")) for p in policies]},
        subsections=(("table", "Table 1"), ("comparisons", "Paired comparisons")),
    )


def headline_metrics(run: Run) -> dict[str, Headline]:
    per_policy = run.results.get("per_policy")
    if not isinstance(per_policy, Mapping):
        return {}
    metrics: dict[str, Headline] = {}
    for policy in run.results.get("policies") or []:
        for judge, block in (((per_policy.get(policy) or {}).get("by_judge")) or {}).items():
            if isinstance(block, Mapping):
                metrics[f"eval.accuracy.{judge}.{policy}"] = Headline(f"{policy} (judge {judge})",
                                                                      block.get("accuracy"),
                                                                      group=f"Policy accuracy, judge {judge}")
    return metrics
