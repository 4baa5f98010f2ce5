"""Multi-rater coefficients on Krippendorff's canonical example and on degenerate inputs."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from rlvr_bench.stats import fleiss_kappa, gwet_ac1_matrix, gwet_ac1_multirater, krippendorff_alpha
from rlvr_bench.stats.multirater import category_counts

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C: 4 coders (columns)
# x 12 units (rows), nominal values 1..5, nan = missing.
CANONICAL = np.array(
    [
        [1, 1, nan, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [nan, 5, 5, 5],
        [nan, nan, 1, 1],
        [nan, nan, 3, nan],
    ]
)
CATEGORIES = (1, 2, 3, 4, 5)


def test_canonical_krippendorff_alpha() -> None:
    # Units with >= 2 values (all but the last): n = 3+4*8+3+2 = 40 pairable values.
    # Agreeing coincidences O = sum_u sum_c n_uc (n_uc - 1) / (m_u - 1):
    #   u1 3*2/2=3, u2 3*2/3=2, u3,u4,u5,u7,u9 4*3/3=4 each (20), u6 0, u8 3*2/3=2, u10 3*2/2=3, u11 2*1/1=2
    #   O = 3 + 2 + 20 + 0 + 2 + 3 + 2 = 32
    # Values per category: n_1 = 9, n_2 = 13, n_3 = 10, n_4 = 5, n_5 = 3 (sum 40), sum n_c^2 = 384
    # alpha = 1 - (n - 1)(n - O) / (n^2 - sum n_c^2) = 1 - 39 * 8 / (1600 - 384) = 1 - 312/1216 = 0.743421...
    # (Krippendorff reports alpha = 0.743 for these data.)
    assert krippendorff_alpha(CANONICAL, CATEGORIES) == pytest.approx(1 - 312 / 1216, abs=1e-12)
    assert krippendorff_alpha(CANONICAL, CATEGORIES) == pytest.approx(0.743, abs=5e-4)
    expected = krippendorff.alpha(reliability_data=CANONICAL.T, level_of_measurement="nominal")
    assert krippendorff_alpha(CANONICAL, CATEGORIES) == pytest.approx(expected, abs=1e-12)


def test_canonical_fleiss_and_gwet_with_missing() -> None:
    # p_a over the 11 units with >= 2 ratings of sum_c n_c (n_c - 1) / (r (r - 1)):
    #   1 (u1) + 6/12 (u2) + 1+1+1 (u3-u5) + 0 (u6) + 1 (u7) + 6/12 (u8) + 1 (u9) + 1 (u10) + 1 (u11) = 9
    #   p_a = 9 / 11 = 0.818182
    # pi_c = mean over all 12 rated units of n_c / r:
    #   pi_1 = (1 + .25 + .75 + 1) / 12 = 3/12;  pi_2 = (.75 + 1 + .25 + .25 + 1) / 12 = 3.25/12
    #   pi_3 = (.25 + 1 + 1 + .25 + 1) / 12 = 3.5/12;  pi_4 = (.25 + 1) / 12 = 1.25/12;  pi_5 = 1/12
    # Fleiss: p_e = sum pi_c^2 = (9 + 10.5625 + 12.25 + 1.5625 + 1) / 144 = 34.375 / 144 = 0.238715
    #         kappa = (9/11 - 34.375/144) / (1 - 34.375/144) = 0.761169...
    # AC1:    p_e = sum pi_c (1 - pi_c) / (q - 1) = (1 - 34.375/144) / 4 = 0.190321
    #         AC1 = (9/11 - 0.190321) / (1 - 0.190321) = 0.775444...
    # Gwet's irrCAC package documents Fleiss 0.76117 (p_e 0.23872) and AC1 0.77544 (p_e 0.19032) for these data.
    p_a, pe_fleiss = 9 / 11, 34.375 / 144
    pe_gwet = (1 - pe_fleiss) / 4
    assert fleiss_kappa(CANONICAL, CATEGORIES) == pytest.approx((p_a - pe_fleiss) / (1 - pe_fleiss), abs=1e-12)
    assert gwet_ac1_multirater(CANONICAL, CATEGORIES) == pytest.approx((p_a - pe_gwet) / (1 - pe_gwet), abs=1e-12)
    assert fleiss_kappa(CANONICAL, CATEGORIES) == pytest.approx(0.76117, abs=5e-6)
    assert gwet_ac1_multirater(CANONICAL, CATEGORIES) == pytest.approx(0.77544, abs=5e-6)


def test_two_rater_ac1_equals_pairwise_ac1_on_complete_data() -> None:
    rng = np.random.default_rng(3)
    verdicts = (rng.random((50, 2)) < 0.7).astype(float)
    assert gwet_ac1_multirater(verdicts) == pytest.approx(gwet_ac1_matrix(verdicts)[0, 1], abs=1e-12)


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        # every verdict "passed": chance agreement is 1, kappa and alpha are 0/0; AC1 has p_e = 0 -> 1
        (np.ones((5, 3)), {"fleiss": nan, "alpha": nan, "ac1": 1.0}),
        # no unit has two verdicts: nothing is pairable
        (np.array([[1.0, nan], [nan, 0.0], [nan, nan]]), {"fleiss": nan, "alpha": nan, "ac1": nan}),
        # perfect agreement with both verdicts used
        (np.array([[1.0, 1.0, 1.0], [0.0, 0.0, nan], [1.0, nan, 1.0]]), {"fleiss": 1.0, "alpha": 1.0, "ac1": 1.0}),
        # no rows at all
        (np.zeros((0, 3)), {"fleiss": nan, "alpha": nan, "ac1": nan}),
    ],
)
def test_degenerate_inputs(verdicts: np.ndarray, expected: dict[str, float]) -> None:
    got = {"fleiss": fleiss_kappa(verdicts), "alpha": krippendorff_alpha(verdicts),
           "ac1": gwet_ac1_multirater(verdicts)}
    for name, value in expected.items():
        if np.isnan(value):
            assert np.isnan(got[name]), name
        else:
            assert got[name] == pytest.approx(value, abs=1e-12), name


def test_category_counts_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="not one of the categories"):
        category_counts(np.array([[1.0, 2.0]]))
    counts = category_counts(np.array([[1.0, 0.0, nan], [1.0, 1.0, 1.0]]))
    np.testing.assert_array_equal(counts, [[1, 1], [0, 3]])
