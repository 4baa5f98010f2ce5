"""The numeric judge: quantity extraction, unit conversion with pint, rounding-aware tolerance."""

from __future__ import annotations

import pytest

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.numeric import NumericJudge, extract_quantities, last_quantity, prepare
from rlvr_bench.records import Verdict


def verdict_of(reference: str, response: str, **params: object) -> Verdict:
    judge = NumericJudge(JudgeSpec(name="numeric", backend="numeric", params=params))
    return judge.judge_batch([Triple("q", reference, response)])[0]


# ------------------------------------------------------------ extraction


@pytest.mark.parametrize(
    ("text", "value", "unit"),
    [
        ("Therefore, the answer is 1/2.", 0.5, None),  # the sentence's period is not a decimal point
        ("$\\frac{1}{2}$", 0.5, None),
        ("\\dfrac{3}{4} L", 0.75, "liter"),
        ("350 mg", 350.0, "milligram"),
        ("50%", 50.0, "percent"),
        ("50\\%", 50.0, "percent"),
        ("50 per cent", 50.0, "percent"),
        ("35‰", 35.0, "permille"),
        ("3.5e-3", 0.0035, None),
        ("3.5 x 10^-3 M", 0.0035, "molar"),
        ("$3.5 \\times 10^{-3}$", 0.0035, None),
        ("10⁻³ M", 0.001, "molar"),  # Unicode superscripts
        ("1,234,567.5", 1234567.5, None),  # thousands separators
        ("1\\,000 kg", 1000.0, "kilogram"),  # LaTeX thin space as a thousands separator
        ("2.5 million", 2.5e6, None),
        ("25 °C", 25.0, "degree_Celsius"),
        ("25℃", 25.0, "degree_Celsius"),
        ("$25^\\circ C$", 25.0, "degree_Celsius"),
        ("77 degrees Fahrenheit", 77.0, "degree_Fahrenheit"),
        ("120 mm Hg", 120.0, "millimeter_Hg"),
        ("5 mg/kg", 5.0, "milligram / kilogram"),
        ("5 mg per kg", 5.0, "milligram / kilogram"),
        ("180.16 g/mol", 180.16, "gram / mole"),
        ("27.8 kg/m^2", 27.8, "kilogram / meter ** 2"),  # the unit's "2" is not a second number
        ("9.8 m/s²", 9.8, "meter / second ** 2"),
        ("8.314 J/(mol·K)", 8.314, "joule / kelvin / mole"),
        ("\\SI{5}{mg}", 5.0, "milligram"),
        ("Therefore, the answer is 450 mg (0.45 g).", 0.45, "gram"),  # the last quantity
        ("CO2 has a molar mass of 44 g/mol", 44.0, "gram / mole"),  # no number inside a word
        ("x = -5", -5.0, None),
        ("5 in total", 5.0, None),  # "in" is English here, not inches
        ("3 points", 3.0, None),  # and "points" is not a typographic unit
        ("4π rad", 4 * 3.141592653589793, "radian"),
        ("$53_{10}$", 53.0, None),  # subscripts label things; they are not numbers
    ],
)
def test_last_quantity(text: str, value: float, unit: str | None) -> None:
    quantity = last_quantity(text)
    assert quantity is not None
    assert quantity.value == pytest.approx(value)
    assert (str(quantity.unit) if quantity.unit is not None else None) == unit


@pytest.mark.parametrize(
    ("text", "half_ulp", "sig_figs"),
    [
        ("27.8", 0.05, 3),
        ("0.0350", 0.00005, 3),
        ("6.4 × 10^3", 50.0, 2),
        ("1989", 0.0, 4),  # integers are exact
        ("1/3", 0.0, 2),  # fractions are exact
        ("2.5 million", 50000.0, 2),
    ],
)
def test_written_precision(text: str, half_ulp: float, sig_figs: int) -> None:
    quantity = last_quantity(text)
    assert quantity is not None
    assert quantity.half_ulp == pytest.approx(half_ulp)
    assert quantity.sig_figs == sig_figs


def test_no_quantity() -> None:
    assert last_quantity("Paris") is None
    assert last_quantity("") is None
    assert extract_quantities("between 5 and 10 mg") != []


def test_prepare_rewrites_latex_and_spellings() -> None:
    assert prepare("$\\frac{1}{2}$") == " 1/2 "
    assert prepare("25^\\circ C").strip() == "25 degC"
    assert "permille" in prepare("35‰")


# ------------------------------------------------------------ judging


