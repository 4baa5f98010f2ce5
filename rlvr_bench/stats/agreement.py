"""Point estimates of agreement straight from a verdict matrix (no bootstrap).

``verdicts`` is always an (n_units, n_raters) float array with 1.0 (passed),
0.0 (failed) and nan (unscored); unscored verdicts are excluded pairwise.
These functions share their arithmetic with the bootstrap (they evaluate the
same sums, over a single cluster), so a point estimate here is exactly the
``estimate`` that :func:`rlvr_bench.stats.agreement_statistics` reports.

For rating matrices with other nominal codes (e.g. Krippendorff's 1..5
example) use the multi-rater functions with ``categories=``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.stats.design import AGREEMENT_STATISTICS, GOLD_RATES, build_design, check_verdicts, statistics_from_sums
from rlvr_bench.stats.multirater import fleiss_kappa, gwet_ac1_multirater, krippendorff_alpha
from rlvr_bench.stats.tables import FloatArray, kappa_paradox

__all__ = [
    "cohen_kappa_matrix",
    "fleiss_kappa",
    "gold_point_estimates",
    "gwet_ac1_matrix",
    "gwet_ac1_multirater",
    "krippendorff_alpha",
    "pair_counts",
    "pairwise_point_estimates",
]


def _point(verdicts: NDArray[np.floating], gold: NDArray[np.floating] | None = None) -> dict[str, FloatArray]:
    v = check_verdicts(verdicts)
    g = None if gold is None else np.asarray(gold, dtype=np.float64)
    if g is not None and g.shape != (v.shape[0],):
        raise ValueError(f"gold must have shape ({v.shape[0]},), got {g.shape}")
    design = build_design(v, np.zeros(v.shape[0], dtype=np.intp), 1, g)
    return statistics_from_sums(design.layout, design.totals())


def pair_counts(verdicts: NDArray[np.floating]) -> tuple[NDArray[np.int64], ...]:
    """The 2 x 2 cells (a, b, c, d) of every rater pair as (k, k) int arrays, row rater i vs column rater j.

    a: both passed; b: row passed, column failed; c: row failed, column passed;
    d: both failed; only units both scored.
    """
    point = _point(verdicts)
    return tuple(np.rint(point[f"pairwise.{cell}"]).astype(np.int64) for cell in "abcd")


def pairwise_point_estimates(verdicts: NDArray[np.floating]) -> dict[str, NDArray[Any]]:
    """Every pairwise statistic as a (k, k) float array, keyed as in :data:`AGREEMENT_STATISTICS`.

    Also ``n_scored`` (units both scored) and ``kappa_paradox`` (bool, False on the diagonal).
    """
    point = _point(verdicts)
    out: dict[str, NDArray[Any]] = {name: point[f"pairwise.{name}"] for name in AGREEMENT_STATISTICS}
    out["n_scored"] = point["pairwise.n_scored"]
    paradox = kappa_paradox(out["observed_agreement"], out["cohen_kappa"], out["prevalence_index"])
    np.fill_diagonal(paradox, False)
    out["kappa_paradox"] = paradox
    return out


def cohen_kappa_matrix(verdicts: NDArray[np.floating]) -> FloatArray:
    """Pairwise Cohen's kappa, (k, k); nan where a pair shares no scored unit or both raters are constant."""
    return _point(verdicts)["pairwise.cohen_kappa"]


def gwet_ac1_matrix(verdicts: NDArray[np.floating]) -> FloatArray:
    """Pairwise Gwet's AC1, (k, k); nan where a pair shares no scored unit."""
    return _point(verdicts)["pairwise.gwet_ac1"]


def gold_point_estimates(verdicts: NDArray[np.floating], gold: NDArray[np.floating]) -> dict[str, FloatArray]:
    """Each judge column against a gold vector (1.0 / 0.0 / nan): (k,) arrays.

    Keys: ``accuracy``, ``f1`` and everything in :data:`AGREEMENT_STATISTICS`
    and :data:`GOLD_RATES` (accuracy = observed_agreement, f1 = positive_agreement),
    plus ``n_scored`` (units with both a label and a verdict).
    """
    check_verdicts(np.asarray(gold, dtype=np.float64)[:, None])
    point = _point(verdicts, gold)
    out = {name: point[f"gold.{name}"] for name in AGREEMENT_STATISTICS + GOLD_RATES}
    out["accuracy"] = out["observed_agreement"]
    out["f1"] = out["positive_agreement"]
    out["n_scored"] = point["gold.n_scored"]
    return out
