"""Typed results of the agreement statistics, each with a plain-JSON ``to_json()`` for results.json.

JSON conventions: arrays become nested lists; nan becomes None (null);
counts are ints; every interval is ``{"estimate": x, "ci_low": lo, "ci_high": hi}``
with the same shape for all three. Matrices are indexed [row rater][column rater]
in the order of ``raters``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.stats.tables import (
    PARADOX_MAX_KAPPA,
    PARADOX_MIN_ABS_PREVALENCE_INDEX,
    PARADOX_MIN_OBSERVED_AGREEMENT,
    FloatArray,
)

IntArray = NDArray[np.int64]


def json_value(value: Any) -> Any:
    """A numpy array or scalar as plain JSON: lists, int, bool, float, None for nan / inf."""
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return array.tolist()
    if array.dtype.kind in "iu":
        return array.astype(np.int64).tolist()
    as_list = array.astype(np.float64).tolist()
    return _nan_to_none(as_list)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if not math.isfinite(value) else value


@dataclass(frozen=True, eq=False)
class Estimate:
    """A statistic with its bootstrap percentile confidence interval; three arrays of one shape.

    ``estimate`` is computed on the observed data; ``ci_low`` / ``ci_high`` are
    the bootstrap percentile bounds (nan when there were no resamples, or the
    statistic was undefined in every resample). Units and range are those of
    the statistic (see the field that holds it).
    """

    estimate: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray

    def __getitem__(self, index: Any) -> Estimate:
        return Estimate(self.estimate[index], self.ci_low[index], self.ci_high[index])

    def to_json(self) -> dict[str, Any]:
        return {
            "estimate": json_value(self.estimate),
            "ci_low": json_value(self.ci_low),
            "ci_high": json_value(self.ci_high),
        }


#: the pairwise / gold statistics that carry an Estimate, in JSON order
PAIRWISE_ESTIMATES = (
    "observed_agreement",
    "cohen_kappa",
    "gwet_ac1",
    "pabak",
    "positive_agreement",
    "negative_agreement",
    "prevalence_index",
    "bias_index",
)
GOLD_ESTIMATES = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "false_positive_rate",
    "f1",
    "cohen_kappa",
    "gwet_ac1",
    "pabak",
    "prevalence_index",
    "bias_index",
)


@dataclass(frozen=True, eq=False)
class RaterSummary:
    """Per rater (judge), in the order of ``raters``: how many verdicts count and how often they pass.

    - ``n_scored``: units with a verdict (int, 0..n_units);
    - ``n_unscored``: units without one (judge failure), excluded pairwise (int);
    - ``pass_rate``: fraction of scored units judged passed (0..1; nan if none scored).
    """

    raters: tuple[str, ...]
    n_scored: IntArray
    n_unscored: IntArray
    pass_rate: Estimate

    def to_json(self) -> dict[str, Any]:
        return {
            "raters": list(self.raters),
            "n_scored": json_value(self.n_scored),
            "n_unscored": json_value(self.n_unscored),
            "pass_rate": self.pass_rate.to_json(),
        }


@dataclass(frozen=True, eq=False)
class PairwiseAgreement:
    """Agreement of every pair of raters: (k, k) matrices, [i][j] = row rater i vs column rater j.

    Only units scored by both raters count (unscored verdicts are excluded
    pairwise). The diagonal compares a rater with itself (kappa 1, or nan for a
    constant rater). Cells of the 2 x 2 table (ints): ``n_both_passed`` (a),
    ``n_row_passed_only`` (b), ``n_column_passed_only`` (c), ``n_both_failed`` (d);
    ``n_scored`` = a + b + c + d.

    Estimates (nan when the pair has no scored unit or the statistic is undefined):

    - ``observed_agreement``: p_o, fraction of units with the same verdict (0..1);
    - ``cohen_kappa``: (p_o - p_e) / (1 - p_e), p_e from each rater's pass rate
      (-1..1; nan when both raters gave one and the same verdict to every unit);
    - ``gwet_ac1``: Gwet's AC1, chance agreement 2 pi (1 - pi) (-1..1);
    - ``pabak``: 2 p_o - 1 (-1..1);
    - ``positive_agreement`` / ``negative_agreement``: 2a / (2a + b + c) and
      2d / (2d + b + c) (0..1);
    - ``prevalence_index``: (a - d) / n (-1..1; symmetric matrix);
    - ``bias_index``: (b - c) / n (-1..1; > 0 when the row rater passes more; antisymmetric).

    ``kappa_paradox`` (bool): high observed agreement, low kappa, skewed
    prevalence; the thresholds are in ``kappa_paradox_rule`` (see
    :mod:`rlvr_bench.stats.tables` for why). False on the diagonal.
    """

    raters: tuple[str, ...]
    n_scored: IntArray
    n_both_passed: IntArray
    n_row_passed_only: IntArray
    n_column_passed_only: IntArray
    n_both_failed: IntArray
    observed_agreement: Estimate
    cohen_kappa: Estimate
    gwet_ac1: Estimate
    pabak: Estimate
    positive_agreement: Estimate
    negative_agreement: Estimate
    prevalence_index: Estimate
    bias_index: Estimate
    kappa_paradox: NDArray[np.bool_]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "raters": list(self.raters),
            "n_scored": json_value(self.n_scored),
            "n_both_passed": json_value(self.n_both_passed),
            "n_row_passed_only": json_value(self.n_row_passed_only),
            "n_column_passed_only": json_value(self.n_column_passed_only),
            "n_both_failed": json_value(self.n_both_failed),
        }
        for name in PAIRWISE_ESTIMATES:
            out[name] = getattr(self, name).to_json()
        out["kappa_paradox"] = json_value(self.kappa_paradox)
        out["kappa_paradox_rule"] = {
            "min_observed_agreement": PARADOX_MIN_OBSERVED_AGREEMENT,
            "max_cohen_kappa": PARADOX_MAX_KAPPA,
            "min_abs_prevalence_index": PARADOX_MIN_ABS_PREVALENCE_INDEX,
        }
        return out


@dataclass(frozen=True, eq=False)
class MultiRaterAgreement:
    """Agreement of all raters at once (scalars), using every unit with at least two verdicts.

    - ``fleiss_kappa``: Fleiss' kappa generalised to missing verdicts (Gwet 2014) (-1..1);
    - ``gwet_ac1``: multi-rater Gwet's AC1 (-1..1);
    - ``krippendorff_alpha``: Krippendorff's alpha, nominal (<= 1);
    - ``observed_agreement``: mean over units of the fraction of agreeing rater
      pairs (0..1), the p_a of Fleiss and AC1;
    - ``n_pairable_units``: units with >= 2 verdicts (int);
    - ``n_pairable_values``: verdicts on those units (int), Krippendorff's n.
    """

    fleiss_kappa: Estimate
    gwet_ac1: Estimate
    krippendorff_alpha: Estimate
    observed_agreement: Estimate
    n_pairable_units: int
    n_pairable_values: int

    def to_json(self) -> dict[str, Any]:
        return {
            "fleiss_kappa": self.fleiss_kappa.to_json(),
            "gwet_ac1": self.gwet_ac1.to_json(),
            "krippendorff_alpha": self.krippendorff_alpha.to_json(),
            "observed_agreement": self.observed_agreement.to_json(),
            "n_pairable_units": self.n_pairable_units,
            "n_pairable_values": self.n_pairable_values,
        }


@dataclass(frozen=True, eq=False)
class GoldAgreement:
    """Each judge against gold labels: arrays of shape (k,), in the order of ``raters``.

    Gold is just another rater (the column rater of each table), so units
    without a gold label or without the judge's verdict are excluded.

    - ``n_labelled``: units with a gold label (int scalar); ``gold_pass_rate``:
      fraction of them labelled correct (0..1);
    - ``n_scored``: units with both a label and the judge's verdict (int);
    - ``n_unscored``: labelled units the judge failed to score (int);
    - ``true_positive`` (judge passed, gold correct), ``false_positive``
      (passed, gold incorrect), ``false_negative``, ``true_negative`` (ints);
    - ``accuracy`` (= observed agreement), ``precision``, ``recall`` (sensitivity),
      ``specificity``, ``false_positive_rate``, ``f1`` (= positive agreement): 0..1;
    - ``cohen_kappa``, ``gwet_ac1``, ``pabak``, ``prevalence_index``,
      ``bias_index`` (> 0: the judge passes more than gold): -1..1.
    """

    raters: tuple[str, ...]
    n_labelled: int
    gold_pass_rate: Estimate
    n_scored: IntArray
    n_unscored: IntArray
    true_positive: IntArray
    false_positive: IntArray
    false_negative: IntArray
    true_negative: IntArray
    accuracy: Estimate
    precision: Estimate
    recall: Estimate
    specificity: Estimate
    false_positive_rate: Estimate
    f1: Estimate
    cohen_kappa: Estimate
    gwet_ac1: Estimate
    pabak: Estimate
    prevalence_index: Estimate
    bias_index: Estimate

    def to_json(self) -> list[dict[str, Any]]:
        """One row per judge: ``{"judge": name, "n_scored": ..., "accuracy": {estimate, ci_low, ci_high}, ...}``."""
        rows = []
        for i, name in enumerate(self.raters):
            row: dict[str, Any] = {
                "judge": name,
                "n_labelled": self.n_labelled,
                "n_scored": int(self.n_scored[i]),
                "n_unscored": int(self.n_unscored[i]),
                "true_positive": int(self.true_positive[i]),
                "false_positive": int(self.false_positive[i]),
                "false_negative": int(self.false_negative[i]),
                "true_negative": int(self.true_negative[i]),
                "gold_pass_rate": self.gold_pass_rate.to_json(),
            }
            for stat in GOLD_ESTIMATES:
                row[stat] = getattr(self, stat)[i].to_json()
            rows.append(row)
        return rows


@dataclass(frozen=True, eq=False)
class AgreementStatistics:
    """Everything :func:`rlvr_bench.stats.agreement_statistics` computes for one verdict matrix.

    - ``raters``: rater (judge) names, the order of every per-rater axis;
    - ``n_units``: rows of the verdict matrix (responses); ``n_clusters``: distinct
      clusters (questions), the bootstrap's resampling unit;
    - ``n_bootstrap``, ``seed``, ``confidence`` (e.g. 0.95): how the intervals were made;
    - ``per_rater``, ``pairwise``, ``multi_rater``; ``gold`` is None without gold labels;
    - ``warnings``: one-line, human-readable notes (unscored verdicts, pairs with
      nothing in common, kappa paradoxes).
    """

    raters: tuple[str, ...]
    n_units: int
    n_clusters: int
    n_bootstrap: int
    seed: int
    confidence: float
    per_rater: RaterSummary
    pairwise: PairwiseAgreement
    multi_rater: MultiRaterAgreement
    gold: GoldAgreement | None
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "raters": list(self.raters),
            "n_units": self.n_units,
            "n_clusters": self.n_clusters,
            "bootstrap": {
                "n_resamples": self.n_bootstrap,
                "seed": self.seed,
                "confidence": self.confidence,
                "method": "percentile, clusters resampled with replacement",
            },
            "per_rater": self.per_rater.to_json(),
            "pairwise": self.pairwise.to_json(),
            "multi_rater": self.multi_rater.to_json(),
            "gold": None if self.gold is None else self.gold.to_json(),
            "warnings": list(self.warnings),
        }
