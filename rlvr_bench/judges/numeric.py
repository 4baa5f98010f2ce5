"""Numbers with units: the final step's last quantity against the reference quantity, via pint.

A *quantity* is a number ("450", "-3.5", "1,234.5", "1 000", "1/2", "\\frac{1}{2}", "3.5e-3",
"3.5 x 10^-3", "10^{-3}", "4π", "2.5 million") optionally followed by a unit pint
understands ("mg", "mg/kg", "g/mol", "mmHg", "°C", "kg/m^2", "J/(mol·K)", "%",
"per cent", "‰", "mg per kg"). The judge reads the reference's quantity and the
quantity the response's extracted answer *states* (:func:`stated_quantity`: its last
quantity, leaving out qualifiers such as "every 24 hours", "(from 3 + 4)" and quantities of
another dimension than the reference's), converts it to the reference's unit and compares.

Decisions (each one a test case):

- reference without a number -> unscored ("reference has no number");
- reference with several numbers or a formula ("x = 2, x = 3", "9:3:3:1",
  "2x sin x", "O(n^2)") -> unscored: it is not one quantity;
- response without a number (or empty) -> False;
- a hedge (quantities joined by "or": "either 5 or 4", "3 or 4") passes only when every value it
  names does;
- units of different dimensions (grams vs millilitres) -> False;
- a bare response number is read in the reference's unit ("450" for "450 mg"),
  since the question usually names the unit; a percent reference also accepts the
  fraction ("0.5" for "50%"), and a dimensionless reference accepts a percentage
  ("50%" for "0.5");
- a reference without a unit fixes none: a response with a dimensional unit is
  compared by its number as written ("5 kg" for "5");
- offset units (°C, °F) convert as temperatures: 25 °C == 298.15 K;
- tolerance follows the digits written, not a fixed percentage: the allowed
  difference is half a unit in the reference's last digit (27.8 -> 0.05), plus half a
  unit in the response's last digit when the response states at least as many
  significant digits (1.11 mL/s for 66.7 mL/min); integers and fractions are exact
  (1989 is not 1991, 1/3 needs three digits: 0.333). A fixed 1 % tolerance accepts
  wrong years and prices (0.1 % apart) in the bundled gold set; ``rel_tol`` and
  ``abs_tol`` widen the tolerance when wanted.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib.util import find_spec
from itertools import pairwise
from typing import Any, ClassVar

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.normalize import (
    HEDGE_WORDS,
    braced_argument,
    extract_answer,
    join_digit_groups,
    normalize_unicode,
    unwrap_latex,
)
from rlvr_bench.judges.rules import LocalJudge, preview, read_params, require_range
from rlvr_bench.records import Verdict

#: Spellings pint does not know, rewritten before parsing (applied in order, case-sensitive).
_UNIT_ALIASES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bper\s*cent\b", "percent"),
        (r"‰", " permille"),
        (r"\bper\s*mille\b", "permille"),
        (r"\bmm\s+Hg\b", "mmHg"),
        (r"(?:°|º|\bdeg(?:rees?)?)\s*C(?:elsius)?\b", " degC"),
        (r"(?:°|º|\bdeg(?:rees?)?)\s*F(?:ahrenheit)?\b", " degF"),
        (r"\bdegrees?\s+celsius\b", " degC"),
        (r"\bdegrees?\s+fahrenheit\b", " degF"),
    )
)

#: Words pint reads as units that, right after a number, are almost always English
#: ("5 in total", "3 points", "at 5 at least") or ambiguous ("pa" is a picoyear to pint).
_NOT_UNITS = frozenset({"a", "as", "at", "in", "are", "point", "points", "unit", "units", "pa"})

#: Number words that scale the number before them ("2.5 million").
_MULTIPLIERS = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}

_NUMBER = re.compile(
    r"""
    (?<![\w.])                                     # not inside a word or a number ("CO2", "v1.2")
    (?P<sign>[-+]?)
    (?:
        (?P<num>\d+(?:\.\d+)?)\s*/\s*(?P<den>\d+(?:\.\d+)?)(?!\d|[.,]\d)  # fraction 1/2
      | (?P<mant>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)                # 1,234.5  0.5  .5
        (?:
            [eE](?P<e_exp>[-+]?\d+)                                         # 3.5e-3
          | \s*(?:[x×*·])\s*10\s*\^\s*\{?\s*(?P<times_exp>[-+]?\d+)\s*\}?   # 3.5 x 10^-3
          | \s*\^\s*\{?\s*(?P<power>[-+]?\d+)\s*\}?                         # 10^{-3}, 2^10
        )?
    )
    (?P<pi>\s*π)?                                  # 4π
    (?:\s+(?P<multiplier>hundred|thousand|million|billion|trillion)\b)?
    """,
    re.VERBOSE,
)

_UNIT_WORD = r"[A-Za-zμΩÅ°%][A-Za-zμΩÅ°_]*(?:\^\{?-?\d+\}?)?"
_UNIT = re.compile(
    rf"\s*(?P<unit>\(?{_UNIT_WORD}\)?(?:\s*[/·*]\s*\(?{_UNIT_WORD}\)?|\s+per\s+{_UNIT_WORD})*)"
)
_UNIT_SEPARATOR = re.compile(r"\s*[/·*]\s*|\s+per\s+")

_REGISTRY_LOCK = threading.Lock()
_REGISTRY: Any = None


def unit_registry() -> Any:
    """pint's default UnitRegistry, built once per process (about 0.3 s)."""
    global _REGISTRY
    with _REGISTRY_LOCK:
        if _REGISTRY is None:
            import pint

            _REGISTRY = pint.UnitRegistry()
        return _REGISTRY


