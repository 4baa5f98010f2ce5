"""What a run showed, in a few plain lines: printed by `rlvr-bench report` (so `make demo` ends with them)
and shown at the top of the report's section for the run.

- agreement: Fleiss' kappa over all judges with its CI, and the least and most agreeing pair;
- train-and-eval: Table 1's best policy against the SFT start (paired difference with its CI and
  McNemar's p), then each of the study's findings with its status.

Other commands have no one-line headline; their report sections speak for themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlvr_bench.report.formatting import is_number


def _ci(block: Mapping[str, Any] | None, scale: float = 1.0, digits: int = 3, sign: bool = False) -> str:
    if not block or not is_number(block.get("estimate")):
        return "—"
    fmt = f"{{:+.{digits}f}}" if sign else f"{{:.{digits}f}}"
    text = fmt.format(block["estimate"] * scale)
    if is_number(block.get("ci_low")) and is_number(block.get("ci_high")):
        text += f" [{fmt.format(block['ci_low'] * scale)}, {fmt.format(block['ci_high'] * scale)}]"
    return text


def agreement_summary(results: Mapping[str, Any]) -> list[str]:
    judges = list(results.get("judges") or [])
    overall = results.get("overall") or {}
    fleiss = (overall.get("multi_rater") or {}).get("fleiss_kappa")
    lines = [f"agreement of {len(judges)} judges on {results.get('n_responses')} responses "
             f"({results.get('n_questions')} questions): Fleiss' kappa {_ci(fleiss)} (95% CI)"]
    kappa = ((overall.get("pairwise") or {}).get("cohen_kappa") or {}).get("estimate") or []
    pairs = [(kappa[i][j], judges[i], judges[j]) for i in range(len(judges)) for j in range(i + 1, len(judges))
             if i < len(kappa) and j < len(kappa[i]) and is_number(kappa[i][j])]
    if pairs:
        low, high = min(pairs), max(pairs)
        lines.append(f"  Cohen's kappa from {low[0]:.3f} ({low[1]} ~ {low[2]}) to {high[0]:.3f} "
                     f"({high[1]} ~ {high[2]})")
    return lines


def train_and_eval_summary(results: Mapping[str, Any]) -> list[str]:
    by_judge = results.get("by_judge") or {}
    judges = [j for j in results.get("evaluation_judges") or [] if j in by_judge]
    views = [(j, by_judge[j]) for j in judges] or [(results.get("reference_judge"), results)]
    n_rows = len((views[0][1].get("table") or {}).get("rows") or {})
    lines = [f"train-and-eval {results.get('recipe')}: {n_rows} policies judged by "
             f"{', '.join(str(j) for j, _ in views)} on {results.get('n_eval_items')} held-out questions"]
    for judge, view in views:
        prefix = f"  [{judge}] " if len(views) > 1 else "  "
        lines += _judge_lines(view, prefix)
    for cell, entry in (results.get("judge_family_gaps") or {}).items():
        for other, block in ((entry or {}).get("versus") or {}).items():
            lines.append(f"  {cell}: change under {entry.get('own_judge')} minus change under {other} "
                         f"{_ci(block, 100, 1, sign=True)} pp")
    return lines


def _judge_lines(view: Mapping[str, Any], prefix: str) -> list[str]:
    """Under one judge: the best trained row against the start, then each finding's status."""
    table = view.get("table") or {}
    rows = table.get("rows") or {}
    versus = table.get("versus_sft") or {}

    def accuracy(name: str) -> Mapping[str, Any]:
        return ((rows.get(name) or {}).get("all") or {}).get("accuracy") or {}

    lines = []
    trained = [name for name in versus if is_number(accuracy(name).get("estimate"))]
    if trained and "sft" in rows:
        best = max(trained, key=lambda name: accuracy(name)["estimate"])
        paired = (versus.get(best) or {}).get("all") or {}
        p_value = (paired.get("mcnemar") or {}).get("p_value")
        lines.append(f"{prefix}best: {best} {_ci(accuracy(best), 100, 1)}% vs sft {_ci(accuracy('sft'), 100, 1)}%: "
                     f"{_ci(paired.get('difference'), 100, 1, sign=True)} pp (paired, 95% CI)"
                     + (f", McNemar p = {p_value:.2g}" if is_number(p_value) else ""))
    for key, finding in (view.get("findings") or {}).items():
        if isinstance(finding, Mapping) and "status" in finding:
            lines.append(f"{prefix}finding '{finding.get('claim', key)}': {finding['status']}")
    return lines


def run_summary(command: str | None, results: Mapping[str, Any]) -> list[str]:
    """The headline lines of one run (empty for commands without one)."""
    if command == "agreement":
        return agreement_summary(results)
    if command == "train-and-eval":
        return train_and_eval_summary(results)
    return []
