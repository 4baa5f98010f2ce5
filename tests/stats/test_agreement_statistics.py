"""agreement_statistics: pairwise exclusion of unscored verdicts, edge cases, JSON, the paradox warning."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rlvr_bench.stats import (
    agreement_statistics,
    cohen_kappa_matrix,
    fleiss_kappa,
    gold_agreement,
    krippendorff_alpha,
    multi_rater_agreement,
    pairwise_agreement,
)

nan = np.nan

# Three judges, five responses, one unscored verdict each.
#        A    B    C
# u0     1    1    -
# u1     1    0    1
# u2     0    0    0
# u3     -    1    1
# u4     0    -    0
SMALL = np.array([[1, 1, nan], [1, 0, 1], [0, 0, 0], [nan, 1, 1], [0, nan, 0]], dtype=float)


def test_unscored_verdicts_are_excluded_pairwise_and_counted() -> None:
    stats = agreement_statistics(SMALL, ["A", "B", "C"], n_bootstrap=0)
    np.testing.assert_array_equal(stats.per_rater.n_scored, [4, 4, 4])
    np.testing.assert_array_equal(stats.per_rater.n_unscored, [1, 1, 1])
    # A-B share u0 (1,1)=a, u1 (1,0)=b, u2 (0,0)=d; A-C share u1 a, u2 d, u4 d; B-C share u1 (0,1)=c, u2 d, u3 a
    np.testing.assert_array_equal(stats.pairwise.n_scored, [[4, 3, 3], [3, 4, 3], [3, 3, 4]])
    pw = stats.pairwise
    assert (pw.n_both_passed[0, 1], pw.n_row_passed_only[0, 1], pw.n_column_passed_only[0, 1],
            pw.n_both_failed[0, 1]) == (1, 1, 0, 1)
    # the transposed pair swaps the off-diagonal cells
    assert (pw.n_row_passed_only[1, 0], pw.n_column_passed_only[1, 0]) == (0, 1)
    # A-B kappa = 2(1*1 - 1*0) / ((1+1)(1+1) + (1+0)(0+1)) = 2/5; A-C agree on all three -> 1
    assert pw.cohen_kappa.estimate[0, 1] == pytest.approx(0.4)
    assert pw.cohen_kappa.estimate[0, 2] == pytest.approx(1.0)
    assert pw.observed_agreement.estimate[1, 2] == pytest.approx(2 / 3)
    # B-C: b = 0, c = 1 -> bias index (0 - 1)/3 with B as row, +1/3 with C as row
    assert pw.bias_index.estimate[1, 2] == pytest.approx(-1 / 3)
    assert pw.bias_index.estimate[2, 1] == pytest.approx(1 / 3)
    # Fleiss' p_a: u0 1, u1 (2*1 + 0)/(3*2) = 1/3, u2 1, u3 1, u4 1 -> (13/3)/5 = 13/15
    assert stats.multi_rater.observed_agreement.estimate == pytest.approx(13 / 15)
    assert stats.multi_rater.n_pairable_units == 5
    assert stats.multi_rater.n_pairable_values == 12
    assert any("A: 1 of 5 verdicts unscored" in w for w in stats.warnings)


def test_point_estimates_equal_the_standalone_functions() -> None:
    rng = np.random.default_rng(0)
    verdicts = (rng.random((60, 4)) < 0.6).astype(float)
    verdicts[rng.random(verdicts.shape) < 0.15] = nan
    stats = agreement_statistics(verdicts, list("abcd"), np.arange(60) // 3, n_bootstrap=0)
    np.testing.assert_array_equal(stats.pairwise.cohen_kappa.estimate, cohen_kappa_matrix(verdicts))
    assert float(stats.multi_rater.fleiss_kappa.estimate) == pytest.approx(fleiss_kappa(verdicts), abs=1e-14)
    assert float(stats.multi_rater.krippendorff_alpha.estimate) == pytest.approx(krippendorff_alpha(verdicts),
                                                                                 abs=1e-14)
    assert np.isnan(stats.pairwise.cohen_kappa.ci_low).all()  # no resamples, no interval


def test_pair_without_common_units_is_nan_and_null_in_json() -> None:
    verdicts = np.array([[1, nan, 1], [nan, 0, 0], [0, nan, 0], [nan, 1, 1]], dtype=float)
    stats = agreement_statistics(verdicts, ["x", "y", "z"], n_bootstrap=50)
    assert stats.pairwise.n_scored[0, 1] == 0
    assert np.isnan(stats.pairwise.cohen_kappa.estimate[0, 1])
    assert np.isnan(stats.pairwise.cohen_kappa.ci_low[0, 1])
    out = json.loads(json.dumps(stats.to_json(), allow_nan=False))
    assert out["pairwise"]["cohen_kappa"]["estimate"][0][1] is None
    assert out["pairwise"]["gwet_ac1"]["ci_high"][1][0] is None
    assert any("x and y share no scored unit" in w for w in stats.warnings)


def test_identical_raters() -> None:
    column = np.array([1, 0, 1, 1, 0, 1, 0, 0], dtype=float)
    stats = agreement_statistics(np.stack([column] * 3, axis=1), ["a", "b", "c"], np.arange(8) // 2, n_bootstrap=100)
    np.testing.assert_array_equal(stats.pairwise.cohen_kappa.estimate, np.ones((3, 3)))
    assert float(stats.multi_rater.fleiss_kappa.estimate) == 1.0
    assert float(stats.multi_rater.krippendorff_alpha.estimate) == 1.0
    # every resample is also perfect agreement (or all-one-verdict and undefined): the interval is [1, 1]
    assert stats.pairwise.cohen_kappa.ci_low[0, 1] == stats.pairwise.cohen_kappa.ci_high[0, 1] == 1.0
    assert stats.warnings == ()
    # identical *constant* raters: kappa is 0/0 (nan, as scikit-learn), AC1 and PABAK are 1
    constant = agreement_statistics(np.ones((6, 2)), ["a", "b"], n_bootstrap=0)
    assert np.isnan(constant.pairwise.cohen_kappa.estimate[0, 1])
    assert constant.pairwise.gwet_ac1.estimate[0, 1] == constant.pairwise.pabak.estimate[0, 1] == 1.0


def skewed_pair(n_both_passed: int, n_disagree_each: int, n_both_failed: int) -> np.ndarray:
    rows = ([[1, 1]] * n_both_passed + [[1, 0]] * n_disagree_each + [[0, 1]] * n_disagree_each
            + [[0, 0]] * n_both_failed)
    return np.array(rows, dtype=float)


def test_kappa_paradox_flag_and_warning() -> None:
    # 90 both passed, 5 + 5 disagreements, 0 both failed: p_o 0.90, kappa -0.053, PI 0.90 -> flagged
    skewed = agreement_statistics(skewed_pair(90, 5, 0), ["gpt4o", "qwen72b"], n_bootstrap=0)
    assert skewed.pairwise.observed_agreement.estimate[0, 1] == pytest.approx(0.9)
    assert skewed.pairwise.cohen_kappa.estimate[0, 1] == pytest.approx(-50 / 950)
    assert skewed.pairwise.gwet_ac1.estimate[0, 1] > 0.85
    assert skewed.pairwise.kappa_paradox[0, 1] and skewed.pairwise.kappa_paradox[1, 0]
    assert not skewed.pairwise.kappa_paradox[0, 0]
    assert any("kappa paradox" in w for w in skewed.warnings)
    # balanced: 45 / 5 + 5 / 45 -> p_o 0.90, kappa 0.8, PI 0: no flag, no warning
    balanced = agreement_statistics(skewed_pair(45, 5, 45), ["gpt4o", "qwen72b"], n_bootstrap=0)
    assert balanced.pairwise.cohen_kappa.estimate[0, 1] == pytest.approx(0.8)
    assert not balanced.pairwise.kappa_paradox.any()
    assert balanced.warnings == ()


def test_gold_is_just_another_column() -> None:
    # gold labelled on 5 of 6 units; judge j0 unscored on one labelled unit
    verdicts = np.array([[1, 1], [1, 0], [0, 0], [nan, 1], [0, 1], [1, 1]], dtype=float)
    gold = np.array([1, 0, 0, 1, 0, nan])
    result = gold_agreement(verdicts, gold, ["j0", "j1"], n_bootstrap=0)
    assert result.n_labelled == 5
    np.testing.assert_array_equal(result.n_scored, [4, 5])
    np.testing.assert_array_equal(result.n_unscored, [1, 0])
    # j0 on u0..u2,u4: TP u0, FP u1, TN u2, TN u4 -> accuracy 3/4, FPR 1/3, precision 1/2
    assert (result.true_positive[0], result.false_positive[0], result.false_negative[0],
            result.true_negative[0]) == (1, 1, 0, 2)
    assert result.accuracy.estimate[0] == pytest.approx(0.75)
    assert result.false_positive_rate.estimate[0] == pytest.approx(1 / 3)
    assert result.precision.estimate[0] == pytest.approx(0.5)
    rows = result.to_json()
    assert [row["judge"] for row in rows] == ["j0", "j1"]
    assert rows[0]["accuracy"]["estimate"] == pytest.approx(0.75)
    assert rows[0]["accuracy"]["ci_low"] is None  # no bootstrap -> null


def test_json_has_the_shape_the_cli_reads() -> None:
    rng = np.random.default_rng(1)
    verdicts = (rng.random((30, 3)) < 0.5).astype(float)
    gold = (rng.random(30) < 0.5).astype(float)
    out = agreement_statistics(verdicts, ["a", "b", "c"], np.arange(30) // 3, gold=gold, n_bootstrap=20).to_json()
    text = json.dumps(out, allow_nan=False)  # plain JSON: no NaN, no numpy types
    assert json.loads(text) == out
    assert len(out["pairwise"]["cohen_kappa"]["estimate"]) == 3
    assert set(out["pairwise"]["cohen_kappa"]) == {"estimate", "ci_low", "ci_high"}
    assert isinstance(out["pairwise"]["n_scored"][0][1], int)
    assert isinstance(out["pairwise"]["kappa_paradox"][0][1], bool)
    assert isinstance(out["multi_rater"]["fleiss_kappa"]["estimate"], float)
    assert out["gold"][2]["judge"] == "c" and "false_positive_rate" in out["gold"][2]
    assert out["bootstrap"]["n_resamples"] == 20
    assert out["n_clusters"] == 10


def test_wrappers_return_the_parts() -> None:
    assert pairwise_agreement(SMALL, ["A", "B", "C"], n_bootstrap=0).cohen_kappa.estimate[0, 1] == pytest.approx(0.4)
    multi = multi_rater_agreement(SMALL, ["A", "B", "C"], n_bootstrap=0)
    assert float(multi.observed_agreement.estimate) == pytest.approx(13 / 15)


def test_empty_matrix() -> None:
    stats = agreement_statistics(np.zeros((0, 2)), ["a", "b"], np.zeros(0, dtype=int), n_bootstrap=10)
    assert stats.n_units == 0 and stats.n_clusters == 0
    assert np.isnan(stats.pairwise.cohen_kappa.estimate[0, 1])
    json.dumps(stats.to_json(), allow_nan=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"verdicts": np.array([[1.0, 2.0]])}, "must be 1.0, 0.0 or nan"),
        ({"verdicts": np.ones(3)}, "2-D"),
        ({"raters": ["a"]}, "1 rater names for 2"),
        ({"raters": ["a", "a"]}, "unique"),
        ({"clusters": np.zeros(5, dtype=int)}, "clusters must have shape"),
        ({"clusters": np.zeros(2)}, "integer codes"),
        ({"gold": np.ones(3)}, "gold must have shape"),
        ({"gold": np.array([1.0, 0.5])}, "must be 1.0, 0.0 or nan"),
        ({"n_bootstrap": -1}, "n_bootstrap"),
        ({"confidence": 1.5}, "confidence"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"verdicts": np.array([[1.0, 0.0], [0.0, 0.0]]), "raters": ["a", "b"]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        agreement_statistics(**arguments)  # type: ignore[arg-type]
