"""String-rule judges (exact, contains, jaccard), the shared text helpers, and the offline presets."""

from __future__ import annotations

import pytest

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.normalize import expand_scientific, extract_answer, normalize_text, word_tokens
from rlvr_bench.judges.registry import availability, build_judge, resolve_preset
from rlvr_bench.judges.rules import ContainsJudge, ExactJudge, JaccardJudge, jaccard_similarity
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Verdict


def triple(reference: str, response: str) -> Triple:
    return Triple(question="q", reference=reference, response=response)


def verdict_of(judge_class: type, reference: str, response: str, **params: object) -> Verdict:
    judge = judge_class(JudgeSpec(name="t", backend="t", params=params))
    verdict: Verdict = judge.judge_batch([triple(reference, response)])[0]
    return verdict


# ------------------------------------------------------------ answer extraction


@pytest.mark.parametrize(
    ("final_step", "answer"),
    [
        ("Therefore, the answer is 42.", "42"),
        ("The answer is: Paris", "Paris"),
        ("Answer: B", "B"),
        ("Final answer: $\\frac{1}{2}$", "$\\frac{1}{2}$"),
        ("**Final Answer:** 7", "7"),
        ("**Final Answer**: 7", "7"),
        ("So the final answer is 0.45 g.", "0.45 g"),
        # the last marker wins
        ("We first get 5, so the answer is 7.", "7"),
        # a boxed answer wins over markers, braces balanced
        ("The answer is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("所以答案是12。", "12"),
        ("答案：3", "3"),
        # no marker: the whole line, stripped of quotes and the trailing period
        ('"Paris."', "Paris"),
        ("42", "42"),
        # "answered" / "answer key" are not markers
        ("She answered 5.", "She answered 5"),
        ("The answer key says 5", "The answer key says 5"),
        ("", ""),
        # the decimal point of a number is not a trailing period
        ("The answer is 3.5", "3.5"),
    ],
)
def test_extract_answer(final_step: str, answer: str) -> None:
    assert extract_answer(final_step) == answer


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("  Paris.  ", "paris"),
        ("ＰＡＲＩＳ", "paris"),  # full-width letters under NFKC
        ("$\\boxed{\\text{Mitochondria}}$", "mitochondria"),
        ("\\(x^2\\)", "x^2"),
        ("50\\%", "50%"),
        ("**ionic   bond**", "ionic bond"),
        ("“quoted”", "quoted"),
        ("(1, 2)", "(1, 2)"),  # brackets carry meaning: kept
        ("\u22123", "-3"),  # Unicode minus
    ],
)
def test_normalize_text(text: str, normalized: str) -> None:
    assert normalize_text(text) == normalized


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("The HMG-CoA reductase inhibitor", ["the", "hmg", "coa", "reductase", "inhibitor"]),
        ("3.5 mg/kg", ["3.5", "mg", "kg"]),
        ("CO2", ["co2"]),
        ("答案是12", ["答", "案", "是", "12"]),  # one token per CJK character
        ("-3", ["3"]),  # the sign is not a token: a known blind spot of Jaccard
        ("", []),
    ],
)
def test_word_tokens(text: str, tokens: list[str]) -> None:
    assert word_tokens(text) == tokens


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("3.5e-3", "0.0035"),
        ("3.5 x 10^-3", "0.0035"),
        ("$3.5 \\times 10^{-3}$", "$0.0035$"),
        ("1E5 cells", "100000 cells"),
        ("version2e5", "version2e5"),  # inside a word: untouched
    ],
)
def test_expand_scientific(text: str, expanded: str) -> None:
    assert expand_scientific(text) == expanded


# ------------------------------------------------------------ exact


@pytest.mark.parametrize(
    ("reference", "response", "passed"),
    [
        ("Paris", "Therefore, the answer is Paris.", True),
        ("Paris", "It is the capital.\nTherefore, the answer is **paris**", True),
        ("1/2", "The answer is $1/2$.", True),
        ("\\frac{1}{2}", "Answer: \\boxed{\\frac{1}{2}}", True),
        ("Paris", "Therefore, the answer is Paris, France.", False),
        ("0.5", "Therefore, the answer is 1/2.", False),  # equal values, different strings
        ("3", "Therefore, the answer is 30.", False),
        ("3", "The answer is 3 or 4.", False),  # a hedge is not the answer
        ("3", "", False),  # empty response: wrong, not unscored
        ("3", "The answer is 3.\nWait, no: the answer is 4.", False),  # only the final step counts
    ],
)
def test_exact(reference: str, response: str, passed: bool) -> None:
    verdict = verdict_of(ExactJudge, reference, response)
    assert verdict.passed is passed
    assert verdict.p_pass is None
    assert verdict.raw.startswith("answer=")


def test_exact_empty_reference_is_unscored() -> None:
    verdict = verdict_of(ExactJudge, "  ", "Therefore, the answer is 3.")
    assert verdict.passed is None
    assert verdict.error == "not applicable: empty reference" and not verdict.failed


# ------------------------------------------------------------ contains


