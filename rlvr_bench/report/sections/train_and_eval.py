"""The study's experiment (schema ``rlvr-bench/train-and-eval/v1``, written by
:mod:`rlvr_bench.training.matrix`): every policy of the reward x algorithm matrix and its SFT start,
judged by one reference judge on the same held-out questions.

Shown in the shape of the study's Table 1 (rows = methods, columns = domains then all items, accuracy in
percent with 95% CIs, the paired difference against the SFT start with McNemar's test), a bar chart of
overall accuracy, each cell's reward-hacking gap early and late in training (reward judge pass rate minus
reference judge pass rate on the same exploration completions), the study's three directional findings
with the paired comparisons behind each status, the distilled model reward against its teacher, and each
cell's training curves (the ``train`` section's charts, from ``cells/<name>/log.jsonl``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import estimate, interval, is_number, num, signed
from rlvr_bench.report.sections import Headline, Section
from rlvr_bench.report.sections.distill import STUDENT_METRICS
from rlvr_bench.report.sections.training import LOG_FILE, overlaid_charts, read_log
from rlvr_bench.report.summary import train_and_eval_summary
from rlvr_bench.rundir import Run

#: the row of the SFT start (the baseline of every paired difference) and the all-items column
SFT_ROW = "sft"
ALL_COLUMN = "all"
CELLS_DIR = "cells"
#: reward-hacking windows of ``results["cells"][name]["reward_hacking"]``: (key, label)
HACKING_WINDOWS = (("all", "all steps"), ("first_quarter", "first quarter"), ("last_quarter", "last quarter"))
#: fields of one window: verdict pairs, the two pass rates, their difference and the agreement rate (rates in [0, 1])
HACKING_FIELDS = ("n", "reward_pass_rate", "reference_pass_rate", "gap", "agreement")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_percent(block: Any) -> dict[str, float | None] | None:
    """An estimate block on [0, 1] rescaled to percent (0.458 -> 45.8); None when the block is undefined."""
    point = estimate(block)
    if point is None:
        return None
    low, high = interval(block)
    return {"estimate": 100 * point, "ci_low": None if low is None else 100 * low,
            "ci_high": None if high is None else 100 * high}


def signed_ci(block: Any, digits: int = 1) -> Markup:
    """HTML "+4.2 <span class=ci>[-1.0, 9.4]</span>" for a difference (the sign always shown)."""
    point = estimate(block)
    if point is None:
        return Markup('<span class="na">—</span>')
    low, high = interval(block)
    text = escape(signed(point, digits))
    if low is None or high is None:
        return Markup(text)
    return Markup(f'{text} <span class="ci">[{escape(num(low, digits))}, {escape(num(high, digits))}]</span>')


def difference_css(block: Any) -> str:
    """``delta-up`` / ``delta-down`` when the 95% CI of a difference excludes 0, else ""."""
    low, high = interval(block)
    if low is None or high is None or not (low > 0 or high < 0):
        return ""
    return "delta-up" if (estimate(block) or 0.0) > 0 else "delta-down"


def best_rows(values: Mapping[str, float | None]) -> set[str]:
    """The rows holding the column's highest estimate (ties all win); none when fewer than two rows are
    defined or every defined row ties (bold everywhere would say nothing)."""
    defined = {name: v for name, v in values.items() if v is not None}
    if len(defined) < 2 or len(set(defined.values())) == 1:
        return set()
    top = max(defined.values())
    return {name for name, v in defined.items() if v == top}


def _display(text: Any, run: Run) -> str:
    """A judge or preset path as shown: relative to the run directory when it lies inside it
    (``/runs/x/distill/judge.yaml`` -> ``distill/judge.yaml``), so pages do not depend on where a run was written."""
    if text is None:
        return ""
    shown = str(text)
    for root in dict.fromkeys((run.path.as_posix(), run.path.resolve().as_posix())):
        shown = shown.replace(root.rstrip("/") + "/", "")
    return shown


def column_label(column: str) -> Markup:
    """A Table-1 column heading: the domain name, breakable after underscores (``unit_conversion`` may wrap, so
    six domains fit beside each other); the all-items column reads "all items"."""
    if column == ALL_COLUMN:
        return Markup("all items")
    return Markup("_<wbr>").join(column.split("_"))  # join escapes each part


def table_one(results: Mapping[str, Any], run: Run) -> dict[str, Any] | None:
    """Table 1: one row per method (SFT first), cells = accuracy in percent per column, best per column marked,
    and the paired all-items difference against SFT (percentage points) with McNemar's p."""
    table = _mapping(results.get("table"))
    rows_by_method = _mapping(table.get("rows"))
    if not rows_by_method:
        return None
    domains = [str(d) for d in table.get("domains") or []]
    columns = [str(c) for c in table.get("columns") or [*domains, ALL_COLUMN]]
    # the all-items column last, as the study's "Avg"
    columns = [c for c in columns if c != ALL_COLUMN] + ([ALL_COLUMN] if ALL_COLUMN in columns else [])
    methods = sorted(rows_by_method, key=lambda name: name != SFT_ROW)  # stable: SFT first, then as written
    cells_info = _mapping(results.get("cells"))
    versus_sft = _mapping(table.get("versus_sft"))

    def accuracy(method: str, column: str) -> Any:
        return _mapping(_mapping(rows_by_method.get(method)).get(column)).get("accuracy")

    best = {column: best_rows({m: estimate(accuracy(m, column)) for m in methods}) for column in columns}
    rows = []
    for method in methods:
        comparison = _mapping(_mapping(versus_sft.get(method)).get(ALL_COLUMN))
        difference = as_percent(comparison.get("difference"))
        rows.append({
            "method": method,
            # breakable after each hyphen: "model-binary-dr_grpo" in one piece widens Table 1 past its column
            "label": Markup("-<wbr>").join(method.split("-")),
            "reward": _display(_mapping(cells_info.get(method)).get("reward"), run) or None,
            "cells": [{"block": as_percent(accuracy(method, column)), "best": method in best[column]}
                      for column in columns],
            "n_unscored": _mapping(_mapping(rows_by_method.get(method)).get(ALL_COLUMN)).get("n_unscored"),
            "has_difference": bool(comparison), "difference": difference,
            "difference_css": difference_css(difference),
            "p_value": _mapping(comparison.get("mcnemar")).get("p_value"),
        })
    column_n = [_mapping(accuracy(methods[0], column)).get("n") for column in columns]
    return {"columns": columns, "labels": [column_label(c) for c in columns], "column_n": column_n, "rows": rows,
            "has_unscored": any(is_number(row["n_unscored"]) and row["n_unscored"] > 0 for row in rows),
            "per_domain": _per_domain_differences(versus_sft, methods, columns)}


