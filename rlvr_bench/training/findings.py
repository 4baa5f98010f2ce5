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
reference judge) with a paired-bootstrap 95% CI, read as:

- ``better`` / ``worse``: the CI excludes 0;
- ``equivalent``: the CI lies inside ±``EQUIVALENCE_MARGIN`` (3 accuracy points);
- ``inconclusive``: neither (the CI straddles 0 and reaches past the margin).

A finding is ``reproduced`` when every comparison agrees with it, ``not reproduced``
when any comparison contradicts it, and ``inconclusive`` otherwise (``partly`` for
rule-soft-worst when its row is the lowest but not significantly below every other).
The rules are fixed here, before any run, so a reader can check each status from
the numbers beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: a paired difference whose 95% CI lies inside ±this (accuracy in [0, 1]) counts as no difference
EQUIVALENCE_MARGIN = 0.03
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, PARTLY = "reproduced", "not reproduced", "inconclusive", "partly"

#: (a_rows, b_rows) -> {"difference": {...}, "mcnemar": {...}}: the all-items paired comparison a - b
Compare = Callable[[str, str], Mapping[str, Any]]


def reading(difference: Mapping[str, Any], margin: float = EQUIVALENCE_MARGIN) -> str:
    """How a paired difference a - b reads: better, worse, equivalent or inconclusive (see the module doc)."""
    low, high = difference.get("ci_low"), difference.get("ci_high")
    if low is None or high is None:
        return INCONCLUSIVE
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    if -margin < low and high < margin:
        return "equivalent"
    return INCONCLUSIVE


def _comparison(compare: Compare, a: str, b: str) -> dict[str, Any]:
    result = compare(a, b)
    difference = dict(result.get("difference") or {})
    return {"a": a, "b": b, "difference": difference, "mcnemar_p": (result.get("mcnemar") or {}).get("p_value"),
            "reading": reading(difference)}


def _status(readings: Sequence[str], supports: set[str], contradicts: set[str]) -> str:
    if not readings:
        return INCONCLUSIVE
    if any(r in contradicts for r in readings):
        return NOT_REPRODUCED
    return REPRODUCED if all(r in supports for r in readings) else INCONCLUSIVE


def study_findings(rows: Sequence[str], algorithms: Sequence[str], compare: Compare,
                   estimates: Mapping[str, float | None], distillation: Mapping[str, Any] | None) -> dict[str, Any]:
    """The three findings for the policy ``rows`` (named ``<kind>-<mode>-<algo>``) of a matrix.

    ``estimates`` holds each row's all-items accuracy; ``distillation`` the student-vs-teacher
    summary (None when the model reward was given, not distilled). A finding without the rows
    it needs is left out.
    """
    present = set(rows)
    findings: dict[str, Any] = {}

    model_vs_rule = [_comparison(compare, f"model-{mode}-{algo}", f"rule-{mode}-{algo}")
                     for algo in algorithms for mode in ("binary", "soft")
                     if {f"model-{mode}-{algo}", f"rule-{mode}-{algo}"} <= present]
    if model_vs_rule:
        findings["model_beats_rule"] = {
            "claim": "model-based rewards >= rule-based rewards of the same kind",
            "comparisons": model_vs_rule,
            "status": _status([c["reading"] for c in model_vs_rule], {"better", "equivalent"}, {"worse"})}

    worst: list[dict[str, Any]] = []
    lowest = []
    for algo in algorithms:
        soft = f"rule-soft-{algo}"
        others = [r for r in rows if r.endswith(f"-{algo}") and r != soft]
        if soft not in present or not others:
            continue
        worst += [_comparison(compare, soft, other) for other in others]
        mine = estimates.get(soft)
        theirs = [v for v in (estimates.get(r) for r in others) if v is not None]
        # strictly below every other row: a tie (e.g. every policy at 0) says nothing about "worst"
        lowest.append(mine is not None and bool(theirs) and mine < min(theirs))
    if worst:
        status = _status([c["reading"] for c in worst], {"worse"}, {"better"})
        if status == INCONCLUSIVE and all(lowest):
            status = PARTLY
        elif status == REPRODUCED and not all(lowest):
            status = INCONCLUSIVE
        findings["rule_soft_worst"] = {"claim": "the rule-based soft reward (Jaccard) gives the worst policy",
                                       "comparisons": worst, "lowest_estimate": all(lowest), "status": status}

    teacher = [_comparison(compare, f"model-{mode}-{algo}", f"teacher-{mode}-{algo}")
               for algo in algorithms for mode in ("binary", "soft")
               if {f"model-{mode}-{algo}", f"teacher-{mode}-{algo}"} <= present]
    agreement = dict((distillation or {}).get("student_vs_teacher") or {})
    kappa = dict(agreement.get("cohen_kappa") or {})
    target = (distillation or {}).get("target_kappa")
    if teacher or kappa:
        readings = [c["reading"] for c in teacher]
        meets = None if kappa.get("estimate") is None or target is None else bool(kappa["estimate"] >= target)
        status = _status(readings, {"equivalent", "better"}, {"worse"}) if readings else INCONCLUSIVE
        if meets is False:
            status = NOT_REPRODUCED
        elif meets is None and status == REPRODUCED:
            status = INCONCLUSIVE  # no distillation: the policies match, but nothing says the verdicts do
        elif not readings and meets:
            status = PARTLY  # the verdicts match; no teacher-reward row to compare the policies with
        findings["distilled_matches_teacher"] = {
            "claim": "the distilled verifier rewards as well as its teacher",
            "comparisons": teacher, "kappa": kappa or None, "target_kappa": target, "kappa_meets_target": meets,
            "status": status}
    return {"equivalence_margin": EQUIVALENCE_MARGIN, **findings}
