"""How accurate is a verifier against gold labels? Binary and soft metrics with clustered-bootstrap CIs.

Inputs follow the agreement convention: ``passed`` is (n_units, n_judges) with
1.0 passed, 0.0 failed, nan unscored; ``gold`` is (n_units,) with 1.0 correct,
0.0 incorrect (callers keep only labelled units); ``clusters`` (n_units,) are
integer question codes, so a bootstrap resample draws whole questions.

Every metric is a ratio of sums over units, so each one is computed from
per-cluster sums and the bootstrap re-weights those sums
(:func:`rlvr_bench.stats.bootstrap.resample_sums`): all judges, all metrics and
all resamples of a subset cost one matrix product, and every metric of a subset
sees the *same* resamples (paired).

Binary metrics (per judge; unscored verdicts are excluded and counted):

- ``accuracy`` (tp + tn) / scored; ``balanced_accuracy`` (recall + specificity) / 2;
- ``precision`` tp / (tp + fp); ``recall`` tp / (tp + fn); ``f1`` 2 tp / (2 tp + fp + fn);
- ``false_positive_rate`` fp / (fp + tn): how often a wrong answer is rewarded;
- ``false_negative_rate`` fn / (fn + tp): how often a right answer goes unrewarded;
- ``unscored_rate`` unscored / labelled units.

Soft metrics (judges whose verdicts carry ``p_pass``): ``auroc`` (ties count one half,
as ``sklearn.metrics.roc_auc_score``), ``brier`` mean (p - y)^2, ``ece`` expected
calibration error over equal-width bins, reliability bins, and the in-sample best
threshold on p_pass (maximising balanced accuracy, i.e. Youden's J).

Undefined values (empty denominators, a class missing) are nan, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scipy_stats

from rlvr_bench.stats.bootstrap import iter_cluster_weights, percentile_interval, resample_sums, rows_per_chunk
from rlvr_bench.stats.design import encode_clusters
from rlvr_bench.stats.tables import FloatArray, safe_divide

#: per-judge confusion cells, in the order of the last axis of count arrays
CONFUSION_CELLS = ("tp", "fp", "fn", "tn", "unscored")
BINARY_METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1",
                  "false_positive_rate", "false_negative_rate", "unscored_rate")
#: which count each metric's ``n`` reports (its denominator)
_METRIC_N = {"accuracy": "scored", "balanced_accuracy": "scored", "precision": "predicted_positive",
             "recall": "positive", "f1": "scored", "false_positive_rate": "negative",
             "false_negative_rate": "positive", "unscored_rate": "labelled"}
#: McNemar uses the exact binomial test below this many discordant pairs, else chi-square with
#: continuity correction (the usual rule: the chi-square approximation needs b + c >= 25)
MCNEMAR_EXACT_BELOW = 25
DEFAULT_CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Metric:
    """A metric with its bootstrap percentile CI and the number of units its denominator counts.

    ``estimate``/``ci_low``/``ci_high`` are nan when undefined (JSON null); ``n`` is an int.
    """

    estimate: float
    ci_low: float
    ci_high: float
    n: int

    def to_json(self) -> dict[str, Any]:
        return {"estimate": _finite(self.estimate), "ci_low": _finite(self.ci_low),
                "ci_high": _finite(self.ci_high), "n": int(self.n)}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _metric(estimate: Any, samples: FloatArray | None, n: Any, confidence: float) -> Metric:
    if samples is None or samples.shape[0] == 0:
        low = high = math.nan
    else:
        lo, hi = percentile_interval(samples[:, None], confidence)
        low, high = float(lo[0]), float(hi[0])
    return Metric(float(estimate), low, high, round(float(n)))


# ------------------------------------------------------------------ binary metrics


def confusion_per_unit(passed: NDArray[np.floating], gold: NDArray[np.floating]) -> FloatArray:
    """(n_units, n_judges, 5) indicators of the cells tp, fp, fn, tn, unscored (see :data:`CONFUSION_CELLS`)."""
    v = np.asarray(passed, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)[:, None]
    if v.ndim != 2 or g.shape[0] != v.shape[0]:
        raise ValueError(f"passed must be (n_units, n_judges) and gold (n_units,), got {v.shape} and {g.shape[:1]}")
    if np.isnan(g).any():
        raise ValueError("gold must be 1.0 or 0.0 on every unit (drop unlabelled units first)")
    cells = ((v == 1.0) & (g == 1.0), (v == 1.0) & (g == 0.0), (v == 0.0) & (g == 1.0), (v == 0.0) & (g == 0.0),
             np.isnan(v) & (g == g))
    return np.stack(cells, axis=-1).astype(np.float64)


def binary_metrics(counts: FloatArray) -> dict[str, FloatArray]:
    """Every metric of :data:`BINARY_METRICS`, plus their denominators, from counts of shape (..., 5)."""
    c = np.asarray(counts, dtype=np.float64)
    tp, fp, fn, tn, unscored = (c[..., i] for i in range(5))
    scored = tp + fp + fn + tn
    recall = safe_divide(tp, tp + fn)
    specificity = safe_divide(tn, tn + fp)
    return {
        "accuracy": safe_divide(tp + tn, scored),
        "balanced_accuracy": (recall + specificity) / 2.0,
        "precision": safe_divide(tp, tp + fp),
        "recall": recall,
        "f1": safe_divide(2.0 * tp, 2.0 * tp + fp + fn),
        "false_positive_rate": safe_divide(fp, fp + tn),
        "false_negative_rate": safe_divide(fn, fn + tp),
        "unscored_rate": safe_divide(unscored, scored + unscored),
        # denominators, reported as each metric's n
        "scored": scored, "predicted_positive": tp + fp, "positive": tp + fn, "negative": fp + tn,
        "labelled": scored + unscored,
    }


def sum_by_cluster(per_unit: FloatArray, cluster_index: NDArray[np.intp], n_clusters: int) -> FloatArray:
    """(n_clusters, ...) sums of ``per_unit`` (n_units, ...) over the units of each cluster."""
    out = np.zeros((n_clusters, *per_unit.shape[1:]))
    np.add.at(out, cluster_index, per_unit)
    return out


def clustered_share(hits: NDArray[np.bool_], counted: NDArray[np.bool_], clusters: NDArray[np.integer],
                    n_bootstrap: int, seed: int, confidence: float = 0.95) -> Metric:
    """hits / counted over the units, with a percentile CI from the bootstrap over clusters (each resample's
    share is the ratio of its resampled sums); ``n`` = units counted."""
    index, n_clusters = _subset_clusters(clusters)
    units = np.stack([hits & counted, counted], axis=1).astype(np.float64)
    boot = resample_sums(sum_by_cluster(units, index, n_clusters), n_bootstrap, seed)
    return _metric(safe_divide(units[:, 0].sum(), units[:, 1].sum()), safe_divide(boot[:, 0], boot[:, 1]),
                   units[:, 1].sum(), confidence)


# ------------------------------------------------------------------ soft metrics


@dataclass(frozen=True)
class SoftLayout:
    """Column layout of the soft sums: L distinct score levels and B calibration bins.

    Columns: positives at each level (L), negatives at each level (L), squared
    error, count, then per bin: count (B), sum of p (B), sum of y (B).
    """

    levels: FloatArray
    n_bins: int

    @property
    def width(self) -> int:
        return 2 * self.levels.size + 2 + 3 * self.n_bins


@dataclass(frozen=True, eq=False)
class SoftUnits:
    """Scores and labels of the units of one judge, pre-sorted for weighted sums (see :func:`soft_sums`)."""

    layout: SoftLayout
    #: unit order by ascending score, and where each score level starts in that order
    order: NDArray[np.intp]
    level_starts: NDArray[np.intp]
    labels: FloatArray
    #: (n_units, 2 + 3 B): squared error, 1, bin one-hot, bin one-hot * p, bin one-hot * y
    dense: FloatArray

    @classmethod
    def of(cls, p_pass: FloatArray, gold: FloatArray, n_bins: int) -> SoftUnits:
        p = np.asarray(p_pass, dtype=np.float64)
        y = np.asarray(gold, dtype=np.float64)
        order = np.argsort(p, kind="stable")
        sorted_p = p[order]
        starts = np.flatnonzero(np.r_[True, sorted_p[1:] != sorted_p[:-1]]) if p.size else np.zeros(0, np.intp)
        layout = SoftLayout(levels=sorted_p[starts], n_bins=n_bins)
        # bin b holds [b / B, (b + 1) / B); p = 1.0 goes to the last bin
        one_hot = np.eye(n_bins)[np.minimum((p * n_bins).astype(np.intp), n_bins - 1)]
        dense = np.concatenate([((p - y) ** 2)[:, None], np.ones((p.size, 1)), one_hot, one_hot * p[:, None],
                                one_hot * y[:, None]], axis=1)
        return cls(layout, order, starts, y, dense)


def soft_sums(units: SoftUnits, unit_weights: FloatArray) -> FloatArray:
    """(R, layout.width) weighted sums for R weight rows of shape (R, n_units).

    Weight 1 on every unit gives the observed data; a bootstrap row weights each
    unit by how often its cluster was drawn. Level sums use the pre-sorted order,
    so the cost is O(R n_units) however many distinct scores there are.
    """
    w = np.asarray(unit_weights, dtype=np.float64)
    rows = w.shape[0]
    if units.labels.size == 0:
        return np.zeros((rows, units.layout.width))
    w_sorted = w[:, units.order]
    y_sorted = units.labels[units.order]
    positives = np.add.reduceat(w_sorted * y_sorted, units.level_starts, axis=1)
    negatives = np.add.reduceat(w_sorted * (1.0 - y_sorted), units.level_starts, axis=1)
    return np.concatenate([positives, negatives, w @ units.dense], axis=1)


def soft_metrics_from_sums(layout: SoftLayout, sums: FloatArray) -> dict[str, FloatArray]:
    """AUROC, Brier, ECE, per-bin reliability and the best threshold from sums of shape (..., width)."""
    s = np.asarray(sums, dtype=np.float64)
    n_levels, n_bins = layout.levels.size, layout.n_bins
    pos, neg = s[..., :n_levels], s[..., n_levels : 2 * n_levels]
    n_pos, n_neg = pos.sum(axis=-1), neg.sum(axis=-1)
    # a positive at level j beats every negative strictly below j and ties half of those at j
    neg_below = np.cumsum(neg, axis=-1) - neg
    auroc = safe_divide((pos * (neg_below + 0.5 * neg)).sum(axis=-1), n_pos * n_neg)
    count = s[..., 2 * n_levels + 1]
    base = 2 * n_levels + 2
    bin_count = s[..., base : base + n_bins]
    bin_p, bin_y = s[..., base + n_bins : base + 2 * n_bins], s[..., base + 2 * n_bins : base + 3 * n_bins]
    # threshold at level j: passed iff p >= levels[j]; counts at or above j come from reversed cumsums
    tp_at = np.flip(np.cumsum(np.flip(pos, -1), axis=-1), -1)
    fp_at = np.flip(np.cumsum(np.flip(neg, -1), axis=-1), -1)
    tpr = safe_divide(tp_at, n_pos[..., None])
    tnr = 1.0 - safe_divide(fp_at, n_neg[..., None])
    balanced = (tpr + tnr) / 2.0
    defined = np.isfinite(balanced).any(axis=-1)
    levels = layout.levels
    if not n_levels:  # no scored unit: one undefined level keeps the shapes below valid
        tp_at = fp_at = np.zeros((*s.shape[:-1], 1))
        balanced = np.full((*s.shape[:-1], 1), np.nan)
        levels = np.array([np.nan])
    # ties go to the lowest threshold (argmax returns the first maximum)
    best = np.argmax(np.where(np.isfinite(balanced), balanced, -np.inf), axis=-1)
    take = np.expand_dims(best, -1)
    tp_best = np.take_along_axis(tp_at, take, -1)[..., 0]
    fp_best = np.take_along_axis(fp_at, take, -1)[..., 0]
    nan = np.full(np.shape(best), np.nan)
    return {
        "auroc": auroc,
        "brier": safe_divide(s[..., 2 * n_levels], count),
        "ece": safe_divide(np.abs(bin_y - bin_p).sum(axis=-1), count),
        "n": count,
        "n_positive": n_pos,
        "n_negative": n_neg,
        "bin_count": bin_count,
        "bin_mean_predicted": safe_divide(bin_p, bin_count),
        "bin_observed_rate": safe_divide(bin_y, bin_count),
        "best_threshold": np.where(defined, levels[best], nan),
        "best_balanced_accuracy": np.where(defined, np.take_along_axis(balanced, take, -1)[..., 0], nan),
        "best_accuracy": np.where(defined, safe_divide(tp_best + n_neg - fp_best, count), nan),
        "best_true_positive_rate": np.where(defined, safe_divide(tp_best, n_pos), nan),
        "best_false_positive_rate": np.where(defined, safe_divide(fp_best, n_neg), nan),
    }


# ------------------------------------------------------------------ McNemar


@dataclass(frozen=True)
class McNemar:
    """McNemar's test on the units both judges scored: do their accuracies differ?

    ``a_only`` counts units judge A got right and B wrong, ``b_only`` the reverse;
    ``method`` is "exact" (two-sided binomial, statistic min(a_only, b_only)) or
    "chi2" (continuity-corrected, 1 degree of freedom), as statsmodels' ``mcnemar``.
    """

    a_only: int
    b_only: int
    statistic: float
    p_value: float
    method: str


def mcnemar_test(a_only: int, b_only: int, exact: bool | None = None) -> McNemar:
    """McNemar's test from the discordant counts; ``exact=None`` picks by :data:`MCNEMAR_EXACT_BELOW`."""
    discordant = a_only + b_only
    use_exact = discordant < MCNEMAR_EXACT_BELOW if exact is None else exact
    if use_exact:
        statistic = float(min(a_only, b_only))
        p_value = min(1.0, 2.0 * float(scipy_stats.binom.cdf(statistic, discordant, 0.5)))
        return McNemar(a_only, b_only, statistic, p_value, "exact")
    statistic = (abs(a_only - b_only) - 1.0) ** 2 / discordant if discordant else math.nan
    p_value = float(scipy_stats.chi2.sf(statistic, 1)) if discordant else math.nan
    return McNemar(a_only, b_only, statistic, p_value, "chi2")


