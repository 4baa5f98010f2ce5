"""Verifier metrics: hand-worked tables, then agreement with scikit-learn and statsmodels on random data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from statsmodels.stats.contingency_tables import mcnemar

from rlvr_bench.stats.verifier_metrics import (
    BINARY_METRICS,
    judge_metrics,
    mcnemar_test,
    pairwise_mcnemar,
    soft_metrics,
)

NAN = math.nan


def test_hand_worked_confusion_table() -> None:
    # gold   1 1 1 0 0 0 1 0
    # judge  1 1 0 1 0 0 - -     ("-" = unscored, excluded and counted)
    # tp = 2, fn = 1, fp = 1, tn = 2, unscored = 2
    gold = np.array([1, 1, 1, 0, 0, 0, 1, 0], dtype=float)
    passed = np.array([[1, 1, 0, 1, 0, 0, NAN, NAN]]).T
    m = judge_metrics(passed, gold, np.arange(8), ["j"], n_bootstrap=0, seed=0)["j"]
    assert m["counts"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 2, "unscored": 2}
    expected = {
        "accuracy": (4 / 6, 6),  # (tp + tn) / scored
        "balanced_accuracy": ((2 / 3 + 2 / 3) / 2, 6),
        "precision": (2 / 3, 3),  # n = predicted positive
        "recall": (2 / 3, 3),  # n = actual positive among scored
        "f1": (4 / 6, 6),  # 2 tp / (2 tp + fp + fn) = 4 / 6
        "false_positive_rate": (1 / 3, 3),
        "false_negative_rate": (1 / 3, 3),
        "unscored_rate": (2 / 8, 8),
    }
    for name, (value, n) in expected.items():
        assert m[name]["estimate"] == pytest.approx(value), name
        assert m[name]["n"] == n, name
        assert m[name]["ci_low"] is None and m[name]["ci_high"] is None  # no resamples, no interval


def test_a_judge_with_nothing_scored_gives_null_metrics() -> None:
    gold = np.array([1.0, 0.0, 1.0])
    passed = np.array([[NAN, NAN, NAN], [1.0, 0.0, 0.0]]).T
    m = judge_metrics(passed, gold, np.array([0, 1, 2]), ["broken", "ok"], n_bootstrap=50, seed=0)
    for name in BINARY_METRICS:
        if name == "unscored_rate":
            continue
        assert m["broken"][name]["estimate"] is None, name
        assert m["broken"][name]["ci_low"] is None, name
    assert m["broken"]["unscored_rate"]["estimate"] == 1.0
    assert m["ok"]["accuracy"]["estimate"] == pytest.approx(2 / 3)
    # an empty subset is fine too
    empty = judge_metrics(np.zeros((0, 1)), np.zeros(0), np.zeros(0, dtype=int), ["j"], 50, 0)
    assert empty["j"]["accuracy"] == {"estimate": None, "ci_low": None, "ci_high": None, "n": 0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_metrics_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    gold = (rng.random(n) < 0.45).astype(float)
    passed = np.where(rng.random((n, 3)) < 0.8, gold[:, None], 1.0 - gold[:, None])
    passed[rng.random((n, 3)) < 0.1] = NAN  # some unscored verdicts
    clusters = rng.integers(0, 60, n)
    result = judge_metrics(passed, gold, clusters, ["a", "b", "c"], n_bootstrap=0, seed=0)
    for col, name in enumerate("abc"):
        scored = ~np.isnan(passed[:, col])
        y, p = gold[scored], passed[scored, col]
        m = result[name]
        assert m["accuracy"]["estimate"] == pytest.approx(accuracy_score(y, p))
        assert m["balanced_accuracy"]["estimate"] == pytest.approx(balanced_accuracy_score(y, p))
        assert m["precision"]["estimate"] == pytest.approx(precision_score(y, p))
        assert m["recall"]["estimate"] == pytest.approx(recall_score(y, p))
        assert m["f1"]["estimate"] == pytest.approx(f1_score(y, p))
        # FPR = 1 - specificity = 1 - recall of the negative class
        assert m["false_positive_rate"]["estimate"] == pytest.approx(1 - recall_score(y, p, pos_label=0))
        assert m["counts"]["unscored"] == int((~scored).sum())


@pytest.mark.parametrize("seed", [0, 1])
def test_soft_metrics_match_scikit_learn_including_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    gold = (rng.random(n) < 0.4).astype(float)
    # rounded scores make many ties, which AUROC must count as one half
    p_pass = np.clip(0.3 * gold + 0.7 * rng.random(n), 0, 1).round(1)
    p_pass[:7] = NAN  # verdicts without a soft score are dropped
    result = soft_metrics(p_pass, gold, rng.integers(0, 100, n), n_bootstrap=200, seed=seed)
    keep = ~np.isnan(p_pass)
    assert result["n"] == keep.sum()
    assert result["auroc"]["estimate"] == pytest.approx(roc_auc_score(gold[keep], p_pass[keep]))
    assert result["brier"]["estimate"] == pytest.approx(brier_score_loss(gold[keep], p_pass[keep]))
    for name in ("auroc", "brier", "ece"):
        assert result[name]["ci_low"] <= result[name]["estimate"] <= result[name]["ci_high"], name
    assert sum(b["count"] for b in result["reliability"]["bins"]) == keep.sum()


def test_calibration_and_best_threshold_by_hand() -> None:
    # p:    0.05 0.15 0.15 0.85 0.95 0.95      y: 0 0 0 1 1 0
    # bins of width 0.1: [0.0,0.1): p 0.05, y 0 -> |0 - 0.05| = 0.05
    #                    [0.1,0.2): p 0.15+0.15, y 0 -> |0 - 0.3| = 0.3
    #                    [0.8,0.9): p 0.85, y 1 -> 0.15
    #                    [0.9,1.0]: p 0.95+0.95, y 1 -> |1 - 1.9| = 0.9
    # ECE = (0.05 + 0.3 + 0.15 + 0.9) / 6 = 1.4 / 6
    p = np.array([0.05, 0.15, 0.15, 0.85, 0.95, 0.95])
    y = np.array([0, 0, 0, 1, 1, 0], dtype=float)
    result = soft_metrics(p, y, np.arange(6), n_bootstrap=0, seed=0, n_bins=10)
    assert result["ece"]["estimate"] == pytest.approx(1.4 / 6)
    bins = result["reliability"]["bins"]
    assert [b["count"] for b in bins] == [1, 2, 0, 0, 0, 0, 0, 0, 1, 2]
    assert bins[1]["mean_predicted"] == pytest.approx(0.15) and bins[1]["observed_rate"]["estimate"] == 0.0
    assert bins[9]["observed_rate"]["estimate"] == 0.5
    assert bins[2]["mean_predicted"] is None and bins[2]["observed_rate"]["estimate"] is None
    # thresholds (passed iff p >= t), 2 positives and 4 negatives:
    #   t = 0.05 -> TPR 1, FPR 1 (balanced 0.5); t = 0.15 -> TPR 1, FPR 3/4 (0.625);
    #   t = 0.85 -> TPR 1, FPR 1/4 (0.875); t = 0.95 -> TPR 1/2, FPR 1/4 (0.625).
    # Best: 0.85, where 2 true positives and 3 true negatives give accuracy 5/6.
    best = result["best_threshold"]
    assert best["threshold"]["estimate"] == 0.85
    assert best["balanced_accuracy"]["estimate"] == pytest.approx(0.875)
    assert best["accuracy"]["estimate"] == pytest.approx(5 / 6)
    assert best["false_positive_rate"]["estimate"] == pytest.approx(0.25)


def test_best_threshold_ties_go_to_the_lowest_threshold() -> None:
    # p 0.1 0.5 0.9 0.9 with y 1 0 1 0 (2 positives, 2 negatives):
    #   t = 0.1: TPR 1, FPR 1 (balanced 0.5); t = 0.5: TPR 1/2, FPR 1 (0.25); t = 0.9: TPR 1/2, FPR 1/2 (0.5).
    # 0.1 and 0.9 tie; the lowest threshold is reported.
    result = soft_metrics(np.array([0.1, 0.5, 0.9, 0.9]), np.array([1.0, 0.0, 1.0, 0.0]), np.arange(4), 0, 0)
    assert result["best_threshold"]["threshold"]["estimate"] == 0.1
    assert result["best_threshold"]["balanced_accuracy"]["estimate"] == 0.5


def test_soft_metrics_with_a_single_class_are_null_not_errors() -> None:
    result = soft_metrics(np.array([0.2, 0.9]), np.array([0.0, 0.0]), np.array([0, 1]), n_bootstrap=20, seed=0)
    assert result["auroc"]["estimate"] is None
    assert result["best_threshold"]["threshold"]["estimate"] is None
    assert result["brier"]["estimate"] == pytest.approx((0.04 + 0.81) / 2)
    empty = soft_metrics(np.array([NAN]), np.array([1.0]), np.array([0]), n_bootstrap=20, seed=0)
    assert empty["n"] == 0 and empty["auroc"]["estimate"] is None


@pytest.mark.parametrize(("a_only", "b_only"), [(0, 0), (1, 0), (3, 9), (12, 12), (10, 14), (40, 20), (5, 60)])
def test_mcnemar_matches_statsmodels(a_only: int, b_only: int) -> None:
    test = mcnemar_test(a_only, b_only)
    exact = a_only + b_only < 25
    assert test.method == ("exact" if exact else "chi2")
    reference = mcnemar([[7, a_only], [b_only, 4]], exact=exact, correction=True)
    assert test.statistic == pytest.approx(float(reference.statistic))
    assert test.p_value == pytest.approx(float(reference.pvalue))
    forced = mcnemar_test(a_only, b_only, exact=True)
    assert forced.p_value == pytest.approx(float(mcnemar([[0, a_only], [b_only, 0]], exact=True).pvalue))


def test_pairwise_mcnemar_counts_only_units_both_judges_scored() -> None:
    # gold    1 1 0 0 1 0
    # A       1 1 0 1 0 -    A right on units 0 1 2, wrong on 3 4
    # B       1 0 1 1 1 0    B right on 0 4 5 (5 excluded: A unscored), wrong on 1 2 3
    # both scored: units 0-4; A only right: 1, 2; B only right: 4; both right: 0; both wrong: 3
    gold = np.array([1, 1, 0, 0, 1, 0], dtype=float)
    passed = np.array([[1, 1, 0, 1, 0, NAN], [1, 0, 1, 1, 1, 0]]).T
    [row] = pairwise_mcnemar(passed, gold, np.arange(6), ["A", "B"], n_bootstrap=100, seed=0)
    assert (row["n"], row["both_correct"], row["a_only_correct"], row["b_only_correct"], row["both_wrong"]) == (
        5, 1, 2, 1, 1)
    assert row["method"] == "exact"
    assert row["p_value"] == pytest.approx(1.0)  # 2 * P(Binom(3, 0.5) <= 1) = 2 * 0.5, capped at 1
    assert row["accuracy_difference"]["estimate"] == pytest.approx((2 - 1) / 5)


def test_bootstrap_resamples_whole_questions_and_is_reproducible() -> None:
    # Two questions; every response of question 0 is judged right, every response of question 1 wrong.
    # Resampling questions can only give accuracies 0, 1/2 or 1 (two questions of 5 responses each);
    # resampling responses would give many other values.
    gold = np.ones(10)
    passed = np.r_[np.ones(5), np.zeros(5)][:, None]
    clusters = np.r_[np.zeros(5, int), np.ones(5, int)]
    first = judge_metrics(passed, gold, clusters, ["j"], n_bootstrap=400, seed=3)["j"]["accuracy"]
    again = judge_metrics(passed, gold, clusters, ["j"], n_bootstrap=400, seed=3)["j"]["accuracy"]
    assert first == again
    assert first["estimate"] == 0.5
    assert first["ci_low"] == 0.0 and first["ci_high"] == 1.0
