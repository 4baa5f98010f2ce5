"""The answer-type router sends each triple to the judge built for it, and is a judge like any other."""

from __future__ import annotations

import pytest

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.registry import build_judge, judge
from rlvr_bench.judging import judge_triples

CHOICE_Q = "Which dose? (A) 12 mg (B) 24 mg (C) 36 mg"


@pytest.mark.parametrize(("triple", "route", "passed"), [
    (Triple("Dose?", "450 mg", "25 x 18 = 450\nThe answer is 0.45 g.", "quantity"), "numeric", True),
    (Triple("Count?", "12", "The answer is 12.0", "number"), "numeric", True),
    (Triple("Simplify", "x^2 + 2x + 1", "The answer is (x+1)^2", "expression"), "math", True),
    (Triple(CHOICE_Q, "B", "The answer is (B)", "choice"), "choice", True),
    (Triple(CHOICE_Q, "B", "The answer is (C)", "choice"), "choice", False),
    (Triple("Capital of France?", "Paris", "It is Paris.", "text"), "contains", True),
    (Triple("Is water wet?", "yes", "No.", "boolean"), "contains", False),
])
def test_each_answer_type_goes_to_its_judge(triple: Triple, route: str, passed: bool) -> None:
    auto = judge("auto")
    verdict = judge_triples(auto, [triple], cache=None)[0]
    alone = judge_triples(judge(route), [triple], cache=None)[0]
    assert auto.route(triple) == route  # type: ignore[attr-defined]
    assert verdict.passed is passed and verdict.passed == alone.passed
    assert verdict.raw == f"{route}: {alone.raw}"


def test_routes_are_parameters_and_bad_ones_are_named() -> None:
    custom = build_judge(JudgeSpec("mine", "router", params={"routes": {"text": "exact"}, "default": "jaccard"}))
    assert custom.route(Triple("q", "Paris", "Paris", "text")) == "exact"  # type: ignore[attr-defined]
    assert custom.route(Triple("q", "Paris", "Paris", "list")) == "jaccard"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown answer type"):
        build_judge(JudgeSpec("bad", "router", params={"routes": {"prose": "exact"}}))
    with pytest.raises(ConfigError, match="part 'nope'"):
        build_judge(JudgeSpec("bad", "router", params={"default": "nope"}))
