"""One Unicode form for every judge (normalize_unicode, applied when a Triple is built) and the final step."""

from __future__ import annotations

import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.normalize import join_digit_groups, normalize_unicode
from rlvr_bench.judges.prompting import load_template
from rlvr_bench.records import final_step


@pytest.mark.parametrize(("text", "normalized"), [
    ("Pa\u00adris", "Paris"),  # soft hyphen
    ("Pa\u200bris\u200d", "Paris"),  # zero-width space and joiner
    ("\ufeffParis", "Paris"),  # a BOM, at the start or inside
    ("Pa\ufeffris", "Paris"),
    ("½", "1/2"),
    ("3½ cups", "7/2 cups"),  # a mixed number
    ("¾ of them", "3/4 of them"),
    ("1⁄2", "1/2"),  # the fraction slash
    ("1\u2009000 kg", "1000 kg"),  # thin space between digit groups
    ("12\u202f345\u202f678", "12345678"),  # narrow no-break space
    ("–5", "-5"),  # an en dash before a number is a minus sign
    ("x = —5", "x = -5"),
    ("(–5, 3)", "(-5, 3)"),
    ("pages 3–5", "pages 3–5"),  # between numbers a dash is a range: kept
    ("answer—5", "answer—5"),  # after a word it is punctuation: kept
    ("\u22125", "-5"),  # the Unicode minus
    ("well\u2010known", "well-known"),  # the Unicode hyphen
    ("１２３ ｍｇ", "123 mg"),  # full-width forms (NFKC)
    ("10⁻³ M", "10^-3 M"),  # superscripts as powers, not "10-3"
    ("25ºC", "25°C"),  # the ordinal indicator after a digit is a degree sign
    ("5 µg", "5 μg"),
    ("plain ASCII 1 000 -5", "plain ASCII 1 000 -5"),  # ASCII is left alone
])
def test_normalize_unicode(text: str, normalized: str) -> None:
    assert normalize_unicode(text) == normalized


@pytest.mark.parametrize(("text", "joined"), [
    ("1 000", "1000"), ("12 345 678 kg", "12345678 kg"), ("1 000.5", "1000.5"),
    ("3 100-m races", "3100-m races"),  # documented: three digits after a space join
    ("1 23", "1 23"), ("1 2345", "1 2345"), ("2.5 000", "2.5 000"),
])
def test_join_digit_groups(text: str, joined: str) -> None:
    assert join_digit_groups(text) == joined


def test_a_triple_is_normalised_once_when_built() -> None:
    triple = Triple("Dose in\u00a0mg?", "½", "Work\u200b\nThe answer is –5", aliases=("0\u00ad.5",))
    assert (triple.reference, triple.response, triple.aliases) == ("1/2", "Work\nThe answer is -5", ("0.5",))
    assert triple == Triple("Dose in mg?", "1/2", "Work\nThe answer is -5", aliases=("0.5",))


@pytest.mark.parametrize(("response", "step"), [
    ("a\nb\n", "b"),
    ("So\n\\[\n\\boxed{42}\n\\]\n", "\\boxed{42}"),
    ("So\n$$\nx = 5\n$$", "x = 5"),
    ("We align:\n\\begin{align}\nx &= 5\n\\end{align}", "x &= 5"),
    ("{\"answer\": 7\n}", "{\"answer\": 7"),
    ("Done: 7.\n```", "Done: 7."),
    ("The answer is \\boxed{\n\\frac{1}{2}\n}\n", "The answer is \\boxed{ \\frac{1}{2} }"),  # read whole
    ("\\[\n\\boxed{\n  \\frac{1}{2}\n}\n\\]", "\\boxed{ \\frac{1}{2} }"),
    ("\\boxed{3} first\nThe answer is 4\n\\]", "The answer is 4"),  # a closed \boxed earlier: not joined
    ("}\n}", "}"),  # closing lines only: the last one
    ("", ""),
])
def test_final_step_skips_closing_lines_and_reads_boxed_whole(response: str, step: str) -> None:
    assert final_step(response) == step


def test_model_judges_are_shown_the_final_step_that_states_the_answer() -> None:
    prompt = load_template("verifier").render(Triple("What is 6 * 7?", "42", "6 * 7 =\n\\[\n\\boxed{42}\n\\]"))
    user = dict(prompt.messages)["user"]
    assert "Final step of the response:\n\\boxed{42}\n" in user
