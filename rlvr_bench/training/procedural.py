"""Procedural free-form questions over six quantitative domains, with exact answers.

Every problem is generated from a few integers, so its answer is an exact
:class:`~fractions.Fraction` with a unit. The *reference* is one canonical
surface form ("350 mg"); a correct response may say the same quantity in other
forms ("0.35 g", "350 milligrams", "3/2 h", "a 25 percent increase"), which is
what separates a units-aware judge from exact string match.

Demonstrations (the SFT data) come from a *noisy demonstrator*: with a
documented, sub-case-dependent probability a worked solution makes the domain's
classic mistake (forgetting a unit conversion, simple instead of compound
interest, dividing by the new value, ...). In some sub-cases the mistake is the
majority, so a policy that imitates the demonstrations makes it even at greedy
decoding; a correctness reward can un-teach it. :data:`FLAW_RATES` lists them.

Splits are disjoint in their parameters: a test question never appears in
train or validation under another phrasing. Everything is deterministic in the
seed. ``python -m rlvr_bench.training.procedural OUT_DIR`` exports a task folder.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import yaml

from rlvr_bench.records import Item, item_to_json, write_jsonl

DOMAINS = ("dosage", "molar_mass", "compound_interest", "unit_conversion", "percent_change", "speed_time")

#: (domain, sub-case) -> probability that a demonstration makes the domain's classic mistake.
FLAW_RATES: dict[tuple[str, str], float] = {
    ("dosage", "mg"): 0.05,
    ("dosage", "g"): 0.6,  # reports the mg figure with a "g" unit
    ("molar_mass", "mass"): 0.05,
    ("molar_mass", "moles"): 0.6,  # multiplies by the molar mass instead of dividing
    ("compound_interest", "1y"): 0.0,  # simple and compound interest agree after one year
    ("compound_interest", "multi"): 0.6,  # simple interest
    ("unit_conversion", "down"): 0.05,
    ("unit_conversion", "up"): 0.6,  # multiplies instead of dividing (m -> km)
    ("percent_change", "increase"): 0.1,
    ("percent_change", "decrease"): 0.6,  # divides by the new value
    ("speed_time", "speed"): 0.05,
    ("speed_time", "time"): 0.6,  # multiplies speed by distance
}

UNIT_NAMES = {
    "mg": "milligrams", "g": "grams", "kg": "kilograms", "mol": "moles", "mmol": "millimoles",
    "km": "kilometers", "m": "meters", "cm": "centimeters", "mm": "millimeters", "L": "liters", "mL": "milliliters",
    "h": "hours", "min": "minutes", "km/h": "kilometers per hour", "%": "percent", "$": "dollars",
}
#: unit -> (other unit, factor): value in other unit = value * factor
ALT_UNITS: dict[str, tuple[str, Fraction]] = {
    "mg": ("g", Fraction(1, 1000)), "g": ("mg", Fraction(1000)), "kg": ("g", Fraction(1000)),
    "mol": ("mmol", Fraction(1000)), "km": ("m", Fraction(1000)), "m": ("cm", Fraction(100)),
    "cm": ("mm", Fraction(10)), "mm": ("cm", Fraction(1, 10)), "L": ("mL", Fraction(1000)),
    "mL": ("L", Fraction(1, 1000)),
    "h": ("min", Fraction(60)), "min": ("s", Fraction(60)),
}
DRUGS = ("amoxicillin", "ibuprofen", "paracetamol", "gentamicin", "vancomycin", "ceftriaxone")
COMPOUNDS = ("water", "glucose", "salt", "ethanol", "urea", "calcium carbonate", "ammonia", "methane")


# ---------------------------------------------------------------- numbers and surface forms


def decimal_text(value: Fraction, max_places: int = 4) -> str | None:
    """Exact decimal text of ``value`` ("0.35", "-20", "1331"), or None if it needs more places."""
    scaled = value * 10**max_places
    if scaled.denominator != 1:
        return None
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(scaled.numerator), 10**max_places)
    digits = f"{frac:0{max_places}d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def number_text(value: Fraction) -> str:
    """Decimal when exact within 4 places, else a reduced fraction ("4/3")."""
    text = decimal_text(value)
    return text if text is not None else f"{value.numerator}/{value.denominator}"


def with_unit(number: str, unit: str, long_name: bool = False) -> str:
    if unit == "$":
        return f"{number} dollars" if long_name else f"${number}"
    if unit == "%":
        return f"{number} percent" if long_name else f"{number}%"
    return f"{number} {UNIT_NAMES[unit] if long_name else unit}"


def canonical_form(value: Fraction, unit: str) -> str:
    """The reference surface form: symbol unit, decimal (or fraction) number."""
    return with_unit(number_text(value), unit)


def surface_forms(value: Fraction, unit: str) -> list[str]:
    """Equivalent ways to state the quantity; the first is the canonical form."""
    forms = [canonical_form(value, unit), with_unit(number_text(value), unit, long_name=True)]
    if unit in ALT_UNITS:
        other, factor = ALT_UNITS[unit]
        converted = decimal_text(value * factor)
        if converted is not None and len(converted) <= 7:  # long digit strings only make the policy's life harder
            forms.append(with_unit(converted, other))
    if value.denominator != 1 and value.denominator <= 10:
        forms.append(with_unit(f"{value.numerator}/{value.denominator}", unit))
    if unit == "%" and value > 0 and (magnitude := decimal_text(value)) is not None:
        # only for increases: "a decrease of 20%" reads as +20 to a units-aware judge
        forms.append(f"an increase of {magnitude}%")
    return list(dict.fromkeys(forms))


# ---------------------------------------------------------------- problems


@dataclass(frozen=True)
class Problem:
    """One generated question with its exact answer and two worked solutions.

    ``key`` identifies the parameters (split assignment uses it, so paraphrases
    of one problem never straddle splits).
    """

    key: str
    domain: str
    subcase: str
    question: str
    answer: Fraction
    unit: str
    #: the worked line of a correct solution ("70 × 5 = 350")
    working: str
    #: the classic mistake: its working line and its (wrong) answer
    flawed_working: str
    flawed_answer: Fraction
    flawed_unit: str

    @property
    def reference(self) -> str:
        return canonical_form(self.answer, self.unit)

    @property
    def answer_type(self) -> str:
        return "number" if self.unit == "%" else "quantity"


def _dosage(rng: random.Random) -> Problem:
    weight, per_kg, drug = rng.randint(10, 99), rng.choice((1, 2, 10, 20)), rng.choice(DRUGS)
    grams = rng.random() < 0.5
    dose = Fraction(weight * per_kg)
    ask = "How many grams should be given?" if grams else "What dose should be given?"
    question = f"A patient weighs {weight} kg and the prescribed dose of {drug} is {per_kg} mg/kg. {ask}"
    working = f"{weight} × {per_kg} = {weight * per_kg} mg"
    if grams:  # the classic slip: the mg figure reported with a gram unit
        return Problem(f"dosage:{weight}:{per_kg}:g", "dosage", "g", question, dose / 1000, "g", working,
                       working, dose, "g")
    return Problem(f"dosage:{weight}:{per_kg}:mg", "dosage", "mg", question, dose, "mg", working,
                   f"{weight} × {per_kg} = {weight * per_kg} mg = {number_text(dose / 1000)} mg", dose / 1000, "mg")


def _molar_mass(rng: random.Random) -> Problem:
    molar, compound = 2 * rng.randint(6, 99), rng.choice(COMPOUNDS)
    moles = rng.choice((Fraction(1, 2), Fraction(1), Fraction(2), Fraction(10)))
    mass = molar * moles
    if rng.random() < 0.5:
        question = f"How many grams are in {number_text(moles)} mol of {compound} (molar mass {molar} g/mol)?"
        return Problem(f"molar:{molar}:{moles}:mass", "molar_mass", "mass", question, mass, "g",
                       f"{number_text(moles)} × {molar} = {number_text(mass)} g",
                       f"{number_text(moles)} / {molar} = {number_text(moles / molar)} g", moles / molar, "g")
    question = f"How many moles are in {number_text(mass)} g of {compound} (molar mass {molar} g/mol)?"
    return Problem(f"molar:{molar}:{moles}:moles", "molar_mass", "moles", question, moles, "mol",
                   f"{number_text(mass)} / {molar} = {number_text(moles)} mol",
                   f"{number_text(mass)} × {molar} = {number_text(mass * molar)} mol", mass * molar, "mol")


def _compound_interest(rng: random.Random) -> Problem:
    principal, rate, years = 100 * rng.randint(1, 40), rng.choice((10, 20, 50, 100)), rng.choice((1, 2, 2, 3))
    growth = Fraction(100 + rate, 100)
    total = principal * growth**years
    simple = principal * (1 + Fraction(rate * years, 100))
    question = (f"${principal} is deposited at {rate}% interest compounded yearly. "
                f"How much is in the account after {years} year{'s' if years > 1 else ''}?")
    subcase = "1y" if years == 1 else "multi"
    return Problem(f"interest:{principal}:{rate}:{years}", "compound_interest", subcase, question, total, "$",
                   f"{principal} × {number_text(growth)}^{years} = {number_text(total)}",
                   f"{principal} × (1 + {number_text(Fraction(rate * years, 100))}) = {number_text(simple)}",
                   simple, "$")


#: (big unit, small unit, small units per big unit)
CONVERSIONS = (("km", "m", 1000), ("m", "cm", 100), ("kg", "g", 1000), ("g", "mg", 1000), ("L", "mL", 1000),
               ("cm", "mm", 10))


def _unit_conversion(rng: random.Random) -> Problem:
    big, small, factor = rng.choice(CONVERSIONS)
    amount = Fraction(rng.randint(1, 99), rng.choice((1, 1, 10)))
    if rng.random() < 0.5:  # big -> small: multiply
        question = f"Convert {number_text(amount)} {big} to {small}."
        result = amount * factor
        return Problem(f"convert:{big}:{amount}:down", "unit_conversion", "down", question, result, small,
                       f"{number_text(amount)} × {factor} = {number_text(result)} {small}",
                       f"{number_text(amount)} / {factor} = {number_text(amount / factor)} {small}",
                       amount / factor, small)
    small_amount = amount * factor
    question = f"Convert {number_text(small_amount)} {small} to {big}."
    return Problem(f"convert:{big}:{small_amount}:up", "unit_conversion", "up", question, amount, big,
                   f"{number_text(small_amount)} / {factor} = {number_text(amount)} {big}",
                   f"{number_text(small_amount)} × {factor} = {number_text(small_amount * factor)} {big}",
                   small_amount * factor, big)


def _percent_change(rng: random.Random) -> Problem:
    old = rng.choice((50, 100, 100, 200, 1000))
    change = rng.randint(1, 90) * rng.choice((1, -1))
    if old == 50:
        change += change % 2  # keeps the new value whole
    new = Fraction(old * (100 + change), 100)
    item = rng.choice(("price", "population", "salary", "enrollment"))
    verb = "rose" if change > 0 else "fell"
    question = f"The {item} {verb} from {old} to {number_text(new)}. What is the percent change?"
    wrong = (new - old) / new * 100
    subcase = "increase" if change > 0 else "decrease"
    return Problem(f"percent:{old}:{change}", "percent_change", subcase, question, Fraction(change), "%",
                   f"({number_text(new)} - {old}) / {old} = {number_text(Fraction(change, 100))}",
                   f"({number_text(new)} - {old}) / {number_text(new)} = {number_text(wrong / 100)}",
                   wrong, "%")


def _speed_time(rng: random.Random) -> Problem:
    speed = rng.randint(10, 99)
    hours = rng.choice((Fraction(1, 2), Fraction(1), Fraction(2), Fraction(10)))
    distance = speed * hours
    if rng.random() < 0.5:
        question = f"A train travels {number_text(distance)} km in {number_text(hours)} h. What is its average speed?"
        return Problem(f"speed:{speed}:{hours}:speed", "speed_time", "speed", question, Fraction(speed), "km/h",
                       f"{number_text(distance)} / {number_text(hours)} = {speed} km/h",
                       f"{number_text(distance)} × {number_text(hours)} = {number_text(distance * hours)} km/h",
                       distance * hours, "km/h")
    question = f"How long does it take to travel {number_text(distance)} km at {speed} km/h?"
    return Problem(f"speed:{speed}:{hours}:time", "speed_time", "time", question, hours, "h",
                   f"{number_text(distance)} / {speed} = {number_text(hours)} h",
                   f"{number_text(distance)} × {speed} = {number_text(distance * speed)} h",
                   distance * speed, "h")


GENERATORS: dict[str, Callable[[random.Random], Problem]] = {
    "dosage": _dosage, "molar_mass": _molar_mass, "compound_interest": _compound_interest,
    "unit_conversion": _unit_conversion, "percent_change": _percent_change, "speed_time": _speed_time,
}


# ---------------------------------------------------------------- splits and demonstrations


@dataclass(frozen=True)
class ProceduralSplits:
    train: list[Problem]
    validation: list[Problem]
    test: list[Problem]

    def items(self) -> list[Item]:
        """All problems as task items (ids "<split>-<n>"), with the exact answer in metadata."""
        items = []
        for split, problems in (("train", self.train), ("validation", self.validation), ("test", self.test)):
            for index, problem in enumerate(problems):
                items.append(problem_item(problem, f"{split}-{index:05d}", split))
        return items


def problem_item(problem: Problem, item_id: str, split: str) -> Item:
    return Item(
        id=item_id, domain=problem.domain, question=problem.question, reference=problem.reference,
        answer_type=problem.answer_type, split=split,
        metadata={"subcase": problem.subcase, "answer": str(problem.answer), "unit": problem.unit,
                  "forms": surface_forms(problem.answer, problem.unit)},
    )


def _unique_problems(domain: str, rng: random.Random, count: int, taken: set[str], strict: bool) -> Iterator[Problem]:
    """Up to ``count`` problems whose keys are not yet taken; ``strict`` raises when the domain runs out."""
    produced, misses = 0, 0
    while produced < count:
        problem = GENERATORS[domain](rng)
        if problem.key in taken:
            misses += 1
            if misses > 3000:  # 3,000 duplicates in a row: the domain is (all but) exhausted
                if not strict:
                    return
                raise ValueError(f"domain {domain!r} has too few distinct problems for {count} more; "
                                 "lower the split sizes")
            continue
        misses = 0
        taken.add(problem.key)
        produced += 1
        yield problem


def generate_splits(seed: int = 0, test_per_domain: int = 200, validation_per_domain: int = 30,
                    train_per_domain: int = 1000, domains: Sequence[str] = DOMAINS) -> ProceduralSplits:
    """Disjoint train / validation / test problems, round-robin over domains (deterministic in ``seed``).

    Test problems are drawn first, so changing the train size never changes the test set. A domain with
    fewer distinct problems than asked gives fewer train problems (demonstrations reuse them in other
    surface forms); test and validation sizes are exact or an error.
    """
    unknown = sorted(set(domains) - set(DOMAINS))
    if unknown:
        raise ValueError(f"unknown procedural domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
    splits: dict[str, list[Problem]] = {"test": [], "validation": [], "train": []}
    for domain in domains:
        rng = random.Random(f"{seed}:{domain}")
        taken: set[str] = set()
        for split, count in (("test", test_per_domain), ("validation", validation_per_domain),
                             ("train", train_per_domain)):
            splits[split].extend(_unique_problems(domain, rng, count, taken, strict=split != "train"))
    order = random.Random(seed)
    for problems in splits.values():
        order.shuffle(problems)
    return ProceduralSplits(train=splits["train"], validation=splits["validation"], test=splits["test"])


FINAL_LINES = ("Therefore, the answer is {answer}.", "Therefore, the answer is {answer}.", "So the answer is {answer}.")


def demonstration(problem: Problem, rng: random.Random, flaw_scale: float = 1.0) -> tuple[str, bool]:
    """A worked solution in a random surface form, and whether it makes the classic mistake.

    ``flaw_scale`` multiplies :data:`FLAW_RATES` (0 gives a clean demonstrator).
    """
    flawed = rng.random() < FLAW_RATES[(problem.domain, problem.subcase)] * flaw_scale
    if flawed:
        working, forms = problem.flawed_working, surface_forms(problem.flawed_answer, problem.flawed_unit)
    else:
        working, forms = problem.working, surface_forms(problem.answer, problem.unit)
    final = rng.choice(FINAL_LINES).format(answer=rng.choice(forms))
    return f"{working}\n{final}", flawed


def export_task(folder: Path, splits: ProceduralSplits, seed: int) -> Path:
    """Write ``task.yaml`` and ``items.jsonl`` (the validation and test splits, plus train) to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "items.jsonl", (item_to_json(item) for item in splits.items()))
    info = {
        "name": folder.name,
        "description": (
            "Procedural quantitative questions (dosage, molar mass, compound interest, unit conversion, percent "
            "change, speed and time) with exact answers; references are one canonical surface form, correct "
            "responses may use others. Regenerate with: python -m rlvr_bench.training.procedural "
            f"tasks/{folder.name} --seed {seed} --train {len(splits.train) // len(DOMAINS)} "
            f"--validation {len(splits.validation) // len(DOMAINS)} --test {len(splits.test) // len(DOMAINS)}"
        ),
        "domains": list(DOMAINS),
        "items": "items.jsonl",
        "generator": {"module": "rlvr_bench.training.procedural", "seed": seed},
    }
    (folder / "task.yaml").write_text(yaml.safe_dump(info, sort_keys=False, width=100), encoding="utf-8")
    return folder


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export the procedural questions as a task folder.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=200, help="train problems per domain")
    parser.add_argument("--validation", type=int, default=30, help="validation problems per domain")
    parser.add_argument("--test", type=int, default=200, help="test problems per domain")
    args = parser.parse_args(argv)
    splits = generate_splits(args.seed, args.test, args.validation, args.train)
    print(export_task(args.folder, splits, args.seed))


if __name__ == "__main__":
    main()