@dataclass(frozen=True)
class Quantity:
    """A number as written, how precisely it was written, and its unit (a pint Unit) or no unit."""

    value: float
    unit: Any | None
    #: the matched text, for a verdict's ``raw``
    text: str
    #: half a unit in the last written digit ("27.8" -> 0.05, "6.4 x 10^3" -> 50) for a *rounded* number
    #: (one with a decimal part, scientific notation or "million"); 0.0 for an exact one ("1989", "1/3")
    half_ulp: float = 0.0
    #: significant digits as written ("0.0350" -> 3, "1989" -> 4)
    sig_figs: int = 1
    #: True when the number is part of a formula: letters glued to it that are not a unit ("2x"), or it is
    #: the exponent of something that is not a number ("x^2", "O(n^2)")
    in_formula: bool = False
    #: where the number starts in the :func:`prepare`-d text it was read from
    start: int = 0

    @property
    def rounded(self) -> bool:
        return self.half_ulp > 0

    def describe(self) -> str:
        return f"{self.value:g} {self.unit:~}" if self.unit is not None else f"{self.value:g}"


def prepare(text: str) -> str:
    r"""Plain text for quantity extraction: LaTeX, Unicode superscripts and unit spellings rewritten.

    "$\frac{1}{2}$" -> "1/2", "10⁻³" -> "10^-3", "25^\circ C" -> "25 degC", "50\%" -> "50%",
    "1\,000" and "1 000" -> "1000", "\text{mg}" -> "mg", "℃" -> " degC", "µ" -> "μ", and the Unicode
    forms of :func:`~rlvr_bench.judges.normalize.normalize_unicode` ("½" -> "1/2", "–5" -> "-5").
    """
    text = normalize_unicode(text.replace("º", "°"))  # NFKC would turn the ordinal indicator into "o"
    text = join_digit_groups(text.replace("µ", "μ"))
    text = _replace_fractions(text)
    text = re.sub(r"(?<=\d)\\,(?=\d{3})", "", text)  # LaTeX thin space as thousands separator
    text = re.sub(r"(?<=\d)\{,\}(?=\d)", ",", text)
    text = re.sub(r"\\(?:SI|qty)\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"\1 \2", text)  # siunitx \SI{5}{mg}
    text = re.sub(r"\\(?:num|si|unit)\s*\{([^{}]*)\}", r"\1", text)
    text = unwrap_latex(text)
    for latex, plain in (("\\%", "%"), ("^{\\circ}", "°"), ("^\\circ", "°"), ("\\circ", "°"), ("\\degree", "°"),
                         ("\\times", "×"), ("\\cdot", "·"), ("\\mu", "μ"), ("\\Omega", "Ω"), ("\\pi", "π"),
                         ("\\left", ""), ("\\right", ""), ("\\(", " "), ("\\)", " "), ("\\[", " "), ("\\]", " "),
                         ("$", " ")):
        text = text.replace(latex, plain)
    text = re.sub(r"\\[,;: !]|~", " ", text)
    # Subscripts label things (v_{esc}, 53_{10}, H_2O); their digits are not quantities.
    text = re.sub(r"_\{[^{}]*\}|_\d+", "", text)
    for pattern, replacement in _UNIT_ALIASES:
        text = pattern.sub(replacement, text)
    return re.sub(r"[ \t]+", " ", text)


def _replace_fractions(text: str) -> str:
    r"""``\frac{a}{b}`` (also ``\dfrac``, ``\tfrac``) -> "(a/b)" text when both parts are plain numbers."""
    pattern = re.compile(r"\\[dt]?frac\s*\{")
    start = 0
    while (match := pattern.search(text, start)) is not None:
        numerator = braced_argument(text, match.end() - 1)
        if numerator is None or numerator[1] >= len(text) or text[numerator[1]] != "{":
            start = match.end()
            continue
        denominator = braced_argument(text, numerator[1])
        if denominator is None:
            start = match.end()
            continue
        top, bottom = numerator[0].strip(), denominator[0].strip()
        if re.fullmatch(r"-?\d+(?:\.\d+)?", top) and re.fullmatch(r"\d+(?:\.\d+)?", bottom):
            text = text[: match.start()] + f"{top}/{bottom}" + text[denominator[1] :]
        start = match.start() + 1
    return text


@dataclass(frozen=True)
class _Number:
    value: float
    half_ulp: float
    sig_figs: int


def _significant_digits(mantissa: str) -> int:
    digits = mantissa.replace(",", "").replace(".", "").lstrip("0")
    return max(len(digits), 1)


def _read_number(match: re.Match[str]) -> _Number | None:
    """The value of a matched number and its written precision; None for 1/0 or an overflow."""
    sign = -1.0 if match.group("sign") == "-" else 1.0
    half_ulp = 0.0
    if match.group("num") is not None:
        denominator = float(match.group("den"))
        if denominator == 0:
            return None
        value = float(match.group("num")) / denominator
        sig_figs = _significant_digits(match.group("num") + match.group("den"))
    else:
        mantissa = match.group("mant")
        value = float(mantissa.replace(",", ""))
        sig_figs = _significant_digits(mantissa)
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = match.group("e_exp") or match.group("times_exp")
        try:
            if exponent is not None:
                value *= 10.0 ** int(exponent)
                half_ulp = 0.5 * 10.0 ** (int(exponent) - decimals)
            elif match.group("power") is not None:
                value = value ** int(match.group("power"))
            elif decimals:
                half_ulp = 0.5 * 10.0**-decimals
        except OverflowError:
            return None
    if match.group("pi"):
        value *= math.pi
        half_ulp *= math.pi
    if match.group("multiplier"):
        scale = _MULTIPLIERS[match.group("multiplier")]
        value *= scale
        # "2.5 million" is a rounded figure: half a unit in its last digit, times a million.
        half_ulp = (half_ulp or 0.5) * scale
    if not math.isfinite(value):
        return None
    return _Number(sign * value, half_ulp, sig_figs)


def _parse_unit(candidate: str) -> Any | None:
    """The longest prefix of ``candidate`` (cut at unit separators) that pint parses, or None."""
    registry = unit_registry()
    cuts = [m.start() for m in _UNIT_SEPARATOR.finditer(candidate)] + [len(candidate)]
    for cut in reversed(cuts):
        text = candidate[:cut].strip()
        text = re.sub(r"\s+per\s+", "/", text)
        if text.count("(") != text.count(")"):
            text = text.replace("(", "").replace(")", "") if "/(" not in text else text + ")"
        if not text or text in _NOT_UNITS:
            continue
        try:
            unit = registry.parse_units(text)
        except Exception:  # pint raises several error types (and AssertionError) for non-units
            continue
        if unit.dimensionless and str(unit) == "dimensionless":
            continue  # "1" or an empty expression: not a unit
        return unit
    return None


def extract_quantities(text: str) -> list[Quantity]:
    """Every quantity in ``text``, in order of appearance (see the module docstring for the forms)."""
    prepared = prepare(text)
    quantities: list[Quantity] = []
    position = 0
    while (match := _NUMBER.search(prepared, position)) is not None:
        end = match.end()
        unit = None
        unit_match = _UNIT.match(prepared, end)
        if unit_match is not None:
            unit = _parse_unit(unit_match.group("unit"))
            if unit is not None:
                end = unit_match.end()  # the unit's own digits ("m^2") are not numbers of their own
        position = max(end, match.start() + 1)
        number = _read_number(match)
        if number is None:
            continue
        shown = prepared[match.start() : end].strip()
        if shown.count(")") > shown.count("("):
            shown = shown.rstrip(")")
        glued = unit is None and match.end() < len(prepared) and prepared[match.end()].isalpha()
        exponent = prepared[: match.start()].rstrip(" {").endswith("^")
        quantities.append(Quantity(number.value, unit, shown, number.half_ulp, number.sig_figs, glued or exponent,
                                   match.start()))
    return quantities


def last_quantity(text: str) -> Quantity | None:
    """The last quantity in ``text``, or None when it holds no number."""
    found = extract_quantities(text)
    return found[-1] if found else None


#: A quantity after these words qualifies the answer rather than stating it ("350 mg every 24 hours").
_QUALIFIER_BEFORE = re.compile(r"\b(?:every|per|each)\s*$", re.IGNORECASE)


def stated_quantities(answer: str, reference: Quantity | None = None) -> list[Quantity]:
    """The quantities an answer states, in order: its quantities without the ones that qualify it.

    Left out, as long as something else remains: quantities inside a formula ("x^2"), in parentheses
    ("7 (from 3 + 4)"), after "every"/"per"/"each" ("350 mg infused once every 24 hours"), and, when
    the reference has a unit with a dimension, those whose unit has another one ("24 hours" for mass).
    The answer's quantity is the last of these; several joined by "or" are a hedge.
    """
    prepared = prepare(answer)
    quantities = extract_quantities(answer)

    def keep(candidates: list[Quantity], wanted: Callable[[Quantity], bool]) -> list[Quantity]:
        kept = [q for q in candidates if wanted(q)]
        return kept or candidates

    def outside_parentheses(quantity: Quantity) -> bool:
        return prepared.count("(", 0, quantity.start) <= prepared.count(")", 0, quantity.start)

    def not_qualifier(quantity: Quantity) -> bool:
        return not _QUALIFIER_BEFORE.search(prepared[: quantity.start])

    candidates = keep(quantities, lambda q: not q.in_formula)
    candidates = keep(candidates, outside_parentheses)
    candidates = keep(candidates, not_qualifier)
    if reference is not None and reference.unit is not None and not reference.unit.dimensionless:
        dimensionality = reference.unit.dimensionality
        candidates = keep(candidates, lambda q: q.unit is None or q.unit.dimensionality == dimensionality)
    return candidates


@dataclass(frozen=True)
class Comparison:
    """Whether two quantities agree, and what was compared (for a verdict's ``raw``)."""

    passed: bool | None
    detail: str
    error: str | None = None


#: An exact reference ("1/3", "12") accepts a rounded response only when it states at least this many
#: significant digits: 0.333 matches 1/3, 0.33 and 0.3 do not.
MIN_SIG_FIGS_FOR_EXACT = 3


def _converters(reference: Quantity, response: Quantity) -> list[tuple[Callable[[float], float], str]]:
    """Ways to read the response's number in the reference's unit (each with a note for ``raw``)."""
    registry = unit_registry()
    if reference.unit is None:
        if response.unit is not None and response.unit.dimensionless:  # "50%" for 0.5
            unit = response.unit
            return [(lambda x: float(registry.Quantity(x, unit).to("dimensionless").magnitude), "as a fraction")]
        return [(lambda x: x, "as written")]
    if response.unit is None:
        ways: list[tuple[Callable[[float], float], str]] = [(lambda x: x, "bare number, in the reference's unit")]
        if str(reference.unit) == "percent":
            ways.append((lambda x: x * 100.0, "bare fraction, as a percentage"))  # 0.5 for 50 %
        return ways
    source, target = response.unit, reference.unit
    return [(lambda x: float(registry.Quantity(x, source).to(target).magnitude), "converted")]


def compare_quantities(reference: Quantity, response: Quantity, rel_tol: float, abs_tol: float,
                       rounding: bool = True) -> Comparison:
    """The response against the reference, in the reference's unit (rules in the module docstring).

    The allowed difference is the largest of ``abs_tol``, ``rel_tol * |reference|`` and, when
    ``rounding`` is on, the rounding slack: half a unit in the reference's last digit plus half a unit in
    the response's last digit (the latter only when the response states enough significant digits).
    """
    shown = f"reference {reference.describe()}; response {response.describe()}"
    if rounding and response.rounded:
        needed = reference.sig_figs if reference.rounded else MIN_SIG_FIGS_FOR_EXACT
        response_slack_counts = response.sig_figs >= needed
    else:
        response_slack_counts = False
    try:
        details = []
        for convert, note in _converters(reference, response):
            value = convert(response.value)
            # Convert the response's rounding as a difference, so offset units (°C -> K) stay right.
            response_slack = abs(convert(response.value + response.half_ulp) - value) if response_slack_counts else 0.0
            slack = reference.half_ulp + response_slack if rounding else 0.0
            tolerance = max(abs_tol, rel_tol * abs(reference.value), slack)
            difference = abs(value - reference.value)
            # The tiny relative term absorbs float noise (0.35000000000000003 g).
            if difference <= tolerance + 1e-12 * max(abs(value), abs(reference.value)):
                return Comparison(True, f"{shown} ({note}: {value:g}; |diff| {difference:.3g} <= {tolerance:.3g})")
            details.append(f"{note}: {value:g}; |diff| {difference:.3g} > {tolerance:.3g}")
        return Comparison(False, f"{shown} ({'; '.join(details)})")
    except Exception as exc:  # pint's DimensionalityError and offset-unit errors
        if type(exc).__name__ == "DimensionalityError":
            return Comparison(False, f"{shown}: units of different dimensions")
        return Comparison(None, shown, f"unit conversion failed: {type(exc).__name__}")


def hedged(answer: str, stated: list[Quantity]) -> list[Quantity]:
    """The quantities of ``stated`` that "or" joins in ``answer`` ("either 5 or 4", "1000 or 1024 bytes"); []
    when none are joined so ("2 Ω, less than either resistor alone" is no hedge)."""
    if not HEDGE_WORDS.search(answer):
        return []
    prepared = prepare(answer)
    joined: list[Quantity] = []
    for first, second in pairwise(stated):
        between = prepared[first.start + len(first.text) : second.start]
        if re.fullmatch(r"[\s,;)]*(?:or|and/or)(?:\s+(?:maybe|perhaps|possibly))?[\s,;(]*", between, re.IGNORECASE):
            joined += [q for q in (first, second) if q not in joined]
    return joined


class NumericJudge(LocalJudge):
    """The final step's last quantity equals the reference quantity, up to rounding. Binary.

    Parameters:
        rounding (bool, default true): allow the rounding slack of the digits written (module docstring).
        rel_tol (float in [0, 1], default 1e-4): a relative tolerance floor, in the reference's unit: four
            significant figures always suffice (3.1416 for 3.14159), while neighbouring years stay apart
            (1989 vs 1990 is 5e-4). Set 0.01 for the common "within 1 %" rule.
        abs_tol (float >= 0, default 0.0): an absolute tolerance floor in the reference's unit, for
            references at or near zero (0 °C), where relative tolerances accept only the exact value.
    """

    soft = False
    DEFAULTS: ClassVar[dict[str, Any]] = {"rel_tol": 1e-4, "abs_tol": 0.0, "rounding": True}

    @classmethod
    def validated_params(cls, spec: JudgeSpec) -> dict[str, Any]:
        params = read_params(spec, cls.DEFAULTS)
        require_range(spec, "rel_tol", params["rel_tol"], 0.0, 1.0)
        require_range(spec, "abs_tol", params["abs_tol"], 0.0, math.inf)
        return params

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        if find_spec("pint") is None:
            return f"judge {spec.name!r} needs the package pint: pip install pint"
        return super().check(spec)

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        unit_registry()  # build it once, outside the per-triple timing
        return super().judge_batch(triples)

    def judge_one(self, triple: Triple) -> Verdict:
        found = extract_quantities(triple.reference)
        if not found:
            return Verdict.not_applicable("reference has no number")
        if len(found) > 1:  # "x = 2, x = 3", "9:3:3:1", "2x + 3": a list, ratio or formula
            return Verdict.not_applicable(f"reference is not a single quantity ({len(found)} numbers)")
        if found[0].in_formula:  # "3x", "O(n^2)"
            return Verdict.not_applicable("reference is a formula, not a quantity")
        reference = found[0]
        answer = extract_answer(triple.final_step)
        stated = stated_quantities(answer, reference)
        if not stated:
            return Verdict(passed=False, raw=f"no number in response {preview(answer, 40)!r}")
        compare = partial(compare_quantities, reference, rel_tol=self.params["rel_tol"],
                          abs_tol=self.params["abs_tol"], rounding=self.params["rounding"])
        hedge = hedged(answer, stated)
        if hedge:
            results = [compare(quantity) for quantity in hedge]
            wrong = next((r for r in results if r.passed is not True), None)
            if wrong is not None:  # "either 5 or 4": the hedge names a value that is not the answer
                return Verdict(passed=None if wrong.passed is None else False,
                               raw=preview(f"hedged answer: {wrong.detail}", 200), error=wrong.error)
        result = compare(stated[-1])
        return Verdict(passed=result.passed, raw=preview(result.detail, 200), error=result.error)
