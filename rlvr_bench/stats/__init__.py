"""Agreement statistics for binary verdicts, with clustered-bootstrap confidence intervals.

Input convention: a verdict matrix ``V`` of shape (n_units, n_raters), float,
1.0 passed, 0.0 failed, nan unscored (judge failure), with rater names alongside,
and integer cluster codes (questions) of shape (n_units,).

- :func:`agreement_statistics`: everything, typed, with ``to_json()`` for results.json;
- point estimates: :func:`cohen_kappa_matrix`, :func:`gwet_ac1_matrix`,
  :func:`pairwise_point_estimates`, :func:`gold_point_estimates`,
  :func:`fleiss_kappa`, :func:`krippendorff_alpha`, :func:`gwet_ac1_multirater`;
- 2 x 2 table formulas: :mod:`rlvr_bench.stats.tables`.
"""

from rlvr_bench.stats.agreement import (
    cohen_kappa_matrix,
    fleiss_kappa,
    gold_point_estimates,
    gwet_ac1_matrix,
    gwet_ac1_multirater,
    krippendorff_alpha,
    pair_counts,
    pairwise_point_estimates,
)
from rlvr_bench.stats.results import (
    AgreementStatistics,
    Estimate,
    GoldAgreement,
    MultiRaterAgreement,
    PairwiseAgreement,
    RaterSummary,
)
from rlvr_bench.stats.summary import agreement_statistics, gold_agreement, multi_rater_agreement, pairwise_agreement

__all__ = [
    "AgreementStatistics",
    "Estimate",
    "GoldAgreement",
    "MultiRaterAgreement",
    "PairwiseAgreement",
    "RaterSummary",
    "agreement_statistics",
    "cohen_kappa_matrix",
    "fleiss_kappa",
    "gold_agreement",
    "gold_point_estimates",
    "gwet_ac1_matrix",
    "gwet_ac1_multirater",
    "krippendorff_alpha",
    "multi_rater_agreement",
    "pair_counts",
    "pairwise_agreement",
    "pairwise_point_estimates",
]