@pytest.mark.parametrize(
    ("reference", "response", "passed"),
    [
        ("Paris", "I am fairly sure it is paris.", True),
        ("450 mg", "Therefore, the answer is 0.45 g.", False),  # equal quantity, not a substring
        # The rule's known weaknesses, asserted on purpose: a substring is enough.
        ("3", "Therefore, the answer is 30.", True),
        ("3", "The answer is 3 or 4.", True),
        ("conditioned stimulus", "Therefore, the answer is the unconditioned stimulus.", True),
        ("3", "", False),
        ("3", "The answer is 3.\nActually it is 4.", False),  # only the final step counts
    ],
)
def test_contains(reference: str, response: str, passed: bool) -> None:
    verdict = verdict_of(ContainsJudge, reference, response)
    assert verdict.passed is passed
    assert verdict.p_pass is None


def test_contains_empty_reference_is_unscored() -> None:
    # "" occurs in every string; scoring it would pass everything
    assert verdict_of(ContainsJudge, "", "anything").passed is None


# ------------------------------------------------------------ jaccard


@pytest.mark.parametrize(
    ("reference", "response", "similarity"),
    [
        # {hmg, coa, reductase, inhibitor} vs {an, hmg, coa, synthase, inhibitor}: 3 shared / 6 in the union
        ("HMG-CoA reductase inhibitor", "Therefore, the answer is an HMG-CoA synthase inhibitor.", 3 / 6),
        # {paris} vs {paris, france}: 1 / 2
        ("Paris", "Therefore, the answer is Paris, France.", 1 / 2),
        # {paris} vs {paris, the, capital}: 1 / 3
        ("Paris", "Therefore, the answer is Paris, the capital.", 1 / 3),
        # 4 bases vs {thymine, cytosine, adenine, and, guanine}: 4 / 5
        ("adenine, guanine, cytosine, thymine", "The answer is thymine, cytosine, adenine and guanine.", 4 / 5),
        # signs are not tokens: -3 scores like 3
        ("3", "Therefore, the answer is -3.", 1.0),
        # sets, not multisets: {very, good} both sides
        ("very good", "The answer is very very good", 1.0),
        ("450 mg", "Therefore, the answer is 0.45 g.", 0.0),
        ("3", "", 0.0),
    ],
)
def test_jaccard_values(reference: str, response: str, similarity: float) -> None:
    verdict = verdict_of(JaccardJudge, reference, response)
    assert verdict.p_pass == pytest.approx(similarity)
    assert verdict.passed is (similarity >= 0.5)
    assert verdict.raw.startswith(f"jaccard={similarity:.4f} answer=")


def test_jaccard_threshold_parameter() -> None:
    # 1/2 passes at the default 0.5 and fails at 0.8
    response = "Therefore, the answer is Paris, France."
    assert verdict_of(JaccardJudge, "Paris", response).passed is True
    assert verdict_of(JaccardJudge, "Paris", response, threshold=0.8).passed is False


def test_jaccard_reference_without_tokens_is_unscored() -> None:
    verdict = verdict_of(JaccardJudge, "—", "Therefore, the answer is 3.")
    assert verdict.passed is None
    assert verdict.error == "not applicable: reference has no word tokens"


def test_jaccard_similarity_edge_cases() -> None:
    assert jaccard_similarity(set(), set()) == 0.0
    assert jaccard_similarity({"a"}, {"b"}) == 0.0


# ------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("backend", "params", "message"),
    [
        ("jaccard", {"treshold": 0.5}, "unknown parameter 'treshold'"),
        ("jaccard", {"threshold": "high"}, "must be a number"),
        ("jaccard", {"threshold": 1.5}, "must be in [0.0, 1.0]"),
        ("exact", {"threshold": 0.5}, "unknown parameter 'threshold'"),
        ("numeric", {"rounding": "yes"}, "must be true or false"),
        ("math", {"float_rounding": 2.5}, "must be an integer"),
        ("math", {"timeout_s": 0}, "must be in"),
        ("embed", {"model": 3}, "must be a string"),
    ],
)
def test_bad_parameters_are_reported_before_building(backend: str, params: dict[str, object], message: str) -> None:
    spec = JudgeSpec(name="bad", backend=backend, params=params)
    reason = availability(spec)
    assert reason is not None and message in reason
    with pytest.raises(ConfigError, match="bad"):
        build_judge(spec)


# ------------------------------------------------------------ presets


OFFLINE_PRESETS = {"exact": False, "contains": False, "jaccard": True, "math": False, "numeric": False, "embed": True}


@pytest.mark.parametrize(("name", "soft"), sorted(OFFLINE_PRESETS.items()))
def test_every_offline_preset_builds_and_judges_a_batch(name: str, soft: bool) -> None:
    preset = resolve_preset(name)
    assert preset.offline and preset.spec.backend == name
    judge = build_judge(preset.spec)
    assert judge.name == name and judge.soft is soft
    triples = [
        triple("0.5", "Half of it.\nTherefore, the answer is 0.5."),
        triple("0.5", "Therefore, the answer is 7."),
        triple("0.5", ""),
    ]
    verdicts = judge_triples(judge, triples)
    # every backend agrees on these three: identical answer, unrelated number, no answer
    assert [v.passed for v in verdicts] == [True, False, False]
    assert all(v.error is None for v in verdicts)
    for verdict in verdicts:
        assert (verdict.p_pass is not None) is soft
        assert verdict.p_pass is None or 0.0 <= verdict.p_pass <= 1.0
