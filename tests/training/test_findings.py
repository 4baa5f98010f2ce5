"""The study's directional findings: each status follows from the paired differences by the fixed rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlvr_bench.stats.policy_metrics import paired_comparison
from rlvr_bench.training.findings import EQUIVALENCE_MARGIN, NO_SIGNAL, no_signal_reason, reading, study_findings

ROWS = ["rule-binary-grpo", "rule-soft-grpo", "model-binary-grpo", "model-soft-grpo", "teacher-binary-grpo"]
KAPPA_OK = {"student_vs_teacher": {"cohen_kappa": {"estimate": 0.9, "ci_low": 0.88, "ci_high": 0.92}},
            "target_kappa": 0.8}


def _comparer(accuracy: dict[str, float], half_width: float) -> Any:
    """Paired differences a - b with a symmetric CI of the given half width."""
    def compare(a: str, b: str) -> dict[str, Any]:
        d = accuracy[a] - accuracy[b]
        return {"difference": {"estimate": d, "ci_low": d - half_width, "ci_high": d + half_width},
                "mcnemar": {"p_value": 0.5}}
    return compare


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(0.01, 0.05, "better"), (-0.05, -0.01, "worse"), (-0.02, 0.02, "equivalent"), (-0.05, 0.02, "inconclusive"),
     (None, 0.1, "inconclusive")],
)
def test_reading_of_a_paired_difference(low: float | None, high: float, expected: str) -> None:
    assert reading({"estimate": 0.0, "ci_low": low, "ci_high": high}) == expected


def test_the_study_pattern_is_reproduced() -> None:
    accuracy = {"rule-binary-grpo": 0.40, "rule-soft-grpo": 0.30, "model-binary-grpo": 0.46,
                "model-soft-grpo": 0.47, "teacher-binary-grpo": 0.465}
    found = study_findings(ROWS, ["grpo"], _comparer(accuracy, 0.02), accuracy, KAPPA_OK)
    assert found["equivalence_margin"] == EQUIVALENCE_MARGIN
    assert found["model_beats_rule"]["status"] == "reproduced"
    assert [c["reading"] for c in found["model_beats_rule"]["comparisons"]] == ["better", "better"]
    assert found["rule_soft_worst"]["status"] == "reproduced"
    assert found["distilled_matches_teacher"]["status"] == "reproduced"
    assert found["distilled_matches_teacher"]["comparisons"][0]["reading"] == "equivalent"


def test_contradictions_and_weak_evidence_are_named() -> None:
    # model-soft below rule-soft: contradicted; rule-soft lowest but within noise of rule-binary: partly;
    # the distilled student's policy far below the teacher's: not reproduced
    accuracy = {"rule-binary-grpo": 0.31, "rule-soft-grpo": 0.30, "model-binary-grpo": 0.45,
                "model-soft-grpo": 0.20, "teacher-binary-grpo": 0.55}
    found = study_findings(ROWS, ["grpo"], _comparer(accuracy, 0.02), accuracy, KAPPA_OK)
    assert found["model_beats_rule"]["status"] == "not reproduced"
    assert found["rule_soft_worst"]["status"] == "not reproduced"  # model-soft is significantly lower
    accuracy["model-soft-grpo"] = 0.45
    found = study_findings(ROWS, ["grpo"], _comparer(accuracy, 0.02), accuracy, KAPPA_OK)
    assert found["rule_soft_worst"]["status"] == "partly"
    assert found["distilled_matches_teacher"]["status"] == "not reproduced"


def test_distillation_without_teacher_rows_and_low_kappa() -> None:
    rows = ROWS[:4]
    accuracy = {name: 0.4 for name in rows}
    low_kappa = {"student_vs_teacher": {"cohen_kappa": {"estimate": 0.6}}, "target_kappa": 0.8}
    assert study_findings(rows, ["grpo"], _comparer(accuracy, 0.01), accuracy,
                          KAPPA_OK)["distilled_matches_teacher"]["status"] == "partly"
    assert study_findings(rows, ["grpo"], _comparer(accuracy, 0.01), accuracy,
                          low_kappa)["distilled_matches_teacher"]["status"] == "not reproduced"
    # a given model judge (no distillation, no teacher rows): nothing to say about distillation
    assert "distilled_matches_teacher" not in study_findings(rows, ["grpo"], _comparer(accuracy, 0.01), accuracy, None)


def test_wide_intervals_are_inconclusive() -> None:
    accuracy = {"rule-binary-grpo": 0.40, "model-binary-grpo": 0.41}
    found = study_findings(list(accuracy), ["grpo"], _comparer(accuracy, 0.08), accuracy, None)
    assert found["model_beats_rule"]["status"] == "inconclusive"
    assert "rule_soft_worst" not in found


def test_a_tie_is_not_the_worst() -> None:
    accuracy = {name: 0.4 for name in ROWS}
    found = study_findings(ROWS, ["grpo"], _comparer(accuracy, 0.01), accuracy, None)
    assert found["rule_soft_worst"]["lowest_estimate"] is False
    assert found["rule_soft_worst"]["status"] == "inconclusive"


def _real_comparer(matrices: dict[str, np.ndarray]) -> Any:
    """Paired differences computed by the statistics code train-and-eval uses (paired bootstrap, McNemar)."""
    def compare(a: str, b: str) -> dict[str, Any]:
        return paired_comparison(matrices[a], matrices[b], 1000, 0).to_json()
    return compare


def test_the_all_zero_quick_matrix_reproduces_nothing() -> None:
    """Today's quick run: every row, SFT included, scores 0 on every held-out question."""
    matrices = {name: np.zeros((120, 1)) for name in ["sft", *ROWS]}
    estimates = {name: 0.0 for name in matrices}
    found = study_findings(ROWS, ["grpo"], _real_comparer(matrices), estimates, KAPPA_OK, start="sft")
    comparisons = [c for key in ("model_beats_rule", "rule_soft_worst", "distilled_matches_teacher")
                   for c in found[key]["comparisons"]]
    assert comparisons and all(c["reading"] == NO_SIGNAL for c in comparisons)
    assert not any(c["reading"] == "equivalent" for c in comparisons)
    assert all(f["status"] != "reproduced" for key, f in found.items() if isinstance(f, dict))
    assert found["model_beats_rule"]["status"] == NO_SIGNAL
    assert found["rule_soft_worst"]["status"] == NO_SIGNAL
    assert found["distilled_matches_teacher"]["status"] == "partly"  # the verdicts agree; the policies say nothing
    assert "floor" in found["model_beats_rule"]["comparisons"][0]["no_signal"]