@pytest.mark.parametrize(
    ("reference", "response", "passed"),
    [
        # unit conversion
        ("350 mg", "Therefore, the answer is 0.35 g.", True),
        ("0.35 g", "The answer is 350 mg", True),
        ("72 km/h", "Therefore, the answer is 20 m/s.", True),
        ("3 m", "Therefore, the answer is 300 cm.", True),
        ("3 m", "Therefore, the answer is 0.3 m.", False),
        ("120 mm Hg", "The answer is 120 mmHg", True),
        ("5 mg/kg", "Therefore, the answer is 5 mg per kg.", True),
        ("9.8 m/s^2", "The answer is 9.8 m/s².", True),
        ("720°", "The answer is 4π radians.", True),
        # dimensions that do not match are wrong, not unscored
        ("350 mg", "Therefore, the answer is 0.35 mL.", False),
        # a bare number is read in the reference's unit
        ("350 mg", "Therefore, the answer is 350.", True),
        # 0.5 vs 1/2 vs 50 %, both ways
        ("0.5", "Therefore, the answer is 1/2.", True),
        ("0.5", "Therefore, the answer is 50%.", True),
        ("50%", "Therefore, the answer is 0.5.", True),
        ("50%", "Therefore, the answer is 50.", True),
        ("50%", "Therefore, the answer is 50 per cent.", True),
        ("1/2", "Therefore, the answer is $\\frac{1}{2}$.", True),
        ("35‰", "Therefore, the answer is 3.5%.", True),
        # offset units convert as temperatures
        ("25 °C", "Therefore, the answer is 298.15 K.", True),
        ("298.15 K", "Therefore, the answer is 25 °C.", True),
        ("25 °C", "Therefore, the answer is 25 K.", False),
        ("25 °C", "Therefore, the answer is 77 °F.", True),
        # notations
        ("0.0035 M", "Therefore, the answer is 3.5 x 10^-3 M.", True),
        ("3.5e-3", "The answer is 3.5 × 10⁻³", True),
        ("1,234,567", "The answer is 1234567", True),
        ("2.5 million", "The answer is 2,500,000", True),
        # rounding: half a unit in the reference's last digit (27.8 -> 0.05) ...
        ("27.8 kg/m^2", "The answer is 27.78 kg/m²", True),
        ("27.8 kg/m^2", "The answer is 27.86 kg/m²", False),
        # ... a coarser response gets no slack of its own: 28 is 0.2 away
        ("27.8", "The answer is 28", False),
        # ... an equally precise one does: 1.11 mL/s = 66.6 mL/min, but 1.11 stands for [1.105, 1.115]
        ("66.7 mL/min", "Final answer: 1.11 mL/s", True),
        # 120 mmHg = 15.999 kPa; "16.0" (3 digits) stands for [15.95, 16.05]
        ("120 mmHg", "The answer is 16.0 kPa", True),
        # integers and fractions are exact: neighbouring years differ, 1/3 needs three digits
        ("1989", "Therefore, the answer is 1991.", False),
        ("1/3", "The answer is 0.333", True),
        ("1/3", "The answer is 0.33", False),
        # the last quantity of the final step is the answer
        ("3", "I think 30", False),
        ("3", "The answer is 3 or 4", False),
        ("4", "The answer is 3 or 4", False),  # a hedge passes only when every value it names is right
        ("4", "The answer is 4 or, in other words, 4.0", True),
        ("3", "The answer is 3.\nActually, it is 4.", False),
        # no number in the response is a wrong answer
        ("3", "", False),
        ("3", "Therefore, the answer is three.", False),
    ],
)
def test_numeric_judge(reference: str, response: str, passed: bool) -> None:
    verdict = verdict_of(reference, response)
    assert verdict.passed is passed, verdict.raw
    assert verdict.error is None
    assert verdict.p_pass is None


@pytest.mark.parametrize(
    ("reference", "error"),
    [
        ("Paris", "reference has no number"),
        ("", "reference has no number"),
        ("x = 2, x = 3", "reference is not a single quantity (2 numbers)"),
        ("9:3:3:1", "reference is not a single quantity (4 numbers)"),
        ("2x + 3", "reference is not a single quantity (2 numbers)"),
        ("3x", "reference is a formula, not a quantity"),
        ("O(n^2)", "reference is a formula, not a quantity"),
    ],
)
def test_reference_that_is_not_one_quantity_is_unscored(reference: str, error: str) -> None:
    verdict = verdict_of(reference, "Therefore, the answer is 2.")
    assert verdict.passed is None and not verdict.failed  # an abstention, not a judge failure
    assert verdict.error == f"not applicable: {error}"


@pytest.mark.parametrize(
    ("reference", "response", "params", "passed"),
    [
        # 1989 vs 1991 differ by 0.1 %: the usual "within 1 %" rule accepts them
        ("1989", "The answer is 1991", {"rel_tol": 0.01}, True),
        ("1989", "The answer is 1991", {}, False),
        # rel_tol 1e-4 (the default) accepts four significant figures: 3.1416 for 3.14159
        ("3.14159", "The answer is 3.1416", {}, True),
        ("3.14159", "The answer is 3.1416", {"rel_tol": 0.0}, False),
        # without rounding slack 27.78 is not 27.8
        ("27.8", "The answer is 27.78", {"rounding": False}, False),
        # at 0 °C a relative tolerance accepts only 0; abs_tol widens it
        ("0 °C", "The answer is 0.5 °C", {}, False),
        ("0 °C", "The answer is 0.5 °C", {"abs_tol": 1.0}, True),
    ],
)
def test_tolerance_parameters(reference: str, response: str, params: dict[str, object], passed: bool) -> None:
    assert verdict_of(reference, response, **params).passed is passed


def test_raw_says_what_was_compared() -> None:
    verdict = verdict_of("350 mg", "Therefore, the answer is 0.35 g.")
    assert verdict.raw.startswith("reference 350 mg; response 0.35 g (converted: 350")
    mismatch = verdict_of("350 mg", "Therefore, the answer is 0.35 mL.")
    assert "units of different dimensions" in mismatch.raw
