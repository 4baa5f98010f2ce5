"""Clustered bootstrap: exact agreement with a slow loop, reproducibility, and why clustering matters."""

from __future__ import annotations

import json
import warnings

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from rlvr_bench.stats import AgreementStatistics, agreement_statistics, fleiss_kappa, gwet_ac1_matrix
from rlvr_bench.stats.bootstrap import (
    cluster_weights,
    iter_cluster_weights,
    percentile_interval,
    resample_sums,
)
from rlvr_bench.stats.design import build_design, encode_clusters, statistics_from_sums


def clustered_verdicts(
    seed: int, n_clusters: int, per_cluster: int, n_raters: int, missing: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Verdicts with a latent truth per question; responses of a question share it."""
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(n_clusters), per_cluster)
    truth = (rng.random(n_clusters) < 0.6)[clusters]
    accuracy = rng.uniform(0.7, 0.95, size=n_raters)
    right = rng.random((clusters.size, n_raters)) < accuracy
    verdicts = np.where(right, truth[:, None], ~truth[:, None]).astype(float)
    verdicts[rng.random(verdicts.shape) < missing] = np.nan
    return verdicts, clusters


def loop_reference(verdicts: np.ndarray, clusters: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Materialise every resample (each cluster's units repeated weight times) and call the libraries on it."""
    members = [np.flatnonzero(clusters == code) for code in np.unique(clusters)]
    k = verdicts.shape[1]
    kappa, ac1, alpha, fleiss = [], [], [], []
    for row in weights:
        rows = np.concatenate([np.tile(members[c], int(row[c])) for c in range(len(members))])
        sample = verdicts[rows]
        matrix = np.full((k, k), np.nan)
        for i in range(k):
            for j in range(k):
                both = ~np.isnan(sample[:, i]) & ~np.isnan(sample[:, j])
                if both.any():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # constant raters: sklearn warns and returns nan
                        matrix[i, j] = cohen_kappa_score(sample[both, i], sample[both, j])
        kappa.append(matrix)
        ac1.append(gwet_ac1_matrix(sample))
        try:
            alpha.append(krippendorff.alpha(reliability_data=sample.T, level_of_measurement="nominal"))
        except ValueError:  # one value in the whole resample: alpha undefined
            alpha.append(np.nan)
        fleiss.append(fleiss_kappa(sample))
    return {"kappa": np.array(kappa), "ac1": np.array(ac1), "alpha": np.array(alpha), "fleiss": np.array(fleiss)}


def test_vectorised_bootstrap_equals_loop_over_materialised_resamples() -> None:
    verdicts, clusters = clustered_verdicts(seed=1, n_clusters=7, per_cluster=3, n_raters=3, missing=0.15)
    n_resamples, seed = 25, 11
    index, n_clusters = encode_clusters(clusters, clusters.size)
    design = build_design(verdicts, index, n_clusters)
    # tiny chunks (one resample each) so the chunking is exercised too
    sums = resample_sums(design.per_cluster, n_resamples, seed, max_chunk_bytes=1)
    fast = statistics_from_sums(design.layout, sums)
    slow = loop_reference(verdicts, clusters, cluster_weights(n_clusters, n_resamples, seed))
    np.testing.assert_allclose(fast["pairwise.cohen_kappa"], slow["kappa"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["pairwise.gwet_ac1"], slow["ac1"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["multi.krippendorff_alpha"], slow["alpha"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast["multi.fleiss_kappa"], slow["fleiss"], rtol=0, atol=1e-12)

    # and the public function's intervals are the percentiles of those very resamples
    stats = agreement_statistics(verdicts, ["a", "b", "c"], clusters, n_bootstrap=n_resamples, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(slow["kappa"], [0.025, 0.975], axis=0)
    np.testing.assert_allclose(stats.pairwise.cohen_kappa.ci_low, low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(stats.pairwise.cohen_kappa.ci_high, high, rtol=0, atol=1e-12)


def test_weights_are_multinomial_over_clusters_and_independent_of_chunking() -> None:
    weights = cluster_weights(13, 40, seed=3)
    assert weights.shape == (40, 13)
    assert (weights.sum(axis=1) == 13).all() and (weights >= 0).all()
    for chunk_rows in (1, 7, 40, 100):
        chunked = np.concatenate(list(iter_cluster_weights(13, 40, 3, chunk_rows)))
        np.testing.assert_array_equal(chunked, weights)
    per_cluster = np.random.default_rng(0).integers(0, 5, size=(13, 6)).astype(float)
    np.testing.assert_array_equal(resample_sums(per_cluster, 40, 3), weights @ per_cluster)
    np.testing.assert_array_equal(resample_sums(per_cluster, 40, 3, max_chunk_bytes=1), weights @ per_cluster)


def test_same_seed_same_intervals_different_seed_different() -> None:
    verdicts, clusters = clustered_verdicts(seed=2, n_clusters=30, per_cluster=3, n_raters=3)
    gold = verdicts[:, 0].copy()
    gold[np.isnan(gold)] = 0.0

    def run(seed: int) -> str:
        stats = agreement_statistics(verdicts, ["a", "b", "c"], clusters, gold=gold, n_bootstrap=200, seed=seed)
        return json.dumps(stats.to_json())

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_clustered_interval_is_wider_when_a_question_s_responses_move_together() -> None:
    # 40 questions x 8 responses; every response of a question gets the same verdicts, so there are
    # really only 40 independent observations. Resampling responses (iid) pretends there are 320 and
    # gives an interval about sqrt(8) ~ 2.8 times too narrow.
    rng = np.random.default_rng(4)
    n_questions, per_question = 40, 8
    question_verdicts = (rng.random((n_questions, 1)) < 0.5) == (rng.random((n_questions, 2)) < 0.85)
    verdicts = np.repeat(question_verdicts.astype(float), per_question, axis=0)
    clusters = np.repeat(np.arange(n_questions), per_question)
    clustered = agreement_statistics(verdicts, ["a", "b"], clusters, n_bootstrap=400, seed=0)
    iid = agreement_statistics(verdicts, ["a", "b"], None, n_bootstrap=400, seed=0)
    np.testing.assert_array_equal(clustered.pairwise.cohen_kappa.estimate, iid.pairwise.cohen_kappa.estimate)

    def width(stats: AgreementStatistics) -> float:
        return float(stats.pairwise.cohen_kappa.ci_high[0, 1] - stats.pairwise.cohen_kappa.ci_low[0, 1])

    assert width(clustered) > 2.0 * width(iid)


def test_intervals_contain_the_point_estimates() -> None:
    verdicts, clusters = clustered_verdicts(seed=3, n_clusters=80, per_cluster=3, n_raters=4)
    gold = (np.nan_to_num(verdicts[:, 0], nan=1.0) + (np.random.default_rng(0).random(clusters.size) < 0.1)) % 2
    stats = agreement_statistics(verdicts, list("abcd"), clusters, gold=gold, n_bootstrap=300, seed=1)
    estimates = [
        stats.pairwise.cohen_kappa, stats.pairwise.gwet_ac1, stats.pairwise.observed_agreement,
        stats.multi_rater.fleiss_kappa, stats.multi_rater.krippendorff_alpha, stats.multi_rater.gwet_ac1,
        stats.per_rater.pass_rate,
    ]
    assert stats.gold is not None
    estimates += [stats.gold.accuracy, stats.gold.false_positive_rate, stats.gold.cohen_kappa]
    for estimate in estimates:
        assert (estimate.ci_low <= estimate.estimate).all()
        assert (estimate.estimate <= estimate.ci_high).all()
        assert (estimate.ci_low < estimate.ci_high).any()


def test_percentile_interval() -> None:
    samples = np.arange(101, dtype=float)[:, None] * np.array([1.0, 1.0, np.nan])
    samples[::2, 1] = np.nan  # even resamples undefined for the second statistic: left out
    low, high = percentile_interval(samples, 0.9)
    assert (low[0], high[0]) == (pytest.approx(5.0), pytest.approx(95.0))
    np.testing.assert_allclose([low[1], high[1]], np.percentile(np.arange(1, 101, 2), [5, 95]))
    assert np.isnan(low[2]) and np.isnan(high[2])
    empty_low, empty_high = percentile_interval(np.zeros((0, 2)), 0.95)
    assert np.isnan(empty_low).all() and np.isnan(empty_high).all()
    with pytest.raises(ValueError, match="confidence"):
        percentile_interval(samples, 95)
