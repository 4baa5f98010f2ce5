"""How fast is rlvr_bench.stats against the usual libraries, and does it compute the same numbers?

Synthetic verdicts with realistic correlation: ~3 responses per question, each
response right or wrong around a per-question difficulty, each judge with its own
sensitivity and specificity, ~1% unscored verdicts, gold = the latent truth.

- ours: ``agreement_statistics`` (pairwise kappa / AC1 / PABAK / ..., Fleiss,
  Krippendorff, AC1, judge-vs-gold) with N clustered bootstrap resamples;
- baseline: the same point estimates through scikit-learn (``cohen_kappa_score``
  per pair on pairwise-complete units; accuracy / precision / recall / F1 / kappa
  per judge against gold), ``krippendorff.alpha`` and statsmodels'
  ``fleiss_kappa``, then the same calls on materialised cluster resamples. The
  library bootstrap is timed on a few resamples and extrapolated linearly.

statsmodels' Fleiss needs the same number of ratings per unit, so Fleiss is
compared on the complete-case units (both sides computed on that subset).

Wall time, CPU time (the statistics run on one BLAS thread, so on an idle machine wall ~ CPU)
and the process's peak resident memory are printed for ours. Beyond 200,000 items the
library baseline is skipped unless ``--baseline`` is given (it would take hours there).

    python benchmarks/agreement_speed.py                      # 10 judges x 100,000 items, 1,000 resamples
    python benchmarks/agreement_speed.py --items 1000000      # ours only: wall, CPU, peak memory
    python benchmarks/agreement_speed.py --items 3000 --judges 4 --bootstrap 100 --library-resamples 3

``--judge NAME`` is accepted for symmetry with the other benchmarks and only labels the output
(the verdicts are synthetic).
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings
from collections.abc import Sequence
from typing import Any

import krippendorff
import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_score, recall_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from rlvr_bench.stats import agreement_statistics, fleiss_kappa
from rlvr_bench.stats.bootstrap import cluster_weights
from rlvr_bench.stats.design import build_design, encode_clusters, statistics_from_sums

TARGET_RATIO = 20.0
MAX_DIFFERENCE = 1e-9


def synthetic_verdicts(
    n_items: int, n_judges: int, seed: int, unscored: float = 0.01
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """(verdicts, question codes, gold) for ``n_items`` responses to ~n_items / 3 questions."""
    rng = np.random.default_rng(seed)
    n_questions = max(1, n_items // 3)
    clusters = np.sort(rng.integers(0, n_questions, size=n_items))
    difficulty = rng.beta(2.0, 2.0, size=n_questions)  # P(a response to this question is right)
    correct = rng.random(n_items) < difficulty[clusters]
    sensitivity = rng.uniform(0.80, 0.98, size=n_judges)
    specificity = rng.uniform(0.70, 0.97, size=n_judges)
    draw = rng.random((n_items, n_judges))
    passed = np.where(correct[:, None], draw < sensitivity, draw > specificity)
    verdicts = passed.astype(np.float64)
    verdicts[rng.random(verdicts.shape) < unscored] = np.nan
    return verdicts, clusters, correct.astype(np.float64)


def library_statistics(verdicts: NDArray[np.float64], gold: NDArray[np.float64]) -> dict[str, Any]:
    """The point estimates the libraries can give, computed the usual way (one call per pair / judge)."""
    k = verdicts.shape[1]
    scored = ~np.isnan(verdicts)
    kappa = np.full((k, k), np.nan)
    agreement = np.full((k, k), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(k):
            for j in range(i + 1, k):
                both = scored[:, i] & scored[:, j]
                kappa[i, j] = kappa[j, i] = cohen_kappa_score(verdicts[both, i], verdicts[both, j])
                agreement[i, j] = agreement[j, i] = accuracy_score(verdicts[both, i], verdicts[both, j])
        gold_rows = []
        for j in range(k):
            y_true, y_pred = gold[scored[:, j]], verdicts[scored[:, j], j]
            gold_rows.append([
                accuracy_score(y_true, y_pred),
                precision_score(y_true, y_pred, zero_division=np.nan),
                recall_score(y_true, y_pred, zero_division=np.nan),
                f1_score(y_true, y_pred, zero_division=np.nan),
                cohen_kappa_score(y_pred, y_true),
            ])
        try:
            alpha = krippendorff.alpha(reliability_data=verdicts.T, level_of_measurement="nominal")
        except ValueError:
            alpha = np.nan
        complete = verdicts[scored.all(axis=1)].astype(int)
        fleiss_complete = statsmodels_fleiss_kappa(aggregate_raters(complete)[0]) if len(complete) else np.nan
    return {"kappa": kappa, "observed_agreement": agreement, "gold": np.array(gold_rows), "alpha": alpha,
            "fleiss_complete_case": fleiss_complete}


def our_comparable(stats: dict[str, Any], verdicts: NDArray[np.float64]) -> dict[str, Any]:
    """Our numbers in the layout of :func:`library_statistics` (``stats`` from statistics_from_sums)."""
    gold = np.stack([stats[f"gold.{name}"] for name in
                     ("observed_agreement", "precision", "recall", "positive_agreement", "cohen_kappa")], axis=-1)
    complete = verdicts[(~np.isnan(verdicts)).all(axis=1)]
    return {"kappa": stats["pairwise.cohen_kappa"], "observed_agreement": stats["pairwise.observed_agreement"],
            "gold": gold, "alpha": stats["multi.krippendorff_alpha"], "fleiss_complete_case": fleiss_kappa(complete)}


def max_difference(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[float, int]:
    """Largest |ours - theirs| over every compared value (off-diagonal for matrices), and how many values."""
    worst, count = 0.0, 0
    for key, expected in theirs.items():
        got, want = np.asarray(ours[key], dtype=float), np.asarray(expected, dtype=float)
        if key in ("kappa", "observed_agreement"):
            off = ~np.eye(want.shape[0], dtype=bool)
            got, want = got[off], want[off]
        if not np.array_equal(np.isnan(got), np.isnan(want)):
            return float("inf"), count
        defined = ~np.isnan(want)
        count += int(defined.sum())
        if defined.any():
            worst = max(worst, float(np.max(np.abs(got[defined] - want[defined]))))
    return worst, count


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="responses (rows of the verdict matrix)")
    parser.add_argument("--judges", type=int, default=10, help="judges (columns)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="clustered bootstrap resamples")
    parser.add_argument("--library-resamples", type=int, default=20,
                        help="resamples actually run through the libraries (then extrapolated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=None,
                        help="run the library baseline (default: up to 200,000 items)")
    parser.add_argument("--judge", default="synthetic", help="a label for the output (the verdicts are synthetic)")
    args = parser.parse_args(argv)

    verdicts, clusters, gold = synthetic_verdicts(args.items, args.judges, args.seed)
    judges = [f"judge{j}" for j in range(args.judges)]
    n_questions = len(np.unique(clusters))

    start, cpu_start = time.perf_counter(), time.process_time()
    result = agreement_statistics(verdicts, judges, clusters, gold=gold, n_bootstrap=args.bootstrap, seed=args.seed)
    ours_seconds = time.perf_counter() - start
    ours_cpu = time.process_time() - cpu_start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    unscored = float(np.isnan(verdicts).mean())
    print(f"rlvr-bench agreement speed ({args.judge}): {args.judges} judges x {args.items:,} items "
          f"({n_questions:,} questions, {unscored:.1%} unscored), {args.bootstrap:,} clustered bootstrap resamples")
    print(f"ours     all statistics + CIs (agreement_statistics): {ours_seconds:10.2f} s wall, {ours_cpu:.2f} s CPU, "
          f"peak memory {peak_gb:.2f} GB (the whole process)")
    if not (args.baseline if args.baseline is not None else args.items <= 200_000):
        return {"ours_seconds": ours_seconds, "ours_cpu_seconds": ours_cpu, "peak_gb": peak_gb}

    start = time.perf_counter()
    library_full = library_statistics(verdicts, gold)
    library_point_seconds = time.perf_counter() - start

    index, n_clusters = encode_clusters(clusters, len(clusters))
    design = build_design(verdicts, index, n_clusters, gold)
    ours_full = our_comparable(statistics_from_sums(design.layout, design.totals()), verdicts)
    full_difference, n_compared = max_difference(ours_full, library_full)
    # the published result must be the same numbers as the design totals used here
    assert np.array_equal(result.pairwise.cohen_kappa.estimate, ours_full["kappa"], equal_nan=True)

    n_library = min(args.library_resamples, args.bootstrap)
    weights = cluster_weights(n_clusters, n_library, args.seed)  # the first resamples of our bootstrap
    start = time.perf_counter()
    library_resampled = []
    for row in weights:
        rows = np.repeat(np.arange(len(clusters)), row[index])  # every unit, as often as its question was drawn
        library_resampled.append(library_statistics(verdicts[rows], gold[rows]))
    library_loop_seconds = time.perf_counter() - start
    per_resample = library_loop_seconds / max(1, n_library)
    library_bootstrap_seconds = per_resample * args.bootstrap
    library_seconds = library_point_seconds + library_bootstrap_seconds

    resample_difference = 0.0
    resampled_stats = statistics_from_sums(design.layout, weights.astype(float) @ design.per_cluster)
    for b, theirs in enumerate(library_resampled):
        rows = np.repeat(np.arange(len(clusters)), weights[b][index])
        ours_b = our_comparable({key: value[b] for key, value in resampled_stats.items()}, verdicts[rows])
        resample_difference = max(resample_difference, max_difference(ours_b, theirs)[0])

    ratio = library_seconds / ours_seconds
    print(f"baseline point estimates (sklearn per pair/judge, statsmodels, krippendorff): "
          f"{library_point_seconds:.2f} s")
    print(f"baseline bootstrap: {n_library} library resamples took {library_loop_seconds:.2f} s "
          f"({per_resample:.2f} s each), extrapolated linearly to {args.bootstrap:,}: "
          f"{library_bootstrap_seconds:.1f} s")
    print(f"baseline total (point + extrapolated bootstrap):                 {library_seconds:10.1f} s")
    print(f"speed ratio baseline / ours: {ratio:.0f}x (target >= {TARGET_RATIO:.0f}x)")
    print(f"max |ours - library| on the full data ({n_compared} values: pairwise kappa and agreement, "
          f"gold accuracy/precision/recall/F1/kappa, Krippendorff's alpha, Fleiss on complete cases): "
          f"{full_difference:.2e} (must be < {MAX_DIFFERENCE:.0e})")
    print(f"max |ours - library| on the {n_library} library resamples (same weights):  {resample_difference:.2e}")
    print("(the baseline computes fewer statistics than ours: no AC1, positive/negative agreement, "
          "prevalence/bias indices, missing-data Fleiss)")
    return {
        "ours_seconds": ours_seconds,
        "ours_cpu_seconds": ours_cpu,
        "peak_gb": peak_gb,
        "library_seconds": library_seconds,
        "ratio": ratio,
        "max_difference": full_difference,
        "max_resample_difference": resample_difference,
        "n_compared": float(n_compared),
    }


if __name__ == "__main__":
    main()