# ------------------------------------------------------------------ everything for one subset


def _subset_clusters(clusters: NDArray[np.integer]) -> tuple[NDArray[np.intp], int]:
    return encode_clusters(np.asarray(clusters, dtype=np.int64), len(clusters))


def judge_metrics(passed: NDArray[np.floating], gold: NDArray[np.floating], clusters: NDArray[np.integer],
                  judges: Sequence[str], n_bootstrap: int, seed: int,
                  confidence: float = 0.95) -> dict[str, dict[str, Any]]:
    """Per judge: the counts and every binary metric as ``Metric.to_json()``.

    Shape: ``{judge: {"counts": {tp, fp, fn, tn, unscored}, "<metric>": {estimate, ci_low, ci_high, n}}}``.
    With no unit at all every metric is null with n = 0.
    """
    v = np.asarray(passed, dtype=np.float64)
    n_units, k = v.shape
    per_unit = confusion_per_unit(v, gold).reshape(n_units, k * 5)
    if n_units:
        index, n_clusters = _subset_clusters(clusters)
        per_cluster = sum_by_cluster(per_unit, index, n_clusters)
        totals = per_cluster.sum(axis=0).reshape(k, 5)
        boot = resample_sums(per_cluster, n_bootstrap, seed).reshape(n_bootstrap, k, 5)
    else:
        totals = np.zeros((k, 5))
        boot = np.zeros((0, k, 5))
    point, resampled = binary_metrics(totals), binary_metrics(boot)
    out: dict[str, dict[str, Any]] = {}
    for j, name in enumerate(judges):
        entry: dict[str, Any] = {"counts": {cell: int(totals[j, i]) for i, cell in enumerate(CONFUSION_CELLS)}}
        for metric in BINARY_METRICS:
            entry[metric] = _metric(point[metric][j], resampled[metric][:, j], point[_METRIC_N[metric]][j],
                                    confidence).to_json()
        out[name] = entry
    return out


