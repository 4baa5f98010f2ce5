"""First-token log-probabilities and output text -> Verdict (pure functions)."""

from __future__ import annotations

import math

import pytest

from rlvr_bench.judges.verdict_parsing import (
    LOW_MASS_PREFIX,
    VerdictWords,
    verdict_from_probabilities,
    verdict_from_text,
    verdict_from_top_logprobs,
    verdict_mass_from_error,
    verdict_probabilities,
)

YES_NO = VerdictWords()
ABC = VerdictWords(positive=("A",), negative=("B", "C"))


def ln(p: float) -> float:
    return math.log(p)


@pytest.mark.parametrize(
    ("token", "side"),
    [("YES", True), (" Yes", True), ("yes\n", True), ("\u0120yes", True), ("NO", False), ("\u2581No", False),
     (" no ", False), ("Y", None), ("YESS", None), ("", None), ("  ", None), ("NOT", None)],
)
def test_classify_ignores_case_space_and_tokenizer_markers(token: str, side: bool | None) -> None:
    assert YES_NO.classify(token) is side


def test_soft_score_sums_every_spelling_of_each_word() -> None:
    # P(YES-side) = 0.50 + 0.10 + 0.05 = 0.65; P(NO-side) = 0.20 + 0.05 = 0.25; "The" (0.10) counts for neither
    top = [("YES", ln(0.50)), ("NO", ln(0.20)), (" Yes", ln(0.10)), ("The", ln(0.10)), ("yes", ln(0.05)),
           (" no", ln(0.05))]
    p_yes, p_no = verdict_probabilities(top, YES_NO)
    assert p_yes == pytest.approx(0.65) and p_no == pytest.approx(0.25)
    verdict = verdict_from_top_logprobs("YES", top, YES_NO, prompt_tokens=120, completion_tokens=1)
    assert verdict.passed is True
    assert verdict.p_pass == pytest.approx(0.65 / 0.90)  # = 0.7222...
    assert (verdict.raw, verdict.error, verdict.prompt_tokens, verdict.completion_tokens) == ("YES", None, 120, 1)


def test_passed_is_the_larger_side_even_if_the_output_token_is_the_other_word() -> None:
    # the single most likely token is "yes" (0.30), but the NO spellings together weigh 0.45
    top = [("yes", ln(0.30)), ("NO", ln(0.25)), ("No", ln(0.20)), ("YES", ln(0.10))]
    verdict = verdict_from_top_logprobs("yes", top, YES_NO)
    assert verdict.passed is False and verdict.p_pass == pytest.approx(0.40 / 0.85)


def test_an_exact_tie_is_no() -> None:
    verdict = verdict_from_probabilities("YES", 0.5, 0.5, YES_NO)
    assert verdict.passed is False and verdict.p_pass == 0.5


def test_output_that_is_neither_word_is_scored_by_the_verdict_mass_and_flagged() -> None:
    # the model began "The", but 0.4 of its probability is on the words: the conditional P(YES | YES or NO)
    # is well defined; the verdict says how little mass it rests on
    top = [("The", ln(0.6)), ("YES", ln(0.3)), ("NO", ln(0.1))]
    verdict = verdict_from_top_logprobs("The", top, YES_NO)
    assert verdict.passed is True and verdict.p_pass == pytest.approx(0.75)
    assert verdict.error is not None and verdict.error.startswith(LOW_MASS_PREFIX)
    assert verdict_mass_from_error(verdict) == pytest.approx(0.4)
    assert verdict.raw == "The"


def test_enough_verdict_mass_is_not_flagged_and_too_little_is_unscored() -> None:
    assert verdict_from_probabilities("YES", 0.5, 0.2, YES_NO).error is None
    assert verdict_from_probabilities("YES", 0.3, 0.1, YES_NO, low_mass=0.3).error is None
    flagged = verdict_from_probabilities("The", 0.3, 0.1, YES_NO)
    assert flagged.passed is True and verdict_mass_from_error(flagged) == pytest.approx(0.4)
    unscored = verdict_from_probabilities("The", 1e-8, 1e-8, YES_NO)
    assert unscored.passed is None and unscored.p_pass is None and unscored.raw == "The"
    assert unscored.error is not None and "min_verdict_mass" in unscored.error
    assert verdict_from_probabilities("The", 1e-8, 1e-8, YES_NO, min_mass=0.0).passed is False


def test_output_that_is_neither_word_without_any_verdict_mass_is_unscored_with_the_reason() -> None:
    verdict = verdict_from_top_logprobs("The", [("The", ln(0.6)), ("A", ln(0.3))], YES_NO)
    assert verdict.passed is None and verdict.p_pass is None
    assert verdict.error == "unparseable verdict: output 'The' is neither YES nor NO"
    assert verdict.raw == "The"


def test_partial_verdict_words() -> None:
    assert YES_NO.extends("Y") and YES_NO.extends(" Y") and YES_NO.extends("Ġye") and YES_NO.extends("N")
    assert not YES_NO.extends("YES") and not YES_NO.extends("Y ") and not YES_NO.extends("") \
        and not YES_NO.extends("X")


def test_verdict_word_without_soft_score_when_no_verdict_token_is_in_the_top_list() -> None:
    verdict = verdict_from_top_logprobs("YES", [("The", ln(0.9))], YES_NO)
    assert verdict.passed is True and verdict.p_pass is None
    assert verdict.error is not None and verdict.error.startswith("no soft score")


def test_missing_logprobs_fall_back_to_the_text() -> None:
    empty: list[tuple[str, float]] = []
    for top in (None, empty):
        verdict = verdict_from_top_logprobs("NO", top, YES_NO, prompt_tokens=9)
        assert (verdict.passed, verdict.p_pass, verdict.error, verdict.prompt_tokens) == (False, None, None, 9)


@pytest.mark.parametrize(
    ("text", "passed", "error"),
    [
        ("YES", True, None),
        ("**No**.", False, None),
        ("yes, because the values match", True, None),
        ("", None, "unparseable verdict: empty output (expected YES or NO)"),
        ("...", None, "unparseable verdict: empty output (expected YES or NO)"),
        ("Maybe", None, "unparseable verdict: output 'Maybe' is neither YES nor NO"),
    ],
)
def test_text_verdicts(text: str, passed: bool | None, error: str | None) -> None:
    verdict = verdict_from_text(text, YES_NO)
    assert (verdict.passed, verdict.p_pass, verdict.error, verdict.raw) == (passed, None, error, text)


def test_three_way_labels_count_invalid_as_not_passed() -> None:
    # CompassVerifier: A correct; B incorrect and C invalid both negative. P(A)=0.2, P(B)+P(C)=0.5+0.3
    top = [("B", ln(0.5)), ("C", ln(0.3)), ("A", ln(0.2))]
    verdict = verdict_from_top_logprobs("B", top, ABC)
    assert verdict.passed is False and verdict.p_pass == pytest.approx(0.2)
    assert verdict_from_text("C", ABC).passed is False
    assert verdict_from_text("D", ABC).error == "unparseable verdict: output 'D' is neither A nor B/C"


def test_verdict_words_validation_and_spellings() -> None:
    with pytest.raises(ValueError, match="both positive and negative"):
        VerdictWords(positive=("Yes",), negative=("YES",))
    with pytest.raises(ValueError, match="at least one"):
        VerdictWords(positive=(), negative=("NO",))
    assert VerdictWords(positive=("Yes",), negative=("No",)).spellings() == [
        "Yes", " Yes", "YES", " YES", "yes", " yes", "No", " No", "NO", " NO", "no", " no"]
