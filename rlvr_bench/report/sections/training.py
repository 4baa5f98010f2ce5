"""Training curves of an RL run (``train`` / ``train-and-eval``): reward, KL, completion length and the
reward-hacking gap, from the run's ``log.jsonl`` (one JSON object per logged optimizer step).

The *reward-hacking gap* at a step is the reward judge's mean reward minus the
held-out reference judge's accuracy on the same completions: when it grows,
the policy is learning what the reward judge accepts rather than what is
correct. It is only computed when both are logged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlvr_bench.report import figures
from rlvr_bench.report.formatting import flatten_scalars, is_number
from rlvr_bench.report.sections import Section
from rlvr_bench.rundir import Run

LOG_FILE = "log.jsonl"
#: (chart title, y label, [(series label, log key)])
CURVES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("Reward", "mean reward", (("reward judge (mean)", "reward_mean"),
                               ("reference judge accuracy", "reward_hacking/reference_accuracy"))),
    ("KL to the reference policy", "KL", (("KL", "kl"),)),
    ("Completion length", "tokens", (("mean length", "completion_length"),)),
    ("Loss", "loss", (("policy loss", "loss"),)),
    ("Entropy", "nats per token", (("entropy", "entropy"),)),
    ("Gradient norm", "gradient norm", (("grad norm", "grad_norm"),)),
    ("Reward-hacking indicators", "fraction", (("reward − reference accuracy (gap)", "reward_hacking/gap"),
                                               ("reward FPR vs reference", "reward_hacking/false_positive_rate"),
                                               ("agreement with reference", "reward_hacking/agreement"))),
)


#: one chart per quantity with every cell of a train-and-eval matrix as a line on shared axes:
#: (chart title, y label, log key)
OVERLAID_CURVES: tuple[tuple[str, str, str], ...] = (
    ("Reward", "mean reward", "reward_mean"),
    ("Accuracy (reference judge)", "fraction correct", "reward_hacking/reference_accuracy"),
    ("Loss", "policy loss", "loss"),
    ("KL to the reference policy", "KL", "kl"),
    ("Entropy", "nats per token", "entropy"),
    ("Gradient norm", "gradient norm", "grad_norm"),
    ("Completion length", "tokens", "completion_length"),
    ("Reward-hacking gap", "reward − reference accuracy", "reward_hacking/gap"),
)


def read_log(path: Path) -> list[dict[str, Any]]:
    """Per-step rows of a training log; malformed lines and summary rows without a reward are skipped.

    A report never fails on a half-written log (a run that was interrupted still has curves worth seeing).
    """
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and is_number(row.get("step")) and any(
                is_number(row.get(key)) for _, _, series in CURVES for _, key in series):
            rows.append(row)
    for row in rows:
        reward, reference = row.get("reward_mean"), row.get("reward_hacking/reference_accuracy")
        if is_number(reward) and is_number(reference) and "reward_hacking/gap" not in row:
            row["reward_hacking/gap"] = reward - reference
    return rows


def curve_charts(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    charts = []
    for title, ylabel, series_keys in CURVES:
        series = []
        for label, key in series_keys:
            points = [(row["step"], row[key]) for row in rows if is_number(row.get(key))]
            if points:
                series.append((label, [p[0] for p in points], [p[1] for p in points]))
        if series:
            charts.append(figures.line_chart(series, title, "optimizer step", ylabel))
    return charts


def overlaid_charts(logs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> list[str]:
    """One line chart per quantity of :data:`OVERLAID_CURVES`, each ``(name, log rows)`` a line in the same colour
    in every chart; quantities no log recorded are left out."""
    charts = []
    for title, ylabel, key in OVERLAID_CURVES:
        series = []
        for name, rows in logs:
            points = [(row["step"], row[key]) for row in rows if is_number(row.get(key))]
            series.append((name, [p[0] for p in points], [p[1] for p in points]))
        if any(xs for _, xs, _ in series):
            charts.append(figures.line_chart(series, title, "optimizer step", ylabel, compact=True))
    return charts


def build(run: Run) -> Section | None:
    rows = read_log(run.path / LOG_FILE)
    summary = flatten_scalars(run.results, skip=("before", "after", "difference", "schema"))
    if not rows and not summary:
        return None
    last = rows[-1] if rows else {}
    return Section(key="training", title="Training", template="sections/training.html.j2",
                   context={"charts": curve_charts(rows), "n_steps": len(rows), "last_step": last.get("step"),
                            "summary": summary})
