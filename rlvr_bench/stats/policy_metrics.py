"""Policy quality from judged samples: accuracy, mean@n and pass@n, paired policy differences.

Input convention: ``passed`` is an (n_items, n_samples) matrix for one policy
and one judge, 1.0 judged correct, 0.0 judged incorrect, nan unscored (the
judge failed, the generation failed, or the item has no response). A bootstrap
resample draws whole items (questions), so the CIs hold however correlated the
samples of one item are; the resampling machinery is
:func:`rlvr_bench.stats.bootstrap.resample_sums` (every metric is a ratio of
sums over items).

- ``accuracy``: correct / scored over all samples (pooled);
- ``mean_at_n``: the mean over items of each item's fraction of correct scored
  samples (equals accuracy when every item has the same number of scored samples);
- ``pass_at_n``: the fraction of items with at least one correct sample.

Items with no scored sample count in none of the three (they are reported as
unscored). Paired differences between two policies use only the items both
have a scored sample on; McNemar's test pairs the *first* sample of each item,
because samples of one item are not independent pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.stats.bootstrap import percentile_interval, resample_sums
from rlvr_bench.stats.tables import FloatArray, safe_divide
from rlvr_bench.stats.verifier_metrics import Metric, mcnemar_test

#: per-item columns summed by the bootstrap, in order
_ITEM_COLUMNS = ("n_correct", "n_scored", "item_mean", "item_any", "has_scored")


def _metric(point: float, samples: FloatArray, n: int, confidence: float) -> Metric:
    if samples.size == 0:
        return Metric(float(point), float("nan"), float("nan"), n)
    low, high = percentile_interval(samples[:, None], confidence)
    return Metric(float(point), float(low[0]), float(high[0]), n)


def _check_matrix(passed: NDArray[np.floating]) -> FloatArray:
    matrix = np.asarray(passed, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"passed must be (n_items, n_samples), got shape {matrix.shape}")
    if not np.all(np.isnan(matrix) | (matrix == 0.0) | (matrix == 1.0)):
        raise ValueError("passed must hold 1.0, 0.0 or nan")
    return matrix


def item_columns(passed: NDArray[np.floating]) -> FloatArray:
    """(n_items, 5) per-item sums: correct, scored, mean of scored, any correct, has a scored sample."""
    matrix = _check_matrix(passed)
    scored = ~np.isnan(matrix)
    n_scored = scored.sum(axis=1).astype(np.float64)
    n_correct = np.nansum(matrix, axis=1)
    has_scored = (n_scored > 0).astype(np.float64)
    item_mean = np.where(n_scored > 0, n_correct / np.maximum(n_scored, 1.0), 0.0)
    item_any = (n_correct > 0).astype(np.float64)
    return np.stack([n_correct, n_scored, item_mean, item_any, has_scored], axis=1)


def _ratios(sums: FloatArray) -> dict[str, FloatArray]:
    n_correct, n_scored, item_mean, item_any, has_scored = (sums[..., i] for i in range(len(_ITEM_COLUMNS)))
    return {
        "accuracy": safe_divide(n_correct, n_scored),
        "mean_at_n": safe_divide(item_mean, has_scored),
        "pass_at_n": safe_divide(item_any, has_scored),
    }


@dataclass(frozen=True)
class PolicyAccuracy:
    """Accuracy, mean@n and pass@n of one policy under one judge, with bootstrap CIs over items.

    ``accuracy.n`` counts scored samples; ``mean_at_n.n`` and ``pass_at_n.n`` count items with a
    scored sample. ``n_unscored`` counts samples without a verdict (judge or generation failure,
    or no response). All estimates are fractions in [0, 1] (nan when nothing was scored).
    """

    accuracy: Metric
    mean_at_n: Metric
    pass_at_n: Metric
    n_items: int
    n_samples: int
    n_unscored: int

    def to_json(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy.to_json(),
            "mean_at_n": self.mean_at_n.to_json(),
            "pass_at_n": self.pass_at_n.to_json(),
            "n_items": self.n_items,
            "n_samples": self.n_samples,
            "n_unscored": self.n_unscored,
        }


def policy_accuracy(passed: NDArray[np.floating], n_bootstrap: int, seed: int,
                    confidence: float = 0.95) -> PolicyAccuracy:
    """Accuracy, mean@n and pass@n of an (n_items, n_samples) verdict matrix; the bootstrap resamples items."""
    matrix = _check_matrix(passed)
    columns = item_columns(matrix)
    totals = columns.sum(axis=0)
    point = _ratios(totals)
    boot = _ratios(resample_sums(columns, n_bootstrap, seed)) if matrix.shape[0] else {
        name: np.zeros(0) for name in point}
    n_scored, n_items_scored = int(totals[1]), int(totals[4])
    return PolicyAccuracy(
        accuracy=_metric(float(point["accuracy"]), boot["accuracy"], n_scored, confidence),
        mean_at_n=_metric(float(point["mean_at_n"]), boot["mean_at_n"], n_items_scored, confidence),
        pass_at_n=_metric(float(point["pass_at_n"]), boot["pass_at_n"], n_items_scored, confidence),
        n_items=int(matrix.shape[0]),
        n_samples=int(matrix.shape[1]),
        n_unscored=int(np.isnan(matrix).sum()),
    )


@dataclass(frozen=True)
class PairedComparison:
    """Policy A minus policy B on the same items, under one judge.

    ``difference``: mean over items both scored of (A's item mean - B's item mean), a difference
    of fractions in [-1, 1], with a paired bootstrap CI (both policies' values of an item move
    together); its ``n`` counts those items. McNemar's test pairs the first sample of each item
    both scored: ``a_only`` items A got right and B wrong, ``b_only`` the reverse.
    """

    difference: Metric
    a_only: int
    b_only: int
    both_correct: int
    both_wrong: int
    statistic: float
    p_value: float
    method: str

    def to_json(self) -> dict[str, Any]:
        def finite(value: float) -> float | None:
            return float(value) if np.isfinite(value) else None

        return {
            "difference": self.difference.to_json(),
            "mcnemar": {
                "n": self.a_only + self.b_only + self.both_correct + self.both_wrong,
                "a_only_correct": self.a_only, "b_only_correct": self.b_only,
                "both_correct": self.both_correct, "both_wrong": self.both_wrong,
                "statistic": finite(self.statistic), "p_value": finite(self.p_value), "method": self.method,
            },
        }


def paired_comparison(passed_a: NDArray[np.floating], passed_b: NDArray[np.floating], n_bootstrap: int,
                      seed: int, confidence: float = 0.95) -> PairedComparison:
    """Compare two (n_items, n_samples) verdict matrices whose rows are the same items in the same order."""
    a, b = _check_matrix(passed_a), _check_matrix(passed_b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"both policies must cover the same items, got {a.shape[0]} and {b.shape[0]} rows")
    cols_a, cols_b = item_columns(a), item_columns(b)
    both = (cols_a[:, 4] > 0) & (cols_b[:, 4] > 0)
    per_item = np.stack([np.where(both, cols_a[:, 2] - cols_b[:, 2], 0.0), both.astype(np.float64)], axis=1)
    totals = per_item.sum(axis=0)
    point = float(safe_divide(totals[0], totals[1]))
    if a.shape[0]:
        boot_sums = resample_sums(per_item, n_bootstrap, seed)
        samples = safe_divide(boot_sums[:, 0], boot_sums[:, 1])
    else:
        samples = np.zeros(0)
    first_a, first_b = (a[:, 0], b[:, 0]) if a.shape[1] and b.shape[1] else (np.zeros(0), np.zeros(0))
    paired = ~np.isnan(first_a) & ~np.isnan(first_b)
    right_a, right_b = first_a[paired] == 1.0, first_b[paired] == 1.0
    a_only, b_only = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    test = mcnemar_test(a_only, b_only)
    return PairedComparison(
        difference=_metric(point, samples, int(totals[1]), confidence),
        a_only=a_only, b_only=b_only,
        both_correct=int(np.sum(right_a & right_b)), both_wrong=int(np.sum(~right_a & ~right_b)),
        statistic=test.statistic, p_value=test.p_value, method=test.method,
    )


def judge_gap_change(after_own: NDArray[np.floating], after_other: NDArray[np.floating],
                     before_own: NDArray[np.floating], before_other: NDArray[np.floating], n_bootstrap: int,
                     seed: int, confidence: float = 0.95) -> Metric:
    """How much more one judge credits a policy's change than another judge does: (after - before under the
    "own" judge) - (after - before under the "other" judge), in accuracy, on the items all four matrices score.

    Positive: training raised the own judge's accuracy more than the other's (a policy trained on a reward of
    the own judge's family pleasing that family: held-out reward hacking). The CI resamples items (paired)."""
    columns = [item_columns(m) for m in (after_own, after_other, before_own, before_other)]
    if len({c.shape[0] for c in columns}) != 1:
        raise ValueError("all four matrices must cover the same items")
    scored = np.all([c[:, 4] > 0 for c in columns], axis=0)
    means = [c[:, 2] for c in columns]
    change = (means[0] - means[2]) - (means[1] - means[3])
    per_item = np.stack([np.where(scored, change, 0.0), scored.astype(np.float64)], axis=1)
    totals = per_item.sum(axis=0)
    point = float(safe_divide(totals[0], totals[1]))
    if not per_item.shape[0]:
        return _metric(point, np.zeros(0), 0, confidence)
    boot_sums = resample_sums(per_item, n_bootstrap, seed)
    return _metric(point, safe_divide(boot_sums[:, 0], boot_sums[:, 1]), int(totals[1]), confidence)
