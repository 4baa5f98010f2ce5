"""The shared prompt prefix run once (prefix_reuse) gives today's verdicts: whole prompts, left-padded.

Both paths are computed in the same process on the same CPU, in float32. They run the same
arithmetic in a different grouping (the prefix alone and packed suffixes, vs padded whole
prompts), so matrix products sum in a different order: float32 rounding (relative 6e-8 per
operation) then moves a logit by about 1e-5 at most through the 30 layers of SmolLM2, and
p_pass = sigmoid(log P(YES) - log P(NO)) moves by at most a quarter of that. Measured: 3e-6.
The tolerance, 1e-4 (the issue's), holds that with a wide margin on any x86-64 CPU, while a
wrong mask, a wrong position or a prefix token seen by the wrong prompt moves p_pass by far
more than 1e-2 (see the last test).
"""

from __future__ import annotations

from typing import Any

import pytest
from llm_judge_helpers import synthetic_triples

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.prefix_reuse import MIN_SHARED_PREFIX, common_prefix_length, packed_batch, shared_lengths

TOLERANCE = 1e-4


def both_paths(judge: Any, triples: list[Triple], monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """(verdicts with the prefix run once, verdicts of whole prompts) from the same judge object."""
    assert len(judge.prefix_ids) >= MIN_SHARED_PREFIX  # the premise: the template has a shared prefix
    reused = judge.judge_batch(triples)
    assert judge.lm._prefix is not None and judge.lm._prefix.ids == judge.prefix_ids  # the cache really ran
    monkeypatch.setattr(judge, "prefix_ids", ())
    whole = judge.judge_batch(triples)
    return reused, whole


def assert_same_verdicts(reused: list[Any], whole: list[Any]) -> None:
    for a, b in zip(reused, whole, strict=True):
        assert a.p_pass == pytest.approx(b.p_pass, abs=TOLERANCE), (a, b)
        assert a.raw == b.raw and a.prompt_tokens == b.prompt_tokens
        if abs(b.p_pass - 0.5) > TOLERANCE:
            assert a.passed == b.passed


def test_smollm2_verdicts_are_the_same_with_the_prefix_run_once(smollm2_judge: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from test_smollm2 import gold_triples

    triples = gold_triples(5)
    # a question that starts with a newline: its first token may merge with the prefix's last one, so this
    # prompt shares fewer tokens than the others (the partial-share path)
    triples.append(Triple("\n\nWhat is 7 x 6?", "42", "7 x 6 = 42"))
    reused, whole = both_paths(smollm2_judge, triples, monkeypatch)
    assert_same_verdicts(reused, whole)
    assert len({v.prompt_tokens for v in whole}) > 1  # prompts of different lengths were packed together


def test_tiny_judge_verdicts_are_the_same_with_the_prefix_run_once(tiny_hf_judge: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    triples = [*synthetic_triples(12, seed=5), Triple("\nWhat is 1 + 1?", "2", "2"), Triple("", "x", "")]
    prompts = [tiny_hf_judge.lm.encode(tiny_hf_judge.render(t)) for t in triples]
    shared = shared_lengths(prompts, tiny_hf_judge.prefix_ids)
    assert all(s <= len(tiny_hf_judge.prefix_ids) for s in shared)
    reused, whole = both_paths(tiny_hf_judge, triples, monkeypatch)
    assert_same_verdicts(reused, whole)


def test_a_prompt_never_sees_another_prompts_tokens() -> None:
    import torch

    nodes = ((5,), (5, 6))
    ids, positions, mask, outputs = packed_batch([[1, 2, 3, 4], [1, 2, 9, 8, 7]], [2, 1], nodes, 3, torch.float32)
    allowed = mask[0, 0] == 0
    prefix = 3
    # prompt 0: suffix [3, 4] at packed 0-1, nodes at 2-3; prompt 1: suffix [2, 9, 8, 7] at 4-7, nodes at 8-9
    assert ids[0].tolist() == [3, 4, 5, 6, 2, 9, 8, 7, 5, 6]
    assert positions[0].tolist() == [2, 3, 4, 5, 1, 2, 3, 4, 5, 6]
    assert outputs.tolist() == [1, 2, 3, 7, 8, 9]
    assert allowed[0, :prefix].tolist() == [True, True, False] and allowed[4, :prefix].tolist() == [True, False, False]
    own = {0: range(0, 4), 1: range(4, 10)}
    for prompt, rows in own.items():
        for row in rows:
            others = [c for c in range(10) if c not in own[prompt]]
            assert not allowed[row, [prefix + c for c in others]].any()
    assert allowed[3, prefix + 2] and allowed[3, prefix + 3] and not allowed[2, prefix + 3]  # ancestors only
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2


def test_a_wrong_prefix_is_detected_by_the_tolerance(tiny_judge_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: a cache built from other tokens (same length) moves the verdicts."""
    from rlvr_bench.judges.hf_backend import HFJudge

    judge = HFJudge(JudgeSpec("tiny-prefix", "hf", params={"model": str(tiny_judge_path), "device": "cpu",
                                                           "dtype": "float32", "threads": 1}))
    triples = synthetic_triples(8, seed=9)
    monkeypatch.setattr(judge, "prefix_ids", ())
    whole = [v.p_pass for v in judge.judge_batch(triples)]
    monkeypatch.undo()
    true_prefix = judge.prefix_ids
    cache = judge.lm.prefix_cache(true_prefix)
    assert cache is not None
    wrong = judge.lm.prefix_cache(tuple(reversed(true_prefix)))  # other keys and values, same length
    assert wrong is not None
    monkeypatch.setattr(judge.lm, "prefix_cache", lambda prefix: _relabelled(wrong, true_prefix))
    broken = [v.p_pass for v in judge.judge_batch(triples)]
    assert max(abs(a - b) for a, b in zip(whole, broken, strict=True)) > 1e-2


def _relabelled(cache: Any, ids: tuple[int, ...]) -> Any:
    from dataclasses import replace

    return replace(cache, ids=ids)
