"""Point estimates against scikit-learn, statsmodels and krippendorff on random verdicts with missing values."""

from __future__ import annotations

import warnings

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_score, recall_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from rlvr_bench.stats import (
    cohen_kappa_matrix,
    fleiss_kappa,
    gold_point_estimates,
    krippendorff_alpha,
    pairwise_point_estimates,
)

TOLERANCE = 1e-12


def random_verdicts(seed: int, n_units: int, n_raters: int, pass_rate: float, missing: float) -> np.ndarray:
    """Correlated verdicts: a latent truth per unit, each rater right with its own probability."""
    rng = np.random.default_rng(seed)
    truth = rng.random(n_units) < pass_rate
    accuracy = rng.uniform(0.6, 0.95, size=n_raters)
    right = rng.random((n_units, n_raters)) < accuracy
    verdicts = np.where(right, truth[:, None], ~truth[:, None]).astype(np.float64)
    verdicts[rng.random(verdicts.shape) < missing] = np.nan
    return verdicts


CASES = [
    # (seed, units, raters, pass rate, missing fraction)
    (0, 60, 3, 0.5, 0.0),
    (1, 200, 5, 0.5, 0.1),
    (2, 150, 4, 0.9, 0.2),
    (3, 40, 6, 0.2, 0.3),
]


@pytest.mark.parametrize("case", CASES)
def test_cohen_kappa_matrix_matches_sklearn(case: tuple[int, int, int, float, float]) -> None:
    verdicts = random_verdicts(*case)
    ours = cohen_kappa_matrix(verdicts)
    k = verdicts.shape[1]
    for i in range(k):
        for j in range(k):
            both = ~np.isnan(verdicts[:, i]) & ~np.isnan(verdicts[:, j])
            expected = cohen_kappa_score(verdicts[both, i], verdicts[both, j])
            assert ours[i, j] == pytest.approx(expected, abs=TOLERANCE), (i, j)


@pytest.mark.parametrize("case", CASES)
def test_observed_agreement_matches_sklearn_accuracy(case: tuple[int, int, int, float, float]) -> None:
    verdicts = random_verdicts(*case)
    point = pairwise_point_estimates(verdicts)
    for i, j in [(0, 1), (1, 2), (0, 2)]:
        both = ~np.isnan(verdicts[:, i]) & ~np.isnan(verdicts[:, j])
        p_o = accuracy_score(verdicts[both, i], verdicts[both, j])
        assert point["observed_agreement"][i, j] == pytest.approx(p_o, abs=TOLERANCE)
        assert point["pabak"][i, j] == pytest.approx(2 * p_o - 1, abs=TOLERANCE)
        assert point["n_scored"][i, j] == both.sum()


def test_constant_raters_give_nan_like_sklearn() -> None:
    verdicts = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0]])
    ours = cohen_kappa_matrix(verdicts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns that kappa is undefined
        same_constant = cohen_kappa_score(verdicts[:, 0], verdicts[:, 1])
        opposite_constant = cohen_kappa_score(verdicts[:, 0], verdicts[:, 2])
    assert np.isnan(same_constant) and np.isnan(ours[0, 1])
    assert opposite_constant == ours[0, 2] == 0.0
    assert ours[0, 3] == pytest.approx(cohen_kappa_score(verdicts[:, 0], verdicts[:, 3]), abs=TOLERANCE)


@pytest.mark.parametrize("case", CASES)
def test_krippendorff_alpha_matches_package(case: tuple[int, int, int, float, float]) -> None:
    verdicts = random_verdicts(*case)
    expected = krippendorff.alpha(reliability_data=verdicts.T, level_of_measurement="nominal")
    assert krippendorff_alpha(verdicts) == pytest.approx(expected, abs=TOLERANCE)


@pytest.mark.parametrize("case", [c for c in CASES if c[4] == 0.0] + [(7, 300, 8, 0.7, 0.0)])
def test_fleiss_kappa_matches_statsmodels_complete(case: tuple[int, int, int, float, float]) -> None:
    verdicts = random_verdicts(*case)
    table, _ = aggregate_raters(verdicts.astype(int))
    assert fleiss_kappa(verdicts) == pytest.approx(statsmodels_fleiss_kappa(table, method="fleiss"), abs=TOLERANCE)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fleiss_kappa_with_missing_matches_statsmodels_when_raters_per_unit_constant(seed: int) -> None:
    # statsmodels needs the same number of ratings on every unit; Gwet's missing-data form reduces to
    # Fleiss exactly then, so drop one random verdict per unit and compare on the aggregated table.
    verdicts = random_verdicts(seed, 120, 5, 0.6, 0.0)
    rng = np.random.default_rng(seed)
    verdicts[np.arange(120), rng.integers(0, 5, size=120)] = np.nan
    passed = (verdicts == 1.0).sum(axis=1)
    failed = (verdicts == 0.0).sum(axis=1)
    table = np.stack([failed, passed], axis=1)
    assert (table.sum(axis=1) == 4).all()
    assert fleiss_kappa(verdicts) == pytest.approx(statsmodels_fleiss_kappa(table), abs=TOLERANCE)


@pytest.mark.parametrize("case", CASES)
def test_gold_metrics_match_sklearn(case: tuple[int, int, int, float, float]) -> None:
    verdicts = random_verdicts(*case)
    rng = np.random.default_rng(case[0] + 100)
    gold = verdicts[:, 0].copy()  # a noisy copy of rater 0 as gold, with its own missing labels
    gold[np.isnan(gold)] = 1.0
    flip = rng.random(gold.size) < 0.2
    gold[flip] = 1.0 - gold[flip]
    gold[rng.random(gold.size) < 0.1] = np.nan
    point = gold_point_estimates(verdicts, gold)
    for j in range(verdicts.shape[1]):
        both = ~np.isnan(verdicts[:, j]) & ~np.isnan(gold)
        y_true, y_pred = gold[both], verdicts[both, j]
        expected = {
            "accuracy": accuracy_score(y_true, y_pred),
            "precision": precision_score(y_true, y_pred, zero_division=np.nan),
            "recall": recall_score(y_true, y_pred, zero_division=np.nan),
            "f1": f1_score(y_true, y_pred, zero_division=np.nan),
            "cohen_kappa": cohen_kappa_score(y_pred, y_true),
            "specificity": recall_score(y_true, y_pred, pos_label=0.0, zero_division=np.nan),
        }
        for name, value in expected.items():
            assert point[name][j] == pytest.approx(value, abs=TOLERANCE, nan_ok=True), (name, j)
        assert point["n_scored"][j] == both.sum()