def soft_metrics(p_pass: NDArray[np.floating], gold: NDArray[np.floating], clusters: NDArray[np.integer],
                 n_bootstrap: int, seed: int, n_bins: int = DEFAULT_CALIBRATION_BINS,
                 confidence: float = 0.95) -> dict[str, Any]:
    """Soft-score metrics of one judge over the units with a score (nan scores are dropped).

    Returns ``{"n", "n_positive", "n_negative", "auroc", "brier", "ece": Metric JSON,
    "best_threshold": {"threshold", "balanced_accuracy", "accuracy", "true_positive_rate",
    "false_positive_rate": Metric JSON, "rule": ...}, "reliability": {"n_bins", "bins": [...]}}``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    p = np.asarray(p_pass, dtype=np.float64)
    keep = ~np.isnan(p)
    p, y, codes = p[keep], np.asarray(gold, dtype=np.float64)[keep], np.asarray(clusters)[keep]
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("p_pass must lie in [0, 1]")
    units = SoftUnits.of(p, y, n_bins)
    layout = units.layout
    totals = soft_sums(units, np.ones((1, p.size)))[0]
    chunks = []
    if p.size:
        index, n_clusters = _subset_clusters(codes)
        # same weights as resample_sums(seed) draws, so soft and binary metrics share resamples
        chunk_rows = rows_per_chunk(max(p.size, layout.width), 32 * 2**20)
        for weights in iter_cluster_weights(n_clusters, n_bootstrap, seed, chunk_rows):
            chunks.append(soft_sums(units, weights[:, index].astype(np.float64)))
    boot = np.concatenate(chunks) if chunks else np.zeros((0, layout.width))
    point, resampled = soft_metrics_from_sums(layout, totals), soft_metrics_from_sums(layout, boot)
    n = point["n"]

    def metric(name: str, count: Any = n) -> dict[str, Any]:
        return _metric(point[name], resampled[name], count, confidence).to_json()

    bins = []
    for b in range(n_bins):
        observed = _metric(point["bin_observed_rate"][b], resampled["bin_observed_rate"][:, b],
                           point["bin_count"][b], confidence)
        bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "count": int(point["bin_count"][b]),
                     "mean_predicted": _finite(float(point["bin_mean_predicted"][b])),
                     "observed_rate": observed.to_json()})
    return {
        "n": int(n), "n_positive": int(point["n_positive"]), "n_negative": int(point["n_negative"]),
        "auroc": metric("auroc"),
        "brier": metric("brier"),
        "ece": metric("ece"),
        "best_threshold": {
            "rule": "passed iff p_pass >= threshold; the threshold (one of the observed scores) maximises "
                    "balanced accuracy (Youden's J) in sample, so its accuracy is optimistic; ties go to the "
                    "lowest threshold",
            "threshold": metric("best_threshold"),
            "balanced_accuracy": metric("best_balanced_accuracy"),
            "accuracy": metric("best_accuracy"),
            "true_positive_rate": metric("best_true_positive_rate", point["n_positive"]),
            "false_positive_rate": metric("best_false_positive_rate", point["n_negative"]),
        },
        "reliability": {"n_bins": n_bins, "bins": bins},
    }


def pairwise_mcnemar(passed: NDArray[np.floating], gold: NDArray[np.floating], clusters: NDArray[np.integer],
                     judges: Sequence[str], n_bootstrap: int, seed: int,
                     confidence: float = 0.95) -> list[dict[str, Any]]:
    """McNemar's test and the accuracy difference (A - B, with CI) for every pair of judges i < j.

    Only units both judges scored count. Each entry: ``judge_a``, ``judge_b``, ``n`` (both scored),
    ``both_correct``, ``a_only_correct``, ``b_only_correct``, ``both_wrong``, ``statistic``,
    ``p_value``, ``method`` and ``accuracy_difference`` (Metric JSON).
    """
    v = np.asarray(passed, dtype=np.float64)
    g = np.asarray(gold, dtype=np.float64)
    n_units, k = v.shape
    pairs = [(i, j) for i in range(k) for j in range(i + 1, k)]
    if not pairs:
        return []
    correct = np.where(np.isnan(v), np.nan, (v == g[:, None]).astype(np.float64))
    columns = []
    for i, j in pairs:
        both = ~np.isnan(correct[:, i]) & ~np.isnan(correct[:, j])
        ci, cj = correct[:, i] == 1.0, correct[:, j] == 1.0
        columns += [both & ci & cj, both & ci & ~cj, both & ~ci & cj, both & ~ci & ~cj]
    per_unit = np.stack(columns, axis=1).astype(np.float64) if n_units else np.zeros((0, 4 * len(pairs)))
    if n_units:
        index, n_clusters = _subset_clusters(clusters)
        per_cluster = sum_by_cluster(per_unit, index, n_clusters)
        totals = per_cluster.sum(axis=0).reshape(len(pairs), 4)
        boot = resample_sums(per_cluster, n_bootstrap, seed).reshape(n_bootstrap, len(pairs), 4)
    else:
        totals, boot = np.zeros((len(pairs), 4)), np.zeros((0, len(pairs), 4))

    def difference(cells: FloatArray) -> FloatArray:
        return safe_divide(cells[..., 1] - cells[..., 2], cells.sum(axis=-1))

    point_diff, boot_diff = difference(totals), difference(boot)
    out = []
    for p, (i, j) in enumerate(pairs):
        both_correct, a_only, b_only, both_wrong = (int(x) for x in totals[p])
        test = mcnemar_test(a_only, b_only)
        out.append({
            "judge_a": judges[i], "judge_b": judges[j], "n": both_correct + a_only + b_only + both_wrong,
            "both_correct": both_correct, "a_only_correct": a_only, "b_only_correct": b_only,
            "both_wrong": both_wrong, "statistic": _finite(test.statistic), "p_value": _finite(test.p_value),
            "method": test.method,
            "accuracy_difference": _metric(point_diff[p], boot_diff[:, p], totals[p].sum(), confidence).to_json(),
        })
    return out
