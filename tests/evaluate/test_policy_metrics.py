"""Accuracy, mean@n, pass@n and paired policy comparisons: hand-worked values and the bootstrap's unit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlvr_bench.stats.bootstrap import cluster_weights, percentile_interval
from rlvr_bench.stats.policy_metrics import item_columns, paired_comparison, policy_accuracy

nan = math.nan

# 4 items x 2 samples; item 3 has no scored sample
MATRIX = np.array([[1.0, nan], [0.0, 0.0], [1.0, 1.0], [nan, nan]])


def test_point_estimates_by_hand() -> None:
    result = policy_accuracy(MATRIX, n_bootstrap=0, seed=0)
    # accuracy pools samples: correct 1 + 0 + 2 = 3 of scored 1 + 2 + 2 = 5
    assert result.accuracy.estimate == pytest.approx(3 / 5) and result.accuracy.n == 5
    # mean@n averages item means over the 3 items with a scored sample: (1 + 0 + 1) / 3
    assert result.mean_at_n.estimate == pytest.approx(2 / 3) and result.mean_at_n.n == 3
    # pass@n: items 0 and 2 have a correct sample, of 3 scored items
    assert result.pass_at_n.estimate == pytest.approx(2 / 3)
    assert (result.n_items, result.n_samples, result.n_unscored) == (4, 2, 3)
    # no resamples: no interval
    assert result.accuracy.to_json()["ci_low"] is None


@pytest.mark.parametrize(("matrix", "accuracy", "mean", "passed"), [
    ([[1.0], [0.0], [1.0], [1.0]], 0.75, 0.75, 0.75),           # one sample: all three coincide
    ([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 1 / 6, 1 / 6, 0.5),    # pass@3 counts item 0 once
    ([[nan], [nan]], None, None, None),                         # nothing scored: undefined, not 0
])
def test_table_of_cases(matrix: list[list[float]], accuracy: float | None, mean: float | None,
                        passed: float | None) -> None:
    result = policy_accuracy(np.array(matrix), n_bootstrap=20, seed=0).to_json()
    for key, expected in (("accuracy", accuracy), ("mean_at_n", mean), ("pass_at_n", passed)):
        value = result[key]["estimate"]
        assert value == (None if expected is None else pytest.approx(expected)), key


def test_bootstrap_resamples_whole_items() -> None:
    # reference loop: draw items with replacement (same weights as the library), recompute accuracy
    n_boot, seed = 300, 5
    weights = cluster_weights(MATRIX.shape[0], n_boot, seed).astype(float)
    columns = item_columns(MATRIX)
    expected = (weights @ columns[:, 0]) / (weights @ columns[:, 1])
    low, high = percentile_interval(expected[:, None], 0.95)
    result = policy_accuracy(MATRIX, n_bootstrap=n_boot, seed=seed)
    assert result.accuracy.ci_low == pytest.approx(low[0]) and result.accuracy.ci_high == pytest.approx(high[0])
    assert 0.0 <= result.accuracy.ci_low <= result.accuracy.estimate <= result.accuracy.ci_high <= 1.0


def test_certain_policy_has_degenerate_interval() -> None:
    result = policy_accuracy(np.ones((10, 1)), n_bootstrap=100, seed=0)
    assert (result.accuracy.ci_low, result.accuracy.ci_high) == (1.0, 1.0)


def test_paired_comparison_by_hand() -> None:
    a = np.array([[1.0], [1.0], [0.0], [1.0], [nan]])
    b = np.array([[0.0], [1.0], [0.0], [0.0], [1.0]])
    result = paired_comparison(a, b, n_bootstrap=200, seed=0)
    # item 4 is unscored for A: 4 paired items, differences 1, 0, 0, 1 -> mean 0.5
    assert result.difference.estimate == pytest.approx(0.5) and result.difference.n == 4
    # discordant pairs: A alone right on items 0 and 3; exact McNemar p = 2 * P(Bin(2, 1/2) <= 0) = 0.5
    assert (result.a_only, result.b_only, result.both_correct, result.both_wrong) == (2, 0, 1, 1)
    assert result.p_value == pytest.approx(0.5) and result.method == "exact"
    assert result.difference.ci_low <= 0.5 <= result.difference.ci_high
    # swapping A and B negates the difference and mirrors the counts
    swapped = paired_comparison(b, a, n_bootstrap=200, seed=0)
    assert swapped.difference.estimate == pytest.approx(-0.5) and (swapped.a_only, swapped.b_only) == (0, 2)


def test_paired_comparison_uses_item_means_and_first_sample_for_mcnemar() -> None:
    # A: 2 samples per item, B: 1 (e.g. imported greedy answers)
    a = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([[0.0], [0.0], [1.0]])
    result = paired_comparison(a, b, n_bootstrap=0, seed=0)
    # item means A: 0.5, 0.5, 1; B: 0, 0, 1 -> differences 0.5, 0.5, 0 -> mean 1/3
    assert result.difference.estimate == pytest.approx(1 / 3)
    # McNemar on sample 0: A right on items 0 and 2, B on item 2 -> A alone right once
    assert (result.a_only, result.b_only) == (1, 0)


def test_mismatched_items_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="same items"):
        paired_comparison(np.ones((2, 1)), np.ones((3, 1)), n_bootstrap=0, seed=0)
    with pytest.raises(ValueError, match=r"1\.0, 0\.0 or nan"):
        policy_accuracy(np.array([[0.5]]), n_bootstrap=0, seed=0)
