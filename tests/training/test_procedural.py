"""Procedural questions: exact answers, equivalent surface forms, disjoint splits, a units-aware judge agrees."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.training.procedural import (
    DOMAINS,
    FLAW_RATES,
    canonical_form,
    decimal_text,
    demonstration,
    generate_splits,
    surface_forms,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(7, 20), "0.35"),  # 0.35 terminates
        (Fraction(-20), "-20"),
        (Fraction(1331), "1331"),
        (Fraction(1, 3), None),  # never terminates
        (Fraction(1, 100000), None),  # needs 5 places, more than 4
    ],
)
def test_decimal_text(value: Fraction, expected: str | None) -> None:
    assert decimal_text(value) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        # 350 mg = 0.35 g; the canonical form comes first
        (Fraction(350), "mg", ["350 mg", "350 milligrams", "0.35 g"]),
        # 3/2 h = 90 min, and the fraction itself is a form
        (Fraction(3, 2), "h", ["1.5 h", "1.5 hours", "90 min", "3/2 h"]),
        # an increase gets a sentence form; the dollar sign leads
        (Fraction(25), "%", ["25%", "25 percent", "an increase of 25%"]),
        (Fraction(-20), "%", ["-20%", "-20 percent"]),
        (Fraction(1210), "$", ["$1210", "1210 dollars"]),
    ],
)
def test_surface_forms(value: Fraction, unit: str, expected: list[str]) -> None:
    assert surface_forms(value, unit) == expected
    assert canonical_form(value, unit) == expected[0]


def test_splits_are_disjoint_deterministic_and_cover_every_domain() -> None:
    splits = generate_splits(seed=3, test_per_domain=20, validation_per_domain=5, train_per_domain=40)
    again = generate_splits(seed=3, test_per_domain=20, validation_per_domain=5, train_per_domain=40)
    assert [p.key for p in splits.test] == [p.key for p in again.test]
    keys = {name: {p.key for p in getattr(splits, name)} for name in ("train", "validation", "test")}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    assert len(splits.test) == 20 * len(DOMAINS) and len(splits.validation) == 5 * len(DOMAINS)
    assert {p.domain for p in splits.test} == set(DOMAINS)
    # more training data never changes the test set (test problems are drawn first)
    bigger = generate_splits(seed=3, test_per_domain=20, validation_per_domain=5, train_per_domain=80)
    assert [p.key for p in bigger.test] == [p.key for p in splits.test]


def test_items_carry_split_and_exact_answer() -> None:
    items = generate_splits(seed=0, test_per_domain=2, validation_per_domain=1, train_per_domain=2).items()
    assert {item.split for item in items} == {"train", "validation", "test"}
    for item in items:
        assert item.reference == item.metadata["forms"][0]
        assert Fraction(item.metadata["answer"])  # parses as an exact fraction


def test_demonstrator_makes_the_classic_mistake_at_its_rate() -> None:
    problems = [p for p in generate_splits(0, 250, 1, 1).test if (p.domain, p.subcase) == ("unit_conversion", "up")]
    rng = random.Random(0)
    flawed = [demonstration(p, rng)[1] for p in problems for _ in range(4)]
    # rate 0.6 over a few hundred draws: well inside 0.5 .. 0.7
    assert 0.5 < sum(flawed) / len(flawed) < 0.7
    assert FLAW_RATES[("unit_conversion", "up")] == 0.6
    clean = [demonstration(p, rng, flaw_scale=0.0)[1] for p in problems]
    assert not any(clean)


def test_numeric_judge_accepts_every_surface_form_and_rejects_the_mistakes() -> None:
    """The environment is only fair if the reference judge reads every correct form as correct."""
    (judge,) = build_judges(["numeric"])
    problems = generate_splits(0, 25, 1, 1).test
    correct, wrong = [], []
    for p in problems:
        correct += [Triple(p.question, p.reference, f"Therefore, the answer is {form}.") for form in
                    surface_forms(p.answer, p.unit)]
        if (p.flawed_answer, p.flawed_unit) != (p.answer, p.unit):
            wrong += [Triple(p.question, p.reference, f"So the answer is {form}.") for form in
                      surface_forms(p.flawed_answer, p.flawed_unit)]
    assert all(v.passed is True for v in judge.judge_batch(correct))
    assert all(v.passed is False for v in judge.judge_batch(wrong))


def test_bundled_task_is_the_generator_output() -> None:
    """tasks/mini-procedural must be regenerable: if the generator changes, re-export the task."""
    from rlvr_bench.records import item_to_json
    from rlvr_bench.tasks import load_task

    task = load_task("mini-procedural")
    expected = generate_splits(seed=0, test_per_domain=200, validation_per_domain=30, train_per_domain=200).items()
    assert [item_to_json(i) for i in task.items] == [item_to_json(i) for i in expected], (
        "regenerate with: python -m rlvr_bench.training.procedural tasks/mini-procedural --train 200")


def test_bundled_test_split_is_the_mini_recipe_evaluation_set() -> None:
    from rlvr_bench.tasks import load_task
    from rlvr_bench.training.recipes import load_recipe
    from rlvr_bench.training.rl import load_training_data

    bundled = [i.id + i.question for i in load_task("mini-procedural").items_in("test")]
    recipe_eval = [i.id + i.question for i in load_training_data(load_recipe("mini")).evaluation]
    assert bundled == recipe_eval and len(bundled) == 1200