def _column(correct: int, n: int) -> np.ndarray:
    return np.array([[1.0]] * correct + [[0.0]] * (n - correct))


def test_floor_and_ceiling_hold_no_signal() -> None:
    # 1 of 100 right against 0 of 100: a one-question difference between two policies at the floor
    floor = paired_comparison(_column(1, 100), _column(0, 100), 1000, 0).to_json()["difference"]
    assert no_signal_reason(floor, accuracies=(0.01, 0.0)) == "both rows at the floor (accuracy <= 0.02)"
    assert reading(floor, accuracies=(0.01, 0.0)) == NO_SIGNAL
    ceiling = paired_comparison(_column(100, 100), _column(99, 100), 1000, 0).to_json()["difference"]
    assert reading(ceiling, accuracies=(1.0, 0.99)) == NO_SIGNAL
    # one row off the floor: a real difference (30 of 100 against 0 of 100)
    lifted = paired_comparison(_column(30, 100), _column(0, 100), 1000, 0).to_json()["difference"]
    assert reading(lifted, accuracies=(0.3, 0.0)) == "better"


def test_policies_that_did_not_move_from_their_start_hold_no_signal() -> None:
    # sft 40/100; rule 41/100 and model 40/100: neither moved (their CIs against sft straddle 0)
    base = _column(40, 100)
    matrices = {"sft": base, "rule-binary-grpo": _column(41, 100), "model-binary-grpo": base.copy()}
    estimates = {"sft": 0.40, "rule-binary-grpo": 0.41, "model-binary-grpo": 0.40}
    found = study_findings(["rule-binary-grpo", "model-binary-grpo"], ["grpo"], _real_comparer(matrices), estimates,
                           None, start="sft")
    comparison = found["model_beats_rule"]["comparisons"][0]
    assert comparison["reading"] == NO_SIGNAL and comparison["no_signal"] == "neither policy moved from its start"
    assert found["model_beats_rule"]["status"] == NO_SIGNAL


def test_tiny_n_cannot_resolve_the_margin() -> None:
    # 20 questions: one question moves the difference by 0.05 > the 0.03 margin
    tiny = {"estimate": 0.0, "ci_low": -0.01, "ci_high": 0.01, "n": 20}
    assert no_signal_reason(tiny) == "20 questions cannot resolve a ±0.03 margin"
    assert reading(tiny) == NO_SIGNAL
    assert reading({"estimate": 0.0, "ci_low": 0.0, "ci_high": 0.0, "n": 500}) == NO_SIGNAL  # zero width


def test_a_real_equivalence() -> None:
    # 1,200 questions, both policies about 20 points above the sft start; they disagree on 40 questions,
    # 20 each way: a paired difference of 0 whose CI (about ±0.01) lies well inside the ±0.03 margin
    n = 1200
    rng = np.random.default_rng(0)
    sft = (rng.random((n, 1)) < 0.2).astype(float)
    rule = (rng.random((n, 1)) < 0.4).astype(float)
    model = rule.copy()
    right, wrong = np.flatnonzero(rule[:, 0] == 1.0), np.flatnonzero(rule[:, 0] == 0.0)
    model[rng.choice(right, 20, replace=False)] = 0.0
    model[rng.choice(wrong, 20, replace=False)] = 1.0
    matrices = {"sft": sft, "rule-binary-grpo": rule, "model-binary-grpo": model}
    estimates = {name: float(m.mean()) for name, m in matrices.items()}
    found = study_findings(["rule-binary-grpo", "model-binary-grpo"], ["grpo"], _real_comparer(matrices), estimates,
                           None, start="sft")
    comparison = found["model_beats_rule"]["comparisons"][0]
    assert "no_signal" not in comparison
    assert comparison["reading"] == "equivalent", comparison["difference"]
    assert found["model_beats_rule"]["status"] == "reproduced"
