"""One computation per (judge, triple) per run: a judge used alone and inside composites computes once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.judges.rules import ContainsJudge
from rlvr_bench.judging import judge_responses, judge_triples
from rlvr_bench.records import Item, Response, Verdict


def items_and_responses() -> tuple[list[Item], list[Response]]:
    items = [Item(id=f"q{i}", domain="d", question=f"Question {i}?", reference=f"answer {i}") for i in range(4)]
    responses = [Response(id=f"r{i}-{k}", item_id=f"q{i}", text=f"I think it is answer {i + k}.")
                 for i in range(4) for k in range(3)]
    return items, responses


@pytest.fixture()
def contains_calls(monkeypatch: pytest.MonkeyPatch) -> list[Triple]:
    """Every triple the contains rule is asked about, wherever it runs."""
    calls: list[Triple] = []
    original = ContainsJudge.judge_batch

    def counting(self: Any, triples: Sequence[Triple]) -> list[Verdict]:
        calls.extend(triples)
        return original(self, triples)

    monkeypatch.setattr(ContainsJudge, "judge_batch", counting)
    return calls


def test_a_judge_alone_and_inside_a_majority_computes_each_triple_once(contains_calls: list[Triple]) -> None:
    items, responses = items_and_responses()
    judges = build_judges(["contains", "majority-rules"])
    judgments = judge_responses(judges, items, responses, cache=None)
    assert len(contains_calls) == len(responses)  # not twice: once alone, once as the majority's part
    # the same verdicts as each judge computing its own (outside a run, no memo)
    triples = [Triple(f"Question {r.item_id[1:]}?", f"answer {r.item_id[1:]}", r.text, domain="d") for r in responses]
    for judge in judges:
        expected = [(v.passed, v.p_pass, v.raw) for v in judge.judge_batch(triples)]
        got = [(j.verdict.passed, j.verdict.p_pass, j.verdict.raw) for j in judgments if j.judge == judge.name]
        assert got == expected


def test_without_a_repeated_judge_nothing_is_kept(contains_calls: list[Triple]) -> None:
    from rlvr_bench.judges import run_memo

    items, responses = items_and_responses()
    (judge,) = build_judges(["contains"])
    with run_memo.run_scope([judge]) as memo:
        judge_responses([judge], items, responses, cache=None)
    assert memo.verdicts == {} and len(contains_calls) == len(responses)


def test_each_call_outside_a_run_is_its_own_scope(contains_calls: list[Triple]) -> None:
    _, responses = items_and_responses()
    judges = build_judges(["contains", "majority-rules"])
    triples = [Triple("Question?", "answer 1", r.text) for r in responses]
    for judge in judges:
        judge_triples(judge, triples, cache=None)
    assert len(contains_calls) == 2 * len(triples)  # two separate calls (e.g. two reward batches): no memo


def test_recorded_columns_are_part_of_a_column_judges_identity() -> None:
    from rlvr_bench.judges import run_memo

    (judge,) = build_judges(["column:human"])
    a = Triple("q", "r", "same text", recorded={"human": "yes"})
    b = Triple("q", "r", "same text", recorded={"human": "no"})
    with run_memo.run_scope([judge, judge]):
        verdicts = run_memo.memoized_batch(judge, [a, b])
    assert [v.passed for v in verdicts] == [True, False]