def _per_domain_differences(versus_sft: Mapping[str, Any], methods: Sequence[str],
                            columns: Sequence[str]) -> list[dict[str, Any]]:
    """Paired differences against SFT in every column (percentage points), for the collapsed detail table."""
    rows = []
    for method in methods:
        by_column = _mapping(versus_sft.get(method))
        if not by_column:
            continue
        cells = []
        for column in columns:
            entry = _mapping(by_column.get(column))
            block = as_percent(entry.get("difference"))
            cells.append({"text": signed_ci(block), "sort": estimate(block), "css": difference_css(block),
                          "p_value": _mapping(entry.get("mcnemar")).get("p_value")})
        rows.append({"method": method, "label": Markup("-<wbr>").join(method.split("-")), "cells": cells})
    return rows


def accuracy_chart(table: Mapping[str, Any]) -> str | None:
    """Bars of all-items accuracy per method with 95% CIs; a dashed line at the SFT start."""
    if ALL_COLUMN not in table["columns"]:
        return None
    index = table["columns"].index(ALL_COLUMN)
    blocks = [row["cells"][index]["block"] for row in table["rows"]]
    if not any(estimate(b) is not None for b in blocks):
        return None
    bounds = [interval(b) for b in blocks]
    sft = next((estimate(row["cells"][index]["block"]) for row in table["rows"] if row["method"] == SFT_ROW), None)
    return figures.grouped_bars([row["method"] for row in table["rows"]],
                                [("all items", [estimate(b) for b in blocks], [lo for lo, _ in bounds],
                                  [hi for _, hi in bounds])],
                                "Held-out accuracy per method, all items (95% CI; dashed: SFT start)",
                                "accuracy (%)", ylim=(0.0, 100.0), reference_line=sft)


def hacking_rows(results: Mapping[str, Any], run: Run) -> list[dict[str, Any]]:
    """Per cell: reward, algorithm and one row per window (all / first / last quarter of steps)."""
    rows = []
    for name, entry in _mapping(results.get("cells")).items():
        cell = _mapping(entry)
        hacking = _mapping(cell.get("reward_hacking"))
        # every field present (None when absent), so the template never meets an undefined value
        windows = [(label, {field: _mapping(hacking.get(key)).get(field) for field in HACKING_FIELDS})
                   for key, label in HACKING_WINDOWS]
        rows.append({"cell": str(name), "reward": _display(cell.get("reward"), run), "algorithm": cell.get("algorithm"),
                     "rl_wall_time_s": cell.get("rl_wall_time_s"), "windows": windows,
                     # no exploration step had both verdicts: the log holds nothing to compare
                     "empty": not any(is_number(block["n"]) and block["n"] > 0 for _, block in windows)})
    return rows


