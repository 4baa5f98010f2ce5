"""Per-cluster sufficient statistics: every agreement statistic is a function of cluster sums.

A verdict matrix ``V`` (n_units x n_raters; 1.0 passed, 0.0 failed, nan
unscored) is reduced once to a (n_clusters x n_columns) matrix of sums over the
units of each cluster (a cluster is a question: all its responses move together
in the bootstrap). Summing rows, each weighted by how often a bootstrap
resample drew that cluster, gives the sums of the resampled data set, so all
resamples of all statistics cost one matrix product (weights @ per_cluster) and
some elementwise arithmetic.

Columns, in order (k raters, P = k (k - 1) / 2 rater pairs i < j in
``np.triu_indices(k, 1)`` order):

- 4 P: the 2 x 2 table (a, b, c, d) of each pair, row rater i, column rater j,
  over units both scored (see :mod:`rlvr_bench.stats.tables`);
- 2 k: each rater's (n_passed, n_failed);
- 1: units (scored or not);
- with gold labels, 4 k + 2: each rater's table against gold (judge = row),
  then gold's (n_passed, n_failed);
- the multi-rater columns of :class:`rlvr_bench.stats.multirater.MultiRaterColumns`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rlvr_bench.stats import tables
from rlvr_bench.stats.multirater import MultiRaterColumns, multi_rater_from_sums, unit_contributions
from rlvr_bench.stats.tables import FloatArray

#: statistics of a 2 x 2 table, computed for every rater pair and every judge-vs-gold table
AGREEMENT_STATISTICS = (
    "observed_agreement",
    "cohen_kappa",
    "gwet_ac1",
    "pabak",
    "positive_agreement",
    "negative_agreement",
    "prevalence_index",
    "bias_index",
)
#: additional statistics of a judge-vs-gold table
GOLD_RATES = ("precision", "recall", "specificity", "false_positive_rate")


def check_verdicts(verdicts: NDArray[np.floating], raters: Sequence[str] | None = None) -> FloatArray:
    """The verdict matrix as float64 after checking shape (n_units, n_raters) and values {1.0, 0.0, nan}.

    Raises ValueError (a programming error, not user input: the caller builds V).
    """
    v = np.asarray(verdicts, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"verdict matrix must be 2-D (units x raters), got shape {v.shape}")
    bad = ~(np.isnan(v) | (v == 0.0) | (v == 1.0))
    if bad.any():
        unit, rater = np.argwhere(bad)[0]
        raise ValueError(f"verdict [{unit}, {rater}] = {v[unit, rater]!r}: must be 1.0, 0.0 or nan")
    if raters is not None:
        if len(raters) != v.shape[1]:
            raise ValueError(f"{len(raters)} rater names for {v.shape[1]} verdict columns")
        if len(set(raters)) != len(raters):
            raise ValueError(f"rater names must be unique, got {list(raters)}")
    return v


def encode_clusters(clusters: NDArray[np.integer] | None, n_units: int) -> tuple[NDArray[np.intp], int]:
    """Cluster codes as 0..n_clusters-1 (sorted by original code) and n_clusters.

    ``None`` makes every unit its own cluster (an ordinary, unclustered bootstrap).
    """
    if clusters is None:
        return np.arange(n_units, dtype=np.intp), n_units
    codes = np.asarray(clusters)
    if codes.shape != (n_units,):
        raise ValueError(f"clusters must have shape ({n_units},), got {codes.shape}")
    if codes.dtype.kind not in "iu":
        raise ValueError(f"clusters must be integer codes, got dtype {codes.dtype}")
    uniques, index = np.unique(codes, return_inverse=True)
    return index.astype(np.intp), int(uniques.size)


@dataclass(frozen=True)
class DesignLayout:
    """Where each block of sums lives in a per-cluster row (see the module docstring)."""

    n_raters: int
    has_gold: bool
    n_categories: int = 2

    @property
    def n_pairs(self) -> int:
        return self.n_raters * (self.n_raters - 1) // 2

    @property
    def pairs(self) -> slice:
        return slice(0, 4 * self.n_pairs)

    @property
    def raters(self) -> slice:
        start = self.pairs.stop
        return slice(start, start + 2 * self.n_raters)

    @property
    def units(self) -> int:
        return self.raters.stop

    @property
    def gold_tables(self) -> slice:
        start = self.units + 1
        return slice(start, start + (4 * self.n_raters if self.has_gold else 0))

    @property
    def gold_counts(self) -> slice:
        start = self.gold_tables.stop
        return slice(start, start + (2 if self.has_gold else 0))

    @property
    def multi(self) -> slice:
        start = self.gold_counts.stop
        return slice(start, start + MultiRaterColumns(self.n_categories).width)

    @property
    def width(self) -> int:
        return self.multi.stop


@dataclass(frozen=True, eq=False)
class Design:
    """Per-cluster sums of a verdict matrix: ``per_cluster`` has shape (n_clusters, layout.width), float64."""

    layout: DesignLayout
    per_cluster: FloatArray

    @property
    def n_clusters(self) -> int:
        return int(self.per_cluster.shape[0])

    def totals(self) -> FloatArray:
        """Sums over every cluster: the statistics of the data as observed."""
        return self.per_cluster.sum(axis=0)


def _cluster_table_counts(
    row: FloatArray, column: FloatArray, cluster_index: NDArray[np.intp], n_clusters: int
) -> FloatArray:
    """(n_clusters, 4) cells (a, b, c, d) of row vs column verdicts, over units where both are scored."""
    both = ~np.isnan(row) & ~np.isnan(column)
    # cell code: a (1, 1) -> 0, b (1, 0) -> 1, c (0, 1) -> 2, d (0, 0) -> 3
    cell = 2 * (row[both] == 0.0) + (column[both] == 0.0)
    counts = np.bincount(cluster_index[both] * 4 + cell, minlength=4 * n_clusters)
    return counts.reshape(n_clusters, 4).astype(np.float64)


def build_design(
    verdicts: NDArray[np.floating],
    cluster_index: NDArray[np.intp],
    n_clusters: int,
    gold: NDArray[np.floating] | None = None,
) -> Design:
    """Sum every per-unit term over the units of each cluster.

    ``verdicts`` is a checked (n_units, k) matrix, ``cluster_index`` codes in
    0..n_clusters-1 (see :func:`encode_clusters`), ``gold`` an optional
    (n_units,) vector of 1.0 / 0.0 / nan labels.
    """
    v = np.asarray(verdicts, dtype=np.float64)
    n_units, k = v.shape
    codes = np.asarray(cluster_index, dtype=np.intp)
    layout = DesignLayout(n_raters=k, has_gold=gold is not None)
    per_cluster = np.zeros((n_clusters, layout.width))
    if n_units == 0:
        return Design(layout=layout, per_cluster=per_cluster)
    # one bincount per table: no (units x columns) temporaries, cost linear in units
    v = np.ascontiguousarray(v.T).T  # column-major: each rater's verdicts contiguous
    pair_columns = per_cluster[:, layout.pairs].reshape(n_clusters, layout.n_pairs, 4)
    for p, (row, column) in enumerate(zip(*np.triu_indices(k, 1), strict=True)):
        pair_columns[:, p] = _cluster_table_counts(v[:, row], v[:, column], codes, n_clusters)
    per_cluster[:, layout.pairs] = pair_columns.reshape(n_clusters, -1)
    rater_columns = np.zeros((n_clusters, k, 2))
    for i in range(k):
        scored = ~np.isnan(v[:, i])
        cell = (v[scored, i] == 0.0).astype(np.intp)  # passed -> 0, failed -> 1
        rater_columns[:, i] = np.bincount(codes[scored] * 2 + cell, minlength=2 * n_clusters).reshape(-1, 2)
    per_cluster[:, layout.raters] = rater_columns.reshape(n_clusters, -1)
    per_cluster[:, layout.units] = np.bincount(codes, minlength=n_clusters)
    if gold is not None:
        g = np.asarray(gold, dtype=np.float64)
        gold_columns = np.stack([_cluster_table_counts(v[:, i], g, codes, n_clusters) for i in range(k)], axis=1)
        per_cluster[:, layout.gold_tables] = gold_columns.reshape(n_clusters, -1)
        labelled = ~np.isnan(g)
        cell = (g[labelled] == 0.0).astype(np.intp)
        per_cluster[:, layout.gold_counts] = np.bincount(codes[labelled] * 2 + cell,
                                                         minlength=2 * n_clusters).reshape(-1, 2)
    counts = np.stack([(v == 0.0).sum(axis=1), (v == 1.0).sum(axis=1)], axis=1).astype(np.float64)
    contributions = unit_contributions(counts)  # categories (0.0, 1.0)
    multi = per_cluster[:, layout.multi]
    for term in range(contributions.shape[1]):
        multi[:, term] = np.bincount(codes, weights=contributions[:, term], minlength=n_clusters)
    per_cluster[:, layout.multi] = multi
    return Design(layout=layout, per_cluster=per_cluster)


def _full_tables(layout: DesignLayout, sums: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """(a, b, c, d) as (..., k, k) arrays, row rater i and column rater j; the diagonal is each rater vs itself."""
    k = layout.n_raters
    lead = sums.shape[:-1]
    pair_cells = sums[..., layout.pairs].reshape(*lead, layout.n_pairs, 4)
    rater_cells = sums[..., layout.raters].reshape(*lead, k, 2)
    iu, ju = np.triu_indices(k, 1)
    diag = np.arange(k)
    a, b, c, d = (np.zeros((*lead, k, k)) for _ in range(4))
    a[..., iu, ju] = a[..., ju, iu] = pair_cells[..., 0]
    d[..., iu, ju] = d[..., ju, iu] = pair_cells[..., 3]
    # swapping row and column raters swaps the off-diagonal cells
    b[..., iu, ju] = c[..., ju, iu] = pair_cells[..., 1]
    c[..., iu, ju] = b[..., ju, iu] = pair_cells[..., 2]
    a[..., diag, diag] = rater_cells[..., 0]
    d[..., diag, diag] = rater_cells[..., 1]
    return a, b, c, d


def statistics_from_sums(layout: DesignLayout, sums: FloatArray) -> dict[str, FloatArray]:
    """Every statistic from sums of shape (..., layout.width); keys are prefixed by block.

    - ``pairwise.<name>``: (..., k, k) for each name in :data:`AGREEMENT_STATISTICS`,
      plus ``pairwise.n_scored`` and the cells ``pairwise.a`` .. ``pairwise.d``;
    - ``rater.n_passed``, ``rater.n_scored``, ``rater.pass_rate``: (..., k);
    - ``gold.<name>`` (..., k) for :data:`AGREEMENT_STATISTICS` and :data:`GOLD_RATES`,
      with ``gold.n_scored``, ``gold.a`` .. ``gold.d``, and ``gold.n_labelled`` (...);
    - ``multi.<name>`` (...) from :func:`multi_rater_from_sums`;
    - ``units`` (...): number of units.
    """
    s = np.asarray(sums, dtype=np.float64)
    out: dict[str, FloatArray] = {}
    a, b, c, d = _full_tables(layout, s)
    for name in AGREEMENT_STATISTICS:
        out[f"pairwise.{name}"] = getattr(tables, name)(a, b, c, d)
    out["pairwise.n_scored"] = tables.n_units(a, b, c, d)
    out.update({"pairwise.a": a, "pairwise.b": b, "pairwise.c": c, "pairwise.d": d})

    rater_cells = s[..., layout.raters].reshape(*s.shape[:-1], layout.n_raters, 2)
    out["rater.n_passed"] = rater_cells[..., 0]
    out["rater.n_scored"] = rater_cells.sum(axis=-1)
    out["rater.pass_rate"] = tables.safe_divide(rater_cells[..., 0], out["rater.n_scored"])
    out["units"] = s[..., layout.units]

    if layout.has_gold:
        cells = s[..., layout.gold_tables].reshape(*s.shape[:-1], layout.n_raters, 4)
        ga, gb, gc, gd = (cells[..., i] for i in range(4))
        for name in AGREEMENT_STATISTICS + GOLD_RATES:
            out[f"gold.{name}"] = getattr(tables, name)(ga, gb, gc, gd)
        out["gold.n_scored"] = tables.n_units(ga, gb, gc, gd)
        out.update({"gold.a": ga, "gold.b": gb, "gold.c": gc, "gold.d": gd})
        gold_counts = s[..., layout.gold_counts]
        out["gold.n_labelled"] = gold_counts.sum(axis=-1)
        out["gold.pass_rate"] = tables.safe_divide(gold_counts[..., 0], out["gold.n_labelled"])

    for name, value in multi_rater_from_sums(s[..., layout.multi], layout.n_categories).items():
        out[f"multi.{name}"] = value
    return out
