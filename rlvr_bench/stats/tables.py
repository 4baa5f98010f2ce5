"""Agreement statistics of 2 x 2 tables, vectorised over any array shape.

Two raters, a *row* rater R and a *column* rater C, give binary verdicts
(passed / failed) on the same units; only units where both gave a verdict
count. The cells are::

                  C passed   C failed
    R passed         a          b
    R failed         c          d

    n = a + b + c + d  (units scored by both)

Every function takes count arrays ``a, b, c, d`` (ints or integer-valued
floats, any broadcastable shapes) and returns float64 arrays. Undefined values
(n = 0, or a zero denominator) are nan: never an exception, never a warning,
so a pair of judges that share no scored unit reports nan (JSON null) instead
of stopping a run.

Against gold labels the gold column is just the column rater: accuracy is the
observed agreement, F1 is the positive agreement, and precision / recall /
specificity / false-positive rate read the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# The kappa paradox (Feinstein & Cicchetti 1990; Byrt, Bishop & Carlin 1993):
# raters agree on almost every unit, yet kappa is low because one verdict is so
# prevalent that chance agreement p_e is already high. The three thresholds fit
# together: with no rater bias, p_e = (1 + PI**2) / 2, so at |PI| = 0.5 chance
# agreement is 0.625 and an observed agreement of exactly 0.85 gives
# kappa = (0.85 - 0.625) / (1 - 0.625) = 0.6. Hence p_o >= 0.85 together with
# kappa < 0.6 is only reachable through prevalence skew |PI| >= 0.5 (or rater
# bias): it is the chance correction, not disagreement, that pulls kappa below
# the conventional "substantial" boundary 0.6 (Landis & Koch 1977). When the
# flag is raised, read Gwet's AC1 and PABAK, which do not collapse under skew.
#: the flag needs observed agreement at least this high (fraction of units, 0..1)
PARADOX_MIN_OBSERVED_AGREEMENT = 0.85
#: ... Cohen's kappa below this (or undefined because chance agreement is 1)
PARADOX_MAX_KAPPA = 0.6
#: ... and |prevalence index| at least this (0..1)
PARADOX_MIN_ABS_PREVALENCE_INDEX = 0.5


def _as_float(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def safe_divide(numerator: ArrayLike, denominator: ArrayLike) -> FloatArray:
    """numerator / denominator elementwise, nan wherever the denominator is 0 (no warning)."""
    num, den = np.broadcast_arrays(_as_float(numerator), _as_float(denominator))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def n_units(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Units scored by both raters, n = a + b + c + d (count, >= 0)."""
    return _as_float(a) + _as_float(b) + _as_float(c) + _as_float(d)


