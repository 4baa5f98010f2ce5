"""The one entry point the CLI calls: :func:`agreement_statistics`.

It reduces the verdict matrix to per-cluster sums once
(:mod:`rlvr_bench.stats.design`), evaluates every statistic on the totals
(point estimates) and on ``n_bootstrap`` re-weighted totals (clustered
bootstrap, :mod:`rlvr_bench.stats.bootstrap`), and packs the result in typed
records (:mod:`rlvr_bench.stats.results`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.stats.bootstrap import DEFAULT_MAX_CHUNK_BYTES, percentile_interval, resample_sums
from rlvr_bench.stats.design import build_design, check_verdicts, encode_clusters, statistics_from_sums
from rlvr_bench.stats.results import (
    AgreementStatistics,
    Estimate,
    GoldAgreement,
    MultiRaterAgreement,
    PairwiseAgreement,
    RaterSummary,
)
from rlvr_bench.stats.tables import FloatArray, kappa_paradox


def _counts(values: FloatArray) -> NDArray[np.int64]:
    return np.rint(values).astype(np.int64)


def agreement_statistics(
    verdicts: NDArray[np.floating],
    raters: Sequence[str],
    clusters: NDArray[np.integer] | None = None,
    gold: NDArray[np.floating] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES,
) -> AgreementStatistics:
    """Pairwise, multi-rater and judge-vs-gold agreement with clustered bootstrap CIs.

    Args:
        verdicts: (n_units, n_raters) float array; 1.0 passed, 0.0 failed, nan unscored.
        raters: the n_raters names, unique.
        clusters: (n_units,) integer cluster codes (question ids); all units of a
            cluster are resampled together. None: every unit is its own cluster.
        gold: optional (n_units,) gold labels, 1.0 correct, 0.0 incorrect, nan unlabelled.
        n_bootstrap: resamples (>= 0; 0 gives nan intervals).
        seed: seed of ``np.random.default_rng``; same seed, same intervals.
        confidence: level of the percentile intervals, in (0, 1).
        max_chunk_bytes: memory budget of one chunk of resample weights.
    """
    v = check_verdicts(verdicts, raters)
    n_units = v.shape[0]
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    g = None
    if gold is not None:
        g = np.asarray(gold, dtype=np.float64)
        if g.shape != (n_units,):
            raise ValueError(f"gold must have shape ({n_units},), got {g.shape}")
        check_verdicts(g[:, None])
    cluster_index, n_clusters = encode_clusters(clusters, n_units)
    design = build_design(v, cluster_index, n_clusters, g)
    point = statistics_from_sums(design.layout, design.totals())
    resampled: dict[str, FloatArray] | None = None
    if n_bootstrap > 0 and n_clusters > 0:
        sums = resample_sums(design.per_cluster, n_bootstrap, seed, max_chunk_bytes)
        resampled = statistics_from_sums(design.layout, sums)

    def estimate(key: str) -> Estimate:
        value = np.asarray(point[key], dtype=np.float64)
        if resampled is None:
            return Estimate(value, np.full(value.shape, np.nan), np.full(value.shape, np.nan))
        low, high = percentile_interval(resampled[key], confidence)
        return Estimate(value, low, high)

    names = tuple(raters)
    n_scored = _counts(point["rater.n_scored"])
    per_rater = RaterSummary(names, n_scored, n_units - n_scored, estimate("rater.pass_rate"))

    paradox = kappa_paradox(point["pairwise.observed_agreement"], point["pairwise.cohen_kappa"],
                            point["pairwise.prevalence_index"])
    np.fill_diagonal(paradox, False)
    pairwise = PairwiseAgreement(
        raters=names,
        n_scored=_counts(point["pairwise.n_scored"]),
        n_both_passed=_counts(point["pairwise.a"]),
        n_row_passed_only=_counts(point["pairwise.b"]),
        n_column_passed_only=_counts(point["pairwise.c"]),
        n_both_failed=_counts(point["pairwise.d"]),
        observed_agreement=estimate("pairwise.observed_agreement"),
        cohen_kappa=estimate("pairwise.cohen_kappa"),
        gwet_ac1=estimate("pairwise.gwet_ac1"),
        pabak=estimate("pairwise.pabak"),
        positive_agreement=estimate("pairwise.positive_agreement"),
        negative_agreement=estimate("pairwise.negative_agreement"),
        prevalence_index=estimate("pairwise.prevalence_index"),
        bias_index=estimate("pairwise.bias_index"),
        kappa_paradox=paradox,
    )
    multi_rater = MultiRaterAgreement(
        fleiss_kappa=estimate("multi.fleiss_kappa"),
        gwet_ac1=estimate("multi.gwet_ac1"),
        krippendorff_alpha=estimate("multi.krippendorff_alpha"),
        observed_agreement=estimate("multi.observed_agreement"),
        n_pairable_units=int(point["multi.n_pairable_units"]),
        n_pairable_values=int(point["multi.n_pairable_values"]),
    )
    gold_agreement_ = None
    if g is not None:
        n_labelled = int(point["gold.n_labelled"])
        gold_scored = _counts(point["gold.n_scored"])
        gold_agreement_ = GoldAgreement(
            raters=names,
            n_labelled=n_labelled,
            gold_pass_rate=estimate("gold.pass_rate"),
            n_scored=gold_scored,
            n_unscored=n_labelled - gold_scored,
            true_positive=_counts(point["gold.a"]),
            false_positive=_counts(point["gold.b"]),
            false_negative=_counts(point["gold.c"]),
            true_negative=_counts(point["gold.d"]),
            accuracy=estimate("gold.observed_agreement"),
            precision=estimate("gold.precision"),
            recall=estimate("gold.recall"),
            specificity=estimate("gold.specificity"),
            false_positive_rate=estimate("gold.false_positive_rate"),
            f1=estimate("gold.positive_agreement"),
            cohen_kappa=estimate("gold.cohen_kappa"),
            gwet_ac1=estimate("gold.gwet_ac1"),
            pabak=estimate("gold.pabak"),
            prevalence_index=estimate("gold.prevalence_index"),
            bias_index=estimate("gold.bias_index"),
        )
    return AgreementStatistics(
        raters=names,
        n_units=n_units,
        n_clusters=n_clusters,
        n_bootstrap=n_bootstrap,
        seed=seed,
        confidence=confidence,
        per_rater=per_rater,
        pairwise=pairwise,
        multi_rater=multi_rater,
        gold=gold_agreement_,
        warnings=_warnings(per_rater, pairwise),
    )


def _warnings(per_rater: RaterSummary, pairwise: PairwiseAgreement) -> tuple[str, ...]:
    notes = []
    n_units = per_rater.n_scored + per_rater.n_unscored
    for name, unscored, total in zip(per_rater.raters, per_rater.n_unscored, n_units, strict=True):
        if unscored > 0:
            notes.append(f"{name}: {unscored} of {total} verdicts unscored (the judge could not score them)")
    k = len(pairwise.raters)
    for i in range(k):
        for j in range(i + 1, k):
            a, b = pairwise.raters[i], pairwise.raters[j]
            if pairwise.n_scored[i, j] == 0:
                notes.append(f"{a} and {b} share no scored unit: their pairwise statistics are undefined")
            elif pairwise.kappa_paradox[i, j]:
                kappa = pairwise.cohen_kappa.estimate[i, j]
                kappa_text = "undefined" if np.isnan(kappa) else f"{kappa:.3f}"
                notes.append(
                    f"{a} vs {b}: observed agreement {pairwise.observed_agreement.estimate[i, j]:.3f} but "
                    f"Cohen's kappa {kappa_text} at prevalence index {pairwise.prevalence_index.estimate[i, j]:+.2f} "
                    f"(kappa paradox): read Gwet's AC1 ({pairwise.gwet_ac1.estimate[i, j]:.3f}) and PABAK "
                    f"({pairwise.pabak.estimate[i, j]:.3f})"
                )
    return tuple(notes)


def pairwise_agreement(
    verdicts: NDArray[np.floating],
    raters: Sequence[str],
    clusters: NDArray[np.integer] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairwiseAgreement:
    """Only the pairwise part of :func:`agreement_statistics` (same arguments)."""
    return agreement_statistics(verdicts, raters, clusters, None, n_bootstrap, seed, confidence).pairwise


def multi_rater_agreement(
    verdicts: NDArray[np.floating],
    raters: Sequence[str],
    clusters: NDArray[np.integer] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> MultiRaterAgreement:
    """Only the multi-rater part of :func:`agreement_statistics` (same arguments)."""
    return agreement_statistics(verdicts, raters, clusters, None, n_bootstrap, seed, confidence).multi_rater


def gold_agreement(
    verdicts: NDArray[np.floating],
    gold: NDArray[np.floating],
    raters: Sequence[str],
    clusters: NDArray[np.integer] | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> GoldAgreement:
    """Each judge column against a gold vector (accuracy, precision, recall, FPR, kappa ...) with CIs."""
    stats = agreement_statistics(verdicts, raters, clusters, gold, n_bootstrap, seed, confidence)
    assert stats.gold is not None  # gold was given
    return stats.gold
