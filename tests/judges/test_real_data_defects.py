"""Wrong verdicts that published verifier data exposed (issue 23), each as the row that showed it.

Every case here failed before the fix: the response shapes are those of JudgeBench's MMLU-Pro
responses, MMLU-Pro's own model outputs, VerifyBench-Hard and hand-checked unit and Unicode probes.
"""

from __future__ import annotations

import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge
from rlvr_bench.records import Verdict

MMLU_PRO = ("Which value is right?\nOptions:\n" + "\n".join(f"{letter}. {value} mg" for letter, value in
                                                                zip("ABCDEFGHIJ", range(10, 110, 10), strict=True)))
MARKET = "What follows a price ceiling below equilibrium?\nA. a surplus\nB. a shortage\nC. an equilibrium"
SINGERS = "Who recorded 'The Thrill Is Gone' (1969)?\nA. B. B. King\nB. B. R. Ambedkar\nC. Ray Charles"


def verdict(name: str, reference: str, response: str, question: str = "q", answer_type: str = "text") -> Verdict:
    return judge(name).judge_batch([Triple(question, reference, response, answer_type)])[0]


# ------------------------------------------------------------ choice


@pytest.mark.parametrize(("response", "letter"), [
    ("Option B is tempting, but 10 mg fits the data.\nTherefore my answer is AAAAA.", "A"),
    ("Option B is tempting, but 10 mg fits the data.\nSo, my answer is: AAAAA", "A"),
    ("The best answer is (C).\n\nMy answer is CCCCC.", "C"),
    ("Looking at option D again...\nThe final answer is JJJJJ", "J"),
    ("We get 30 mg.\nThe correct option is therefore (C)", "C"),
])
def test_repeated_letters_after_any_answer_phrasing(response: str, letter: str) -> None:
    for reference in "ABCJ":
        got = verdict("choice", reference, response, MMLU_PRO)
        assert got.passed is (reference == letter), (reference, got)


def test_a_stated_answer_that_names_no_option_is_not_replaced_by_an_earlier_letter() -> None:
    response = "Option B looks tempting.\nThe answer is none of the options listed."
    got = verdict("choice", "B", response, MMLU_PRO)
    assert got.passed is None and got.error is not None
    assert got.error.startswith("not applicable: the stated answer names no option")


def test_the_final_steps_boxed_letter_wins_over_earlier_statements() -> None:
    response = "At first the answer is (B).\nRechecking the units gives 30 mg.\nFinal answer: $\\boxed{C}$"
    assert verdict("choice", "C", response, MMLU_PRO).passed is True
    assert verdict("choice", "B", response, MMLU_PRO).passed is False


@pytest.mark.parametrize(("reference", "passed"), [("B", True), ("A", False), ("a shortage", True)])
def test_an_article_is_not_option_a(reference: str, passed: bool) -> None:
    assert verdict("choice", reference, "Final answer: a shortage", MARKET).passed is passed


def test_an_open_question_is_not_a_choice_question() -> None:
    question = "Who chaired the drafting committee of India's constitution?"
    got = verdict("choice", "B. R. Ambedkar", "B. B. King", question)
    assert got.passed is None and got.error is not None and got.error.startswith("not applicable:")


@pytest.mark.parametrize(("response", "passed"), [("B. B. King", False), ("B. R. Ambedkar", False),
                                                  ("Answer: B. B. King", False), ("(A) B. B. King", False)])
def test_initials_are_not_options(response: str, passed: bool) -> None:
    # reference B is "B. R. Ambedkar": the initials "B. B." of King must not read as option B
    assert verdict("choice", "B", response, SINGERS).passed is (response == "B. R. Ambedkar")
    assert verdict("choice", "A", response, SINGERS).passed is (response != "B. R. Ambedkar")


def test_options_whose_text_ends_in_a_letter_are_read_from_their_lines() -> None:
    question = "What current flows?\nOptions:\nA. 0.001 A.\nB. 0.004 A.\nC. 0.01 A.\nD. 0.002 A."
    assert verdict("choice", "B", "The answer is (B).", question).passed is True