def observed_agreement(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """p_o = (a + d) / n: fraction of units with the same verdict, in [0, 1]."""
    return safe_divide(_as_float(a) + _as_float(d), n_units(a, b, c, d))


def cohen_kappa(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Cohen's kappa (p_o - p_e) / (1 - p_e), p_e from each rater's own pass rate; in [-1, 1].

    Computed in the exact count form 2(ad - bc) / ((a + b)(b + d) + (a + c)(c + d)),
    which equals the textbook ratio. nan when p_e = 1, i.e. both raters gave the
    same single verdict to every unit (0 / 0: there is nothing to correct for);
    scikit-learn's ``cohen_kappa_score`` also returns nan there (with a warning).
    """
    a_, b_, c_, d_ = (_as_float(x) for x in (a, b, c, d))
    return safe_divide(2.0 * (a_ * d_ - b_ * c_), (a_ + b_) * (b_ + d_) + (a_ + c_) * (c_ + d_))


def gwet_ac1(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Gwet's AC1 (Gwet 2008): (p_o - p_e) / (1 - p_e) with p_e = 2 pi (1 - pi); in [-1, 1].

    pi = (2a + b + c) / (2n) is the mean pass rate of the two raters. Because
    p_e <= 0.5, AC1 is defined whenever n > 0, and it stays close to p_o when
    one verdict dominates (where kappa collapses).
    """
    a_, b_, c_, d_ = (_as_float(x) for x in (a, b, c, d))
    n = a_ + b_ + c_ + d_
    p_o = safe_divide(a_ + d_, n)
    pi = safe_divide(2.0 * a_ + b_ + c_, 2.0 * n)
    p_e = 2.0 * pi * (1.0 - pi)
    return (p_o - p_e) / (1.0 - p_e)


def pabak(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Prevalence- and bias-adjusted kappa, 2 p_o - 1 (Byrt et al. 1993); in [-1, 1]."""
    return 2.0 * observed_agreement(a, b, c, d) - 1.0


def positive_agreement(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Specific agreement on "passed", 2a / (2a + b + c); in [0, 1]; nan if nobody said passed.

    Against gold labels this is the judge's F1 score.
    """
    a_, b_, c_ = _as_float(a), _as_float(b), _as_float(c)
    return safe_divide(2.0 * a_, 2.0 * a_ + b_ + c_)


def negative_agreement(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Specific agreement on "failed", 2d / (2d + b + c); in [0, 1]; nan if nobody said failed."""
    b_, c_, d_ = _as_float(b), _as_float(c), _as_float(d)
    return safe_divide(2.0 * d_, 2.0 * d_ + b_ + c_)


def prevalence_index(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Byrt's prevalence index (a - d) / n; in [-1, 1]; > 0 when "passed" is the more common agreed verdict."""
    return safe_divide(_as_float(a) - _as_float(d), n_units(a, b, c, d))


def bias_index(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """Byrt's bias index (b - c) / n; in [-1, 1]; > 0 when the row rater passes more often than the column rater."""
    return safe_divide(_as_float(b) - _as_float(c), n_units(a, b, c, d))


def kappa_paradox(observed: ArrayLike, kappa: ArrayLike, prevalence: ArrayLike) -> BoolArray:
    """True where agreement is high but kappa is low because of prevalence skew.

    The rule is p_o >= :data:`PARADOX_MIN_OBSERVED_AGREEMENT`, kappa <
    :data:`PARADOX_MAX_KAPPA` (or kappa undefined because both raters were
    constant), and |prevalence index| >= :data:`PARADOX_MIN_ABS_PREVALENCE_INDEX`;
    the module comment explains why these thresholds belong together. False
    where p_o is undefined (no scored units).
    """
    p_o, k, pi = _as_float(observed), _as_float(kappa), _as_float(prevalence)
    low_kappa = np.isnan(k) | (k < PARADOX_MAX_KAPPA)
    with np.errstate(invalid="ignore"):
        return (p_o >= PARADOX_MIN_OBSERVED_AGREEMENT) & low_kappa & (np.abs(pi) >= PARADOX_MIN_ABS_PREVALENCE_INDEX)


# --- rates against gold labels: the judge is the row rater, gold the column ---


def precision(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """a / (a + b): fraction of the judge's "passed" that gold calls correct; nan if it never passed."""
    return safe_divide(_as_float(a), _as_float(a) + _as_float(b))


def recall(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """a / (a + c): fraction of gold-correct responses the judge passes (sensitivity); nan if none."""
    return safe_divide(_as_float(a), _as_float(a) + _as_float(c))


def specificity(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """d / (b + d): fraction of gold-incorrect responses the judge fails; nan if none."""
    return safe_divide(_as_float(d), _as_float(b) + _as_float(d))


def false_positive_rate(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike) -> FloatArray:
    """b / (b + d): fraction of gold-incorrect responses the judge passes (what a policy can exploit)."""
    return safe_divide(_as_float(b), _as_float(b) + _as_float(d))


def reward_reference_agreement(reward: Sequence[bool | None], reference: Sequence[bool | None]) -> dict[str, float]:
    """A training reward's binary verdicts against a reference judge's on the same completions.

    The one computation of reward-vs-reference agreement (the trl reward's step metrics and the
    reward-hacking gap of ``train-and-eval``): the 2 x 2 table over completions both scored, with
    the reward as row rater and the reference as column rater. Fractions in [0, 1]: ``agreement``
    (observed agreement), ``reward_pass_rate``, ``reference_pass_rate`` (the "true" accuracy),
    ``gap`` = reward - reference pass rate (positive: the policy pleases the reward more than the
    reference, i.e. reward hacking), ``false_positive_rate`` (reward passes what the reference
    rejects) and ``false_negative_rate``; ``n`` the completions both scored. Empty when none.
    Undefined rates (no reference negatives or positives) are left out.
    """
    pairs = [(bool(r), bool(g)) for r, g in zip(reward, reference, strict=True) if r is not None and g is not None]
    if not pairs:
        return {}
    a = sum(r and g for r, g in pairs)
    b = sum(r and not g for r, g in pairs)
    c = sum(not r and g for r, g in pairs)
    d = len(pairs) - a - b - c
    n = float(len(pairs))
    out = {"n": n, "agreement": float(observed_agreement(a, b, c, d)), "reward_pass_rate": (a + b) / n,
           "reference_pass_rate": (a + c) / n, "gap": (b - c) / n}
    if b + d:
        out["false_positive_rate"] = float(false_positive_rate(a, b, c, d))
    if a + c:
        out["false_negative_rate"] = 1.0 - float(recall(a, b, c, d))
    return out
