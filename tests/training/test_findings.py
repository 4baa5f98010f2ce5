"""The study's directional findings: each status follows from the paired differences by the fixed rules."""

from __future__ import annotations

from typing import Any

import pytest

from rlvr_bench.training.findings import EQUIVALENCE_MARGIN, reading, study_findings

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
    accuracy = {name: 0.0 for name in ROWS}
    found = study_findings(ROWS, ["grpo"], _comparer(accuracy, 0.0), accuracy, None)
    assert found["rule_soft_worst"]["lowest_estimate"] is False
    assert found["rule_soft_worst"]["status"] == "inconclusive"