# ------------------------------------------------------------ math


@pytest.mark.parametrize(("reference", "response", "passed"), [
    ("350 mg", "350 µg once daily", False),
    ("5 kg", "5 g", False),
    ("5 kg", "The answer is 5000 g", True),
    ("25 °C", "25 °F", False),
    ("5", "The answer is either 5 or 4.", False),
    ("\\frac{9\\pi}{2}", "9/2 * π", True),
    ("3:21:01 PM", "3:21:02 PM", False),
    ("15:21:01 PM", "15:21:02 PM", False),
    ("15:21:01", "It is 15:21:01", True),
    ("0", "1 000", False),
    ("1000", "1 000", True),
    ("0.5", "½", True),
])
def test_math_units_hedges_constants_and_times(reference: str, response: str, passed: bool) -> None:
    got = verdict("math", reference, response)
    assert got.passed is passed and got.error is None, got


# ------------------------------------------------------------ numeric and auto


@pytest.mark.parametrize(("reference", "response", "passed"), [
    ("350 mg", "350 mg infused once every 24 hours", True),
    ("5", "either 4 or 5", False),
    ("2", "½", False),
    ("0.5", "½", True),
    ("0", "1 000", False),
    ("1000", "1 000", True),
    ("5", "–5", False),  # an en dash directly before a number is a minus sign
    ("-5", "–5", True),
])
@pytest.mark.parametrize("name", ["numeric", "auto"])
def test_numeric_reads_the_stated_quantity_and_unicode_numbers(name: str, reference: str, response: str,
                                                                 passed: bool) -> None:
    got = verdict(name, reference, response, answer_type="number")
    assert got.passed is passed and got.error is None, got


# ------------------------------------------------------------ invisible characters


@pytest.mark.parametrize("response", ["Pa\u00adris", "Pa\u200bris", "Pa\ufeffris", "\ufeffParis", "Paris\u200d"])
@pytest.mark.parametrize("name", ["exact", "contains", "auto"])
def test_soft_hyphens_zero_width_characters_and_boms_do_not_fail_a_right_answer(name: str, response: str) -> None:
    assert verdict(name, "Paris", f"The answer is {response}").passed is True


# ------------------------------------------------------------ the final step


@pytest.mark.parametrize(("name", "reference", "response"), [
    ("exact", "42", "So the total is\n\\[\n\\boxed{42}\n\\]"),
    ("numeric", "5", "Solving,\n$$\nx = 5\n$$\n"),
    ("math", "\\frac{1}{2}", "The answer is \\boxed{\n\\frac{1}{2}\n}"),
    ("numeric", "7", "The answer is \\boxed{\n7\n}\n"),
    ("exact", "42", "We align:\n\\begin{align}\n\\boxed{42}\n\\end{align}"),
])
def test_a_line_that_only_closes_a_block_is_not_the_final_step(name: str, reference: str, response: str) -> None:
    assert verdict(name, reference, response).passed is True


# ------------------------------------------------------------ what the fixes must leave alone


def test_a_hedge_is_values_joined_by_or_not_any_or_in_the_line() -> None:
    step = "Therefore, 1/6 + 1/3 = 1/2, and the pair's resistance is 2 Ω, less than either resistor alone."
    assert verdict("numeric", "2 Ω", step).passed is True
    assert verdict("numeric", "1024 bytes", "The answer is 1000 or 1024 bytes.").passed is False
    hedged_choice = verdict("choice", "B", "Therefore, the answer is B or D.", MMLU_PRO)
    assert hedged_choice.passed is None and hedged_choice.error == "not applicable: ambiguous choice: names B, D"


def test_math_hands_only_dimensional_references_to_the_unit_comparison() -> None:
    # "‰" is dimensionless: math-verify compares the numbers, as it did
    assert verdict("math", "35‰", "So the final answer is about 35 grams of salt per kilogram of seawater.").passed
