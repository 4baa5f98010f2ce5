"""2 x 2 table statistics on hand-worked tables (cells a, b, c, d as in rlvr_bench.stats.tables)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rlvr_bench.stats import tables

# Worked example: two raters, 100 units.
#                 C passed  C failed
#   R passed        40         9       (row rater passes 49)
#   R failed         6        45       (column rater passes 46)
# p_o = (40 + 45) / 100 = 0.85
# Cohen: p_e = 0.49 * 0.46 + 0.51 * 0.54 = 0.2254 + 0.2754 = 0.5008
#        kappa = (0.85 - 0.5008) / (1 - 0.5008) = 0.3492 / 0.4992 = 0.699519...
#        (count form: 2 (40*45 - 9*6) / (49*54 + 46*51) = 3492 / 4992, the same number)
# Gwet:  pi = (2*40 + 9 + 6) / 200 = 0.475; p_e = 2 * 0.475 * 0.525 = 0.49875
#        AC1 = (0.85 - 0.49875) / (1 - 0.49875) = 0.35125 / 0.50125 = 0.700748...
# PABAK = 2 * 0.85 - 1 = 0.7
# positive agreement 2*40 / (80 + 15) = 80/95; negative 2*45 / (90 + 15) = 90/105
# prevalence index (40 - 45) / 100 = -0.05; bias index (9 - 6) / 100 = 0.03
# against gold (gold = column): precision 40/49, recall 40/46, specificity 45/54, FPR 9/54
WORKED = (40, 9, 6, 45)
WORKED_EXPECTED = {
    "observed_agreement": 0.85,
    "cohen_kappa": 3492 / 4992,
    "gwet_ac1": 0.35125 / 0.50125,
    "pabak": 0.7,
    "positive_agreement": 80 / 95,
    "negative_agreement": 90 / 105,
    "prevalence_index": -0.05,
    "bias_index": 0.03,
    "precision": 40 / 49,
    "recall": 40 / 46,
    "specificity": 45 / 54,
    "false_positive_rate": 9 / 54,
}


@pytest.mark.parametrize(("name", "expected"), sorted(WORKED_EXPECTED.items()))
def test_worked_example(name: str, expected: float) -> None:
    assert float(getattr(tables, name)(*WORKED)) == pytest.approx(expected, abs=1e-12)


def test_kappa_from_byrt_identity() -> None:
    # Byrt et al. (1993): kappa = (PABAK - PI^2 + BI^2) / (1 - PI^2 + BI^2); on the worked table
    # (0.7 - 0.0025 + 0.0009) / (1 - 0.0025 + 0.0009) = 0.6984 / 0.9984 = 0.699519..., the kappa above.
    rng = np.random.default_rng(5)
    cells = rng.integers(0, 50, size=(4, 200))
    cells[:, 0] = WORKED
    pabak, pi, bi = tables.pabak(*cells), tables.prevalence_index(*cells), tables.bias_index(*cells)
    identity = (pabak - pi**2 + bi**2) / (1 - pi**2 + bi**2)
    np.testing.assert_allclose(tables.cohen_kappa(*cells), identity, rtol=0, atol=1e-12)
    assert identity[0] == pytest.approx(0.6984 / 0.9984, abs=1e-12)


# Kappa paradox in the style of Gwet (2008), who introduced AC1 for it: 125 units, nearly all passed by both.
#   a = 118, b = 5, c = 2, d = 0; p_o = 118/125 = 0.944
#   row passes 123/125 = 0.984, column 120/125 = 0.96
#   kappa = 2 (118*0 - 5*2) / (123*5 + 120*2) = -20 / 855 = -0.0233918...
#   AC1: pi = (236 + 7) / 250 = 0.972; p_e = 2 * 0.972 * 0.028 = 0.054432
#        AC1 = (0.944 - 0.054432) / (1 - 0.054432) = 0.889568 / 0.945568 = 0.940776...
#   prevalence index 118/125 = 0.944
GWET_PARADOX = (118, 5, 2, 0)


def test_gwet_paradox_table() -> None:
    assert float(tables.observed_agreement(*GWET_PARADOX)) == pytest.approx(0.944, abs=1e-12)
    assert float(tables.cohen_kappa(*GWET_PARADOX)) == pytest.approx(-20 / 855, abs=1e-12)
    assert float(tables.gwet_ac1(*GWET_PARADOX)) == pytest.approx(0.889568 / 0.945568, abs=1e-12)
    assert float(tables.pabak(*GWET_PARADOX)) == pytest.approx(0.888, abs=1e-12)
    assert float(tables.prevalence_index(*GWET_PARADOX)) == pytest.approx(0.944, abs=1e-12)


@pytest.mark.parametrize(
    ("cells", "flag", "why"),
    [
        (GWET_PARADOX, True, "p_o 0.944, kappa -0.02, PI 0.944"),
        # 95 % passed by both raters' marginals, p_o = 0.90, kappa = 2(0 - 25)/(95*5 + 95*5) = -0.0526
        ((90, 5, 5, 0), True, "p_o 0.90, kappa -0.05, PI 0.90"),
        # balanced prevalence: p_o 0.90, kappa = 2(45*45 - 25)/(50*50 + 50*50) = 0.8, PI 0
        ((45, 5, 5, 45), False, "kappa is high"),
        # skewed and kappa low but agreement only 0.80: ordinary disagreement, not the paradox
        ((78, 10, 10, 2), False, "p_o 0.80 < 0.85"),
        # high agreement, low-ish kappa, balanced: p_o 0.86 kappa 0.72 -> no flag
        ((43, 7, 7, 43), False, "PI 0"),
        # both raters constant "passed": p_o 1, kappa undefined (p_e = 1), PI 1: the extreme paradox
        ((30, 0, 0, 0), True, "kappa undefined by prevalence alone"),
        ((0, 0, 0, 0), False, "no scored unit"),
    ],
)
def test_kappa_paradox_flag(cells: tuple[int, int, int, int], flag: bool, why: str) -> None:
    p_o, kappa, pi = tables.observed_agreement(*cells), tables.cohen_kappa(*cells), tables.prevalence_index(*cells)
    assert bool(tables.kappa_paradox(p_o, kappa, pi)) is flag, why


def test_paradox_thresholds_meet_at_kappa_boundary() -> None:
    # the documented reason for the thresholds: unbiased raters at |PI| = 0.5 and p_o = 0.85 give kappa 0.6
    # a = 0.85/2 + 0.25 = 0.675, d = 0.175, b = c = 0.075 (x 1000 units): PI = 0.5, BI = 0
    cells = (675, 75, 75, 175)
    assert float(tables.prevalence_index(*cells)) == pytest.approx(tables.PARADOX_MIN_ABS_PREVALENCE_INDEX)
    assert float(tables.observed_agreement(*cells)) == pytest.approx(tables.PARADOX_MIN_OBSERVED_AGREEMENT)
    assert float(tables.cohen_kappa(*cells)) == pytest.approx(tables.PARADOX_MAX_KAPPA, abs=1e-12)


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        # no unit scored by both: everything undefined
        ((0, 0, 0, 0), {"observed_agreement": math.nan, "cohen_kappa": math.nan, "gwet_ac1": math.nan,
                        "pabak": math.nan, "prevalence_index": math.nan}),
        # both constant "passed": p_e = 1 so kappa is 0/0 -> nan; AC1 p_e = 2*1*0 = 0 -> AC1 = 1
        ((10, 0, 0, 0), {"observed_agreement": 1.0, "cohen_kappa": math.nan, "gwet_ac1": 1.0,
                         "positive_agreement": 1.0, "negative_agreement": math.nan}),
        # both constant, opposite verdicts: p_o = 0, p_e = 0 -> kappa 0 (scikit-learn agrees)
        ((0, 10, 0, 0), {"observed_agreement": 0.0, "cohen_kappa": 0.0, "pabak": -1.0, "bias_index": 1.0}),
        # one rater constant: kappa = 2(8*0 - 2*0) / (10*2 + 8*0) = 0
        ((8, 2, 0, 0), {"cohen_kappa": 0.0, "observed_agreement": 0.8}),
        # identical, non-constant raters: kappa 1
        ((7, 0, 0, 3), {"cohen_kappa": 1.0, "gwet_ac1": 1.0, "pabak": 1.0}),
    ],
)
def test_edge_tables(cells: tuple[int, int, int, int], expected: dict[str, float]) -> None:
    for name, value in expected.items():
        got = float(getattr(tables, name)(*cells))
        if math.isnan(value):
            assert math.isnan(got), name
        else:
            assert got == pytest.approx(value, abs=1e-12), name


def test_vectorised_equals_elementwise() -> None:
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 20, size=(4, 3, 5))
    for name in ("cohen_kappa", "gwet_ac1", "positive_agreement", "bias_index"):
        whole = getattr(tables, name)(*cells)
        assert whole.shape == (3, 5)
        for i in range(3):
            for j in range(5):
                np.testing.assert_equal(whole[i, j], getattr(tables, name)(*cells[:, i, j]))


def test_no_warnings_on_undefined_values() -> None:
    with np.errstate(all="raise"):
        tables.cohen_kappa(0, 0, 0, 0)
        tables.gwet_ac1(np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
        tables.kappa_paradox(np.nan, np.nan, np.nan)