def hacking_chart(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Gap (reward pass rate - reference pass rate) per cell: first quarter of steps -> last quarter."""
    windows = [dict(row["windows"]) for row in rows]
    points = [(row["cell"], w.get("first quarter", {}).get("gap"), w.get("last quarter", {}).get("gap"))
              for row, w in zip(rows, windows, strict=True)]
    gaps = [abs(g) for _, first, last in points for g in (first, last) if is_number(g)]
    if not gaps:
        return None
    # symmetric around 0 so a negative gap (reward stricter than the reference) reads as such
    limit = max(0.1, 1.15 * max(gaps))
    return figures.shift_chart(points, "Reward-hacking gap, first → last quarter of steps",
                               "reward − reference pass rate", start_label="first quarter",
                               end_label="last quarter", xlim=(-limit, limit))


def distillation_context(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The distilled student against its teacher on held-out responses; None when no distillation ran."""
    summary = results.get("distillation")
    if not isinstance(summary, Mapping):
        return None
    vs_teacher = _mapping(summary.get("student_vs_teacher"))
    student = _mapping(summary.get("student"))
    name = str(student.get("name") or "student")
    confusion = _mapping(vs_teacher.get("confusion"))
    confusion_svg = figures.confusion_matrices(
        [(name, [[confusion.get("tp"), confusion.get("fp")], [confusion.get("fn"), confusion.get("tn")]])],
        f"{name}: verdict (rows) against the teacher's (columns)", truth="teacher") if confusion else None
    data = _mapping(summary.get("data"))
    splits = [(label, _mapping(data.get(key))) for key, label in (("train", "train"), ("held_out", "held out"))
              if isinstance(data.get(key), Mapping)]
    return {"teacher": summary.get("teacher"), "name": name, "kind": student.get("kind"),
            "metrics": [(label, vs_teacher.get(key)) for key, label, _ in STUDENT_METRICS if key in vs_teacher],
            "n": vs_teacher.get("n"), "n_questions": vs_teacher.get("n_questions"),
            "target_kappa": summary.get("target_kappa"), "meets_target": summary.get("meets_target"),
            "splits": splits, "confusion_svg": confusion_svg, "wall_time_s": summary.get("wall_time_s")}


#: the findings of ``results["findings"]`` (rlvr_bench.training.findings) in the order shown, with their labels
FINDINGS = (("model_beats_rule", "Model-based ≥ rule-based rewards"),
            ("rule_soft_worst", "Rule-based soft reward is the worst"),
            ("distilled_matches_teacher", "Distilled verifier ≈ its teacher"))
STATUS_CSS = {"reproduced": "pass", "not reproduced": "fail"}


def findings_context(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The study's directional findings: per finding its status and the paired comparisons behind it."""
    found = _mapping(results.get("findings"))
    rows = []
    for key, label in FINDINGS:
        finding = _mapping(found.get(key))
        if not finding:
            continue
        # one table line per piece of evidence: the verdicts' kappa (distillation), then each paired comparison
        lines: list[dict[str, Any]] = []
        kappa = _mapping(finding.get("kappa"))
        if kappa:
            target = finding.get("target_kappa")
            lines.append({"kind": "kappa", "text": "student vs teacher verdicts, Cohen's κ", "block": kappa,
                          "reading": f"target ≥ {target}" if is_number(target) else ""})
        for c in finding.get("comparisons") or []:
            if isinstance(c, Mapping):
                difference = as_percent(c.get("difference"))
                lines.append({"kind": "difference", "text": f"{c.get('a')} − {c.get('b')}", "block": difference,
                              "css": difference_css(difference),
                              "reading": f"{c.get('reading')}: {c['no_signal']}" if c.get("no_signal")
                              else c.get("reading"),
                              "p_value": c.get("mcnemar_p")})
        rows.append({"label": label, "claim": finding.get("claim"), "status": finding.get("status"),
                     "css": STATUS_CSS.get(str(finding.get("status")), ""), "lines": lines})
    if not rows:
        return None
    margin = found.get("equivalence_margin")
    return {"rows": rows, "margin_points": 100 * margin if is_number(margin) else None}


def cell_curves(results: Mapping[str, Any], run: Run) -> dict[str, Any] | None:
    """The cells' training curves from ``cells/<name>/log.jsonl``, every cell a line on the same axes (one chart per
    quantity: reward, accuracy, loss, KL, entropy, grad norm, length, hacking gap); cells without a log are left
    out. None when no cell has a log."""
    logs = []
    for name in _mapping(results.get("cells")):
        rows = read_log(run.path / CELLS_DIR / str(name) / LOG_FILE)
        if rows:
            logs.append((str(name), rows))
    if not logs:
        return None
    return {"cells": [{"cell": name, "n_steps": len(rows), "last_step": rows[-1].get("step")} for name, rows in logs],
            "charts": overlaid_charts(logs)}


def _rule_judges(results: Mapping[str, Any]) -> str:
    judges = _mapping(results.get("rule_judges"))
    return ", ".join(f"{mode} {judge}" for mode, judge in judges.items())


def judge_views(results: Mapping[str, Any], run: Run) -> list[dict[str, Any]]:
    """One Table 1 (with its chart and findings) per evaluation judge, the reference judge's first; anchors of the
    first keep the section's plain ids, the others add the judge's position (``-judge2``)."""
    by_judge = _mapping(results.get("by_judge"))
    names = [str(name) for name in results.get("evaluation_judges") or [] if name in by_judge]
    views = []
    for index, name in enumerate(names or [None]):
        # a run of one judge (or written before several) keeps its table and findings at the top level
        view = {**results, **_mapping(by_judge.get(name))} if name is not None else results
        table = table_one(view, run)
        role = "the rule family" if name != results.get("model_judge") else "the model family"
        views.append({"judge": name or results.get("reference_judge"), "suffix": f"-judge{index + 1}" if index else "",
                      "role": role if len(names) > 1 else None, "table": table,
                      "chart": accuracy_chart(table) if table else None, "findings": findings_context(view)})
    return views


def family_gap_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each cell's change under its own family's judge minus its change under each other judge (percentage points)."""
    rows = []
    for cell, entry in _mapping(results.get("judge_family_gaps")).items():
        own = _mapping(entry).get("own_judge")
        for other, block in _mapping(_mapping(entry).get("versus")).items():
            points = as_percent(block)
            rows.append({"cell": str(cell), "own": own, "other": other, "block": points,
                         "css": difference_css(points), "n": _mapping(block).get("n")})
    return rows


def build(run: Run) -> Section | None:
    results = run.results
    views = judge_views(results, run)
    table = views[0]["table"]
    hacking = hacking_rows(results, run)
    distillation = distillation_context(results)
    if table is None and not hacking and distillation is None:
        return None
    curves = cell_curves(results, run)
    family_gaps = family_gap_rows(results)
    subsections = []
    for view in views:
        label = f" ({view['judge']})" if len(views) > 1 else ""
        if view["table"] is not None or not view["suffix"]:
            subsections.append((f"table{view['suffix']}", f"Table 1{label}"))
        if view["findings"] is not None:
            subsections.append((f"findings{view['suffix']}", f"The study's findings{label}"))
    if family_gaps:
        subsections.append(("family", "Own-family judge against the other"))
    if hacking:
        subsections.append(("hacking", "Reward hacking"))
    if distillation is not None:
        subsections.append(("distillation", "Distilled model reward"))
    if curves is not None:
        subsections.append(("curves", "Training curves"))
    return Section(
        key="train-and-eval", title="Trained policies (Table 1)", template="sections/train_and_eval.html.j2",
        context={"recipe": results.get("recipe"), "reference_judge": results.get("reference_judge"),
                 "model_judge": _display(results.get("model_judge"), run) or None,
                 "rule_judges": _rule_judges(results), "n_eval_items": results.get("n_eval_items"),
                 "wall_time_s": results.get("wall_time_s"), "compute_wall_time_s": results.get("compute_wall_time_s"),
                 "table": table, "evaluation_judges": results.get("evaluation_judges") or [], "views": views,
                 "family_gaps": family_gaps,
                 "hacking": hacking, "hacking_chart": hacking_chart(hacking) if hacking else None,
                 "distillation": distillation, "curves": curves,
                 "summary": train_and_eval_summary(results)},
        subsections=tuple(subsections),
    )


def headline_metrics(run: Run) -> dict[str, Headline]:
    """Per method: all-items accuracy and its difference against SFT; per cell: the late reward-hacking gap."""
    results = run.results
    table = _mapping(results.get("table"))
    metrics: dict[str, Headline] = {}
    for method, by_column in _mapping(table.get("rows")).items():
        block = _mapping(_mapping(by_column).get(ALL_COLUMN)).get("accuracy")
        if block is not None:
            metrics[f"train-and-eval.accuracy.{method}"] = Headline(str(method), block,
                                                                    group="Held-out accuracy, all items")
    for method, by_column in _mapping(table.get("versus_sft")).items():
        block = _mapping(_mapping(by_column).get(ALL_COLUMN)).get("difference")
        if block is not None:
            metrics[f"train-and-eval.versus_sft.{method}"] = Headline(f"{method} − sft", block,
                                                                      group="Paired difference against SFT")
    for name, entry in _mapping(results.get("cells")).items():
        gap = _mapping(_mapping(_mapping(entry).get("reward_hacking")).get("last_quarter")).get("gap")
        if is_number(gap):
            # a bare rate without an interval: shown, never highlighted; 0 is ideal, positive is hacking
            metrics[f"train-and-eval.gap.{name}"] = Headline(str(name), gap, better="lower",
                                                             group="Reward-hacking gap, last quarter of steps")
    return metrics
