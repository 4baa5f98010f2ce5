"""Multi-rater agreement for nominal ratings with missing values: Fleiss, Gwet's AC1, Krippendorff's alpha.

All three coefficients are functions of a few *sums over units*, so per-unit
contributions can be summed per cluster once and the bootstrap only has to
re-weight cluster sums (see :mod:`rlvr_bench.stats.design`).

For unit i with r_i ratings of which n_ic fall in category c (q categories):

- Fleiss' kappa and Gwet's AC1 with missing ratings (Gwet 2014, *Handbook of
  Inter-Rater Reliability*, 4th ed., ch. 2 and 4; the formulas of his irrCAC
  package): observed agreement p_a is the mean over units with r_i >= 2 of
  sum_c n_ic (n_ic - 1) / (r_i (r_i - 1)); category prevalence pi_c is the mean
  over units with r_i >= 1 of n_ic / r_i. Fleiss: p_e = sum_c pi_c**2;
  AC1: p_e = sum_c pi_c (1 - pi_c) / (q - 1). Both are (p_a - p_e) / (1 - p_e).
  With the same number of ratings on every unit this is exactly Fleiss (1971)
  as computed by ``statsmodels.stats.inter_rater.fleiss_kappa``.
- Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's
  alpha-reliability"): only pairable units (r_i >= 2) count; with n the number
  of pairable values, n_c = sum_i n_ic and O = sum_i sum_c n_ic (n_ic - 1) / (r_i - 1)
  the agreeing coincidences, alpha = 1 - (n - 1)(n - O) / (n**2 - sum_c n_c**2).

Undefined coefficients (no pairable unit; a single category used, so chance
agreement is 1) are nan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.stats.tables import FloatArray, safe_divide

#: binary verdicts: failed = 0.0, passed = 1.0
VERDICT_CATEGORIES: tuple[float, ...] = (0.0, 1.0)


def category_counts(ratings: NDArray[np.floating], categories: Sequence[float] = VERDICT_CATEGORIES) -> FloatArray:
    """How many raters put each unit in each category: shape (n_units, n_categories), float64 counts.

    ``ratings`` has shape (n_units, n_raters), nan for a missing rating. Any
    other value outside ``categories`` raises ValueError.
    """
    values = np.asarray(ratings, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"ratings must be a 2-D (units x raters) array, got shape {values.shape}")
    cats = np.asarray(categories, dtype=np.float64)
    if cats.ndim != 1 or cats.size < 2 or np.unique(cats).size != cats.size or np.isnan(cats).any():
        raise ValueError(f"categories must be at least two distinct numbers, got {list(categories)}")
    present = ~np.isnan(values)
    known = np.isin(values, cats) | ~present
    if not known.all():
        bad = values[~known][0]
        raise ValueError(f"rating {bad!r} is not one of the categories {cats.tolist()} (use nan for missing)")
    return np.stack([(values == c).sum(axis=1) for c in cats], axis=1).astype(np.float64)


@dataclass(frozen=True)
class MultiRaterColumns:
    """Column layout of the per-unit sums for ``n_categories`` categories.

    Columns, in order: Fleiss/AC1 agreement sum; pairable units (r >= 2);
    pi_c sums (one per category); rated units (r >= 1); Krippendorff agreeing
    coincidences O; pairable values per category n_c (one per category).
    """

    n_categories: int

    @property
    def width(self) -> int:
        return 4 + 2 * self.n_categories

    @property
    def agreement_sum(self) -> int:
        return 0

    @property
    def n_pairable(self) -> int:
        return 1

    @property
    def prevalence_sums(self) -> slice:
        return slice(2, 2 + self.n_categories)

    @property
    def n_rated(self) -> int:
        return 2 + self.n_categories

    @property
    def coincidences(self) -> int:
        return 3 + self.n_categories

    @property
    def pairable_values(self) -> slice:
        return slice(4 + self.n_categories, 4 + 2 * self.n_categories)


def unit_contributions(counts: FloatArray) -> FloatArray:
    """Per-unit terms whose sums over units determine every multi-rater coefficient.

    ``counts`` is the (n_units, q) output of :func:`category_counts`; returns
    (n_units, :attr:`MultiRaterColumns.width`) float64 in the layout of
    :class:`MultiRaterColumns`.
    """
    q = counts.shape[1]
    r = counts.sum(axis=1)
    pairable = r >= 2
    rated = r >= 1
    same_category_pairs = (counts * (counts - 1.0)).sum(axis=1)
    out = np.zeros((counts.shape[0], 4 + 2 * q))
    out[:, 0] = np.where(pairable, safe_divide(same_category_pairs, r * (r - 1.0)), 0.0)
    out[:, 1] = pairable
    out[:, 2 : 2 + q] = np.where(rated[:, None], counts / np.where(rated, r, 1.0)[:, None], 0.0)
    out[:, 2 + q] = rated
    out[:, 3 + q] = np.where(pairable, same_category_pairs / np.where(pairable, r - 1.0, 1.0), 0.0)
    out[:, 4 + q :] = counts * pairable[:, None]
    return out


def multi_rater_from_sums(sums: FloatArray, n_categories: int) -> dict[str, FloatArray]:
    """Coefficients from summed :func:`unit_contributions`, vectorised over leading axes.

    ``sums`` has shape (..., width); returns arrays of shape (...) keyed
    ``fleiss_kappa``, ``gwet_ac1``, ``krippendorff_alpha`` (all in [-1, 1], nan
    when undefined), ``observed_agreement`` (p_a, in [0, 1]), ``n_pairable_units``
    and ``n_pairable_values`` (counts).
    """
    cols = MultiRaterColumns(n_categories)
    s = np.asarray(sums, dtype=np.float64)
    p_a = safe_divide(s[..., cols.agreement_sum], s[..., cols.n_pairable])
    pi = safe_divide(s[..., cols.prevalence_sums], s[..., cols.n_rated, None])
    p_e_fleiss = (pi * pi).sum(axis=-1)
    p_e_gwet = (pi * (1.0 - pi)).sum(axis=-1) / (n_categories - 1)
    fleiss = safe_divide(p_a - p_e_fleiss, 1.0 - p_e_fleiss)
    fleiss[p_e_fleiss >= 1.0] = np.nan  # a single category: chance agreement is certain, kappa is 0 / 0
    ac1 = safe_divide(p_a - p_e_gwet, 1.0 - p_e_gwet)
    n_c = s[..., cols.pairable_values]
    n = n_c.sum(axis=-1)
    alpha = 1.0 - safe_divide((n - 1.0) * (n - s[..., cols.coincidences]), n * n - (n_c * n_c).sum(axis=-1))
    return {
        "fleiss_kappa": fleiss,
        "gwet_ac1": ac1,
        "krippendorff_alpha": alpha,
        "observed_agreement": p_a,
        "n_pairable_units": s[..., cols.n_pairable],
        "n_pairable_values": n,
    }


def _coefficient(ratings: NDArray[np.floating], categories: Sequence[float], name: str) -> float:
    counts = category_counts(ratings, categories)
    sums = unit_contributions(counts).sum(axis=0)
    return float(multi_rater_from_sums(sums, counts.shape[1])[name])


def fleiss_kappa(ratings: NDArray[np.floating], categories: Sequence[float] = VERDICT_CATEGORIES) -> float:
    """Fleiss' kappa of a (units x raters) rating matrix, nan = missing; in [-1, 1], nan if undefined."""
    return _coefficient(ratings, categories, "fleiss_kappa")


def gwet_ac1_multirater(ratings: NDArray[np.floating], categories: Sequence[float] = VERDICT_CATEGORIES) -> float:
    """Gwet's AC1 of a (units x raters) rating matrix, nan = missing; in [-1, 1], nan if no pairable unit.

    q = len(categories) enters chance agreement, so pass every possible
    category (binary verdicts: the default) even if some were never used.
    """
    return _coefficient(ratings, categories, "gwet_ac1")


def krippendorff_alpha(ratings: NDArray[np.floating], categories: Sequence[float] = VERDICT_CATEGORIES) -> float:
    """Krippendorff's alpha, nominal, of a (units x raters) matrix, nan = missing; <= 1, nan if undefined."""
    return _coefficient(ratings, categories, "krippendorff_alpha")
