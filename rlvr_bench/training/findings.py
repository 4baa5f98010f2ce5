"""The study's three directional findings, tested on one train-and-eval matrix.

Su et al. (2025), Table 1, show three patterns on free-form answers:

1. ``model_beats_rule``: policies trained with a model-based reward score at least as
   high as those trained with the rule-based reward of the same kind (binary vs binary,
   soft vs soft);
2. ``rule_soft_worst``: the rule-based soft reward (Jaccard similarity) gives the worst
   policy;
3. ``distilled_matches_teacher``: the distilled verifier rewards as well as its teacher
   (its verdicts agree with the teacher's, kappa >= the target, and, when the matrix has
   teacher-reward rows, its policies score within a margin of the teacher's).

Every comparison is a paired difference of held-out accuracy (same questions, same
reference judge) with a paired-bootstrap 95% CI, read by these rules, in order:

1. ``no signal`` when the data cannot speak to the comparison at all:
   - both rows sit at the floor (accuracy <= ``FLOOR_CEILING``) or both at the ceiling
     (>= 1 - ``FLOOR_CEILING``): two policies that both score 0 differ by 0, which is
     no evidence that they are alike;
   - neither policy moved from the experiment's start (its own paired difference
     against the SFT row is neither ``better`` nor ``worse``): the rewards being compared
     did not change the policy, so their comparison says nothing about the rewards;
   - the CI has zero width (every resample gives the same difference: no variation to
     measure);
   - the CI would read ``equivalent`` but the questions are too few for the margin to
     be resolved (one question moves the difference by 1/n >= ``EQUIVALENCE_MARGIN``);
2. ``better`` / ``worse``: the CI excludes 0;
3. ``equivalent``: the CI lies inside ±``EQUIVALENCE_MARGIN`` (3 accuracy points);
4. ``inconclusive``: neither (the CI straddles 0 and reaches past the margin).

A finding is ``reproduced`` when every comparison agrees with it, ``not reproduced``
when any comparison contradicts it, ``no signal`` when every comparison reads ``no
signal``, and ``inconclusive`` otherwise (``partly`` for rule-soft-worst when its row
is the lowest but not significantly below every other, and for distilled-matches-teacher
when the verdicts agree but the policy comparison has no signal or no teacher row).
The rules are fixed here, before any run, so a reader can check each status from
the numbers beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: a paired difference whose 95% CI lies inside ±this (accuracy in [0, 1]) counts as no difference
EQUIVALENCE_MARGIN = 0.03
#: a row whose accuracy is within this of 0 (or of 1) sits at the floor (or the ceiling)
FLOOR_CEILING = 0.02
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY = "reproduced", "not reproduced", "inconclusive", "partly"
NO_SIGNAL = "no signal"
BETTER, WORSE, EQUIVALENT = "better", "worse", "equivalent"

#: (a_rows, b_rows) -> {"difference": {...}, "mcnemar": {...}}: the all-items paired comparison a - b
Compare = Callable[[str, str], Mapping[str, Any]]


def no_signal_reason(difference: Mapping[str, Any], accuracies: tuple[float | None, float | None] | None = None,
                     moved: tuple[bool, bool] | None = None, margin: float = EQUIVALENCE_MARGIN) -> str | None:
    """Why a paired difference a - b holds no signal (rule 1 of the module doc), or None when it may."""
    low, high, n = difference.get("ci_low"), difference.get("ci_high"), difference.get("n")
    if accuracies is not None and None not in accuracies:
        if all(a is not None and a <= FLOOR_CEILING for a in accuracies):
            return f"both rows at the floor (accuracy <= {FLOOR_CEILING:g})"
        if all(a is not None and a >= 1 - FLOOR_CEILING for a in accuracies):
            return f"both rows at the ceiling (accuracy >= {1 - FLOOR_CEILING:g})"
    if moved is not None and not any(moved):
        return "neither policy moved from its start"
    if low is None or high is None:
        return None
    if low == high:
        return "the CI has zero width"
    if -margin < low and high < margin and isinstance(n, int) and n > 0 and 1 / n >= margin:
        return f"{n} questions cannot resolve a ±{margin:g} margin"
    return None


def reading(difference: Mapping[str, Any], margin: float = EQUIVALENCE_MARGIN,
            accuracies: tuple[float | None, float | None] | None = None,
            moved: tuple[bool, bool] | None = None) -> str:
    """How a paired difference a - b reads: no signal, better, worse, equivalent or inconclusive (module doc).

    ``accuracies`` are the two rows' accuracies and ``moved`` whether each moved from the start
    (both optional: without them only the CI's own rules apply).
    """
    low, high = difference.get("ci_low"), difference.get("ci_high")
    if no_signal_reason(difference, accuracies, moved, margin) is not None:
        return NO_SIGNAL
    if low is None or high is None:
        return INCONCLUSIVE
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    if -margin < low and high < margin:
        return EQUIVALENT
    return INCONCLUSIVE


class _Context:
    """What a comparison's reading needs beyond its CI: each row's accuracy and whether it moved."""

    def __init__(self, compare: Compare, estimates: Mapping[str, float | None], start: str | None) -> None:
        self.compare, self.estimates, self.start = compare, estimates, start
        self._moved: dict[str, bool] = {}

    def moved(self, row: str) -> bool:
        if row not in self._moved:
            versus = dict(self.compare(row, self.start).get("difference") or {}) if self.start else {}
            accuracies = (self.estimates.get(row), self.estimates.get(self.start or ""))
            self._moved[row] = reading(versus, accuracies=accuracies) in (BETTER, WORSE)
        return self._moved[row]

    def comparison(self, a: str, b: str) -> dict[str, Any]:
        result = self.compare(a, b)
        difference = dict(result.get("difference") or {})
        accuracies = (self.estimates.get(a), self.estimates.get(b))
        moved = (self.moved(a), self.moved(b)) if self.start else None
        out = {"a": a, "b": b, "difference": difference, "mcnemar_p": (result.get("mcnemar") or {}).get("p_value"),
               "reading": reading(difference, accuracies=accuracies, moved=moved)}
        reason = no_signal_reason(difference, accuracies, moved)
        if reason is not None:
            out["no_signal"] = reason
        return out


def _status(readings: Sequence[str], supports: set[str], contradicts: set[str]) -> str:
    if not readings:
        return INCONCLUSIVE
    if any(r in contradicts for r in readings):
        return NOT_REPRODUCED
    if all(r == NO_SIGNAL for r in readings):
        return NO_SIGNAL
    return REPRODUCED if all(r in supports for r in readings) else INCONCLUSIVE


def study_findings(rows: Sequence[str], algorithms: Sequence[str], compare: Compare,
                   estimates: Mapping[str, float | None], distillation: Mapping[str, Any] | None,
                   start: str | None = None) -> dict[str, Any]:
    """The three findings for the policy ``rows`` (named ``<kind>-<mode>-<algo>``) of a matrix.

    ``estimates`` holds each row's all-items accuracy (and the ``start`` row's: the SFT policy
    every RL row began from, None when there is none); ``distillation`` the student-vs-teacher
    summary (None when the model reward was given, not distilled). A finding without the rows
    it needs is left out.
    """
    present = set(rows)
    findings: dict[str, Any] = {}
    context = _Context(compare, estimates, start)
    _comparison = context.comparison

    model_vs_rule = [_comparison(f"model-{mode}-{algo}", f"rule-{mode}-{algo}")
                     for algo in algorithms for mode in ("binary", "soft")
                     if {f"model-{mode}-{algo}", f"rule-{mode}-{algo}"} <= present]
    if model_vs_rule:
        findings["model_beats_rule"] = {
            "claim": "model-based rewards >= rule-based rewards of the same kind",
            "comparisons": model_vs_rule,
            "status": _status([c["reading"] for c in model_vs_rule], {BETTER, EQUIVALENT}, {WORSE})}

    worst: list[dict[str, Any]] = []
    lowest = []
    for algo in algorithms:
        soft = f"rule-soft-{algo}"
        others = [r for r in rows if r.endswith(f"-{algo}") and r != soft]
        if soft not in present or not others:
            continue
        worst += [_comparison(soft, other) for other in others]
        mine = estimates.get(soft)
        theirs = [v for v in (estimates.get(r) for r in others) if v is not None]
        # strictly below every other row: a tie (e.g. every policy at 0) says nothing about "worst"
        lowest.append(mine is not None and bool(theirs) and mine < min(theirs))
    if worst:
        status = _status([c["reading"] for c in worst], {WORSE}, {BETTER})
        if status == INCONCLUSIVE and all(lowest):
            status = PARTLY
        elif status == REPRODUCED and not all(lowest):
            status = INCONCLUSIVE
        findings["rule_soft_worst"] = {"claim": "the rule-based soft reward (Jaccard) gives the worst policy",
                                       "comparisons": worst, "lowest_estimate": all(lowest), "status": status}

    teacher = [_comparison(f"model-{mode}-{algo}", f"teacher-{mode}-{algo}")
               for algo in algorithms for mode in ("binary", "soft")
               if {f"model-{mode}-{algo}", f"teacher-{mode}-{algo}"} <= present]
    agreement = dict((distillation or {}).get("student_vs_teacher") or {})
    kappa = dict(agreement.get("cohen_kappa") or {})
    target = (distillation or {}).get("target_kappa")
    if teacher or kappa:
        readings = [c["reading"] for c in teacher]
        meets = None if kappa.get("estimate") is None or target is None else bool(kappa["estimate"] >= target)
        status = _status(readings, {EQUIVALENT, BETTER}, {WORSE}) if readings else INCONCLUSIVE
        if meets is False:
            status = NOT_REPRODUCED
        elif meets is None and status == REPRODUCED:
            status = INCONCLUSIVE  # no distillation: the policies match, but nothing says the verdicts do
        elif meets and (not readings or status == NO_SIGNAL):
            status = PARTLY  # the verdicts match; no teacher-reward row, or no signal, to compare the policies
        findings["distilled_matches_teacher"] = {
            "claim": "the distilled verifier rewards as well as its teacher",
            "comparisons": teacher, "kappa": kappa or None, "target_kappa": target, "kappa_meets_target": meets,
            "status": status}
    return {"equivalence_margin": EQUIVALENCE_MARGIN, "floor_ceiling": FLOOR_CEILING, "start": start, **findings}
