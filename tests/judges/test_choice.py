"""The multiple-choice judge on hand-worked responses: every form of stating a choice, every form of reference."""

from __future__ import annotations

import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.choice import parse_options
from rlvr_bench.judges.registry import judge

INLINE = "Which dose is right? (A) 12 mg (B) 24 mg (C) 36 mg (D) 48 mg"
LINES = "Which dose is right?\nA) 12 mg\nB) 24 mg\nC) 36 mg\nD) 48 mg"
TEN = "Pick one. " + " ".join(f"({letter}) option {i}" for i, letter in enumerate("ABCDEFGHIJ"))


@pytest.mark.parametrize("question", [INLINE, LINES, LINES.replace(")", ".")])
def test_options_are_read_from_the_question(question: str) -> None:
    assert parse_options(question) == {"A": "12 mg", "B": "24 mg", "C": "36 mg", "D": "48 mg"}


@pytest.mark.parametrize("response", [
    "the answer is (B)", "B", "BBBBB", "(B) 24 mg", "Work it out...\nThe answer is B.", "**B**", "24 mg",
    "Answer: B", "B 24 mg", "I think it's (B)", "Therefore, the answer is 24 mg.", "The answer is B) 24 mg",
    "(B)", "B.",
])
@pytest.mark.parametrize("reference", ["B", "(B)", "24 mg", "(B) 24 mg", "B. 24 mg"])
@pytest.mark.parametrize("question", [INLINE, LINES])
def test_every_form_of_the_right_choice_passes(question: str, reference: str, response: str) -> None:
    verdict = judge("choice").judge_batch([Triple(question, reference, response)])[0]
    assert verdict.passed is True, verdict


@pytest.mark.parametrize(("response", "passed", "error"), [
    ("The answer is (C)", False, None),
    ("C", False, None),
    ("DDDD", False, None),
    ("48 mg", False, None),
    ("I pick A or C: (A) (C)", None, "not applicable: ambiguous choice: names A, C"),
    ("no idea", None, "not applicable: no choice found"),
    ("A dose of 24 mg is typical", None, "not applicable: no choice found"),  # "A" the article is no choice
    ("Let me see.\nThe answer is (B).\nHmm, not sure.", True, None),  # no choice in the final step: stated answer
])
def test_wrong_ambiguous_and_missing_choices(response: str, passed: bool | None, error: str | None) -> None:
    verdict = judge("choice").judge_batch([Triple(INLINE, "B", response)])[0]
    assert verdict.passed is passed
    if error is not None:
        assert verdict.error is not None and verdict.error.startswith(error) and not verdict.failed


@pytest.mark.parametrize(("reference", "reason"), [
    ("E", "reference E is not an option of the question (A, B, C, D)"),
    ("60 mg", "reference is neither an option letter nor an option's text"),
])
def test_a_reference_that_is_no_option_is_unscored(reference: str, reason: str) -> None:
    verdict = judge("choice").judge_batch([Triple(INLINE, reference, "(B)")])[0]
    assert verdict.passed is None and verdict.error == f"not applicable: {reason}"


def test_ten_options_as_in_mmlu_pro() -> None:
    assert judge("choice").judge_batch([Triple(TEN, "J", "The answer is (J)")])[0].passed is True
    assert judge("choice").judge_batch([Triple(TEN, "option 9", "J")])[0].passed is True


@pytest.mark.parametrize("response", [
    "Thus, the answer is $\\boxed{\\text{B}}$.", "answer: b", "Answer — B", "My answer: BBBBB",
    "The answer is option B", "Option B is correct.", "The final answer is $\\boxed{(B)}$",
    "I believe the answer is B, because 24 mg fits.", "The answer is 24mg.",
])
def test_more_ways_of_stating_a_choice(response: str) -> None:
    assert judge("choice").judge_batch([Triple(LINES, "B", response)])[0].passed is True


@pytest.mark.parametrize(("response", "passed"), [
    ("The answer is B or D.", None), ("The answer is (B)/(D)", None), ("The answer is B, or D", None),
    ("The answer is B, C is wrong", True), ("The answer is B and C is wrong", True),
])
def test_options_joined_to_the_stated_one_make_it_ambiguous(response: str, passed: bool | None) -> None:
    verdict = judge("choice").judge_batch([Triple(LINES, "B", response)])[0]
    assert verdict.passed is passed
    if passed is None:
        assert verdict.error == "not applicable: ambiguous choice: names B, D"
