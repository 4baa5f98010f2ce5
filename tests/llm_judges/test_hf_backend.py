"""The hf backend on the tiny judge: one forward pass, padding invariance, soft scores, checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llm_judge_helpers import synthetic_triples

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.hf_backend import HFJudge


def test_batched_scoring_equals_one_at_a_time(tiny_hf_judge: Any) -> None:
    # prompts of different lengths share a left-padded batch; position ids from the mask keep
    # every row's scores what they are alone
    triples = synthetic_triples(12)
    together = tiny_hf_judge.judge_batch(triples)
    alone = [tiny_hf_judge.judge_batch([t])[0] for t in triples]
    assert len({v.prompt_tokens for v in together}) > 1  # the batch really mixed lengths
    for a, b in zip(together, alone, strict=True):
        assert a.passed == b.passed and a.raw == b.raw
        assert a.p_pass == pytest.approx(b.p_pass, abs=1e-5)


def test_soft_score_is_the_normalised_first_token_probability(tiny_hf_judge: Any) -> None:
    import torch

    lm = tiny_hf_judge.lm
    triple = synthetic_triples(1, seed=3)[0]
    ids = lm.encode(tiny_hf_judge.render(triple))
    with torch.inference_mode():
        probs = lm.model(input_ids=torch.tensor([ids])).logits[0, -1].float().softmax(-1)
    spelled = {lm.decode_token(i).strip().upper() for i in tiny_hf_judge.positive_ids + tiny_hf_judge.negative_ids}
    assert spelled == {"YES", "NO"} and len(tiny_hf_judge.positive_ids) >= 1
    p_yes = float(probs[tiny_hf_judge.positive_ids].sum())
    p_no = float(probs[tiny_hf_judge.negative_ids].sum())
    verdict = tiny_hf_judge.judge_batch([triple])[0]
    assert verdict.p_pass == pytest.approx(p_yes / (p_yes + p_no), abs=1e-6)
    assert verdict.raw == lm.decode_token(int(probs.argmax()))
    assert verdict.prompt_tokens == len(ids) and verdict.completion_tokens == 1


def test_the_one_pass_token_is_what_generation_would_say(tiny_hf_judge: Any) -> None:
    import torch

    lm = tiny_hf_judge.lm
    for triple in synthetic_triples(4, seed=11):
        ids = lm.encode(tiny_hf_judge.render(triple))
        with torch.inference_mode():
            generated = lm.model.generate(torch.tensor([ids]), max_new_tokens=1, do_sample=False,
                                          pad_token_id=lm.pad_id)
        assert lm.decode_token(int(generated[0, -1])) == tiny_hf_judge.judge_batch([triple])[0].raw


def test_soft_scores_vary_and_track_the_labels(tiny_hf_judge: Any) -> None:
    import random
    import statistics

    from rlvr_bench.judges.tiny_judge import synthetic_example

    rng = random.Random(2024)
    examples = [synthetic_example(rng) for _ in range(60)]
    verdicts = tiny_hf_judge.judge_batch([t for t, _ in examples])
    scores = [v.p_pass for v in verdicts]
    assert all(v.passed is not None for v in verdicts)
    assert statistics.pstdev(scores) > 0.1  # not a constant
    correct = statistics.mean(s for s, (_, ok) in zip(scores, examples, strict=True) if ok)
    wrong = statistics.mean(s for s, (_, ok) in zip(scores, examples, strict=True) if not ok)
    assert correct > wrong + 0.1  # weak, but a real signal


def test_prompt_longer_than_the_limit_is_unscored(tiny_judge_path: Path) -> None:
    judge = HFJudge(JudgeSpec("tiny-short", "hf", params={"model": str(tiny_judge_path), "device": "cpu",
                                                          "max_prompt_tokens": 50}))
    verdict = judge.judge_batch([Triple("What is 1 + 1?", "2", "2")])[0]
    assert verdict.passed is None
    assert verdict.error is not None and verdict.error.startswith("prompt too long:")
    assert judge.usage().verdicts == 0


def test_cache_key_follows_prompt_and_verdict_relevant_params(tiny_hf_judge: Any, tiny_judge_path: Path) -> None:
    triple = Triple("q", "r", "a")
    key = tiny_hf_judge.cache_key(triple)
    assert key == tiny_hf_judge.cache_key(Triple("q", "r", "a")) and len(key) == 64
    assert key != tiny_hf_judge.cache_key(Triple("q", "r", "b"))
    params = dict(tiny_hf_judge.spec.params)
    faster = HFJudge(JudgeSpec("other-name", "hf", params={**params, "batch_size": 2, "max_batch_tokens": 999}))
    assert faster.cache_key(triple) == key  # name and speed settings do not change a verdict
    other_prompt = HFJudge(JudgeSpec("tiny", "hf", params={**params, "dtype": "bfloat16"}))
    assert other_prompt.cache_key(triple) != key


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (None, "judge 'x' needs params.model: a local checkpoint folder or a Hugging Face hub id"),
        ("/nonexistent/model", "judge 'x' needs checkpoint /nonexistent/model: no config.json there; "
                               "set params.model to a folder saved with save_pretrained"),
        ("virtuoussy/Qwen2.5-7B-Instruct-RLVR", "judge 'x' needs checkpoint virtuoussy/Qwen2.5-7B-Instruct-RLVR: "
         "not in the local Hugging Face cache and HF_HUB_OFFLINE=1; set params.model to a local path"),
        ("rlvr-bench:tiny-judge", None),
    ],
)
def test_check_says_what_to_set_without_loading(model: str | None, reason: str | None,
                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty hub cache
    params = {"model": model} if model else {}
    assert HFJudge.check(JudgeSpec("x", "hf", params=params)) == reason


def test_a_verdict_word_of_several_tokens_is_scored_as_generation_would(tiny_judge_path: Path) -> None:
    # "CORRECT" is several tokens in the tiny judge's 512-token vocabulary: one pass (prompt + the verdict
    # tree's inner nodes, tree attention) must give what teacher-forced passes over each spelling give
    import math

    import torch

    spec = JudgeSpec("odd", "hf", params={"model": str(tiny_judge_path), "device": "cpu", "threads": 1,
                                          "verdict_words": {"positive": ["CORRECT"], "negative": ["NO"]}})
    judge = HFJudge(spec)
    lm, words = judge.lm, judge.words
    multi = [tuple(lm.tokenizer.encode(s, add_special_tokens=False)) for s in words.spellings()]
    assert max(len(ids) for ids in multi) >= 3 and judge.sequences.multi_token
    triples = synthetic_triples(5, seed=4)
    verdicts = judge.judge_batch(triples)
    for triple, verdict in zip(triples, verdicts, strict=True):
        prompt = lm.encode(judge.render(triple))
        p = {True: 0.0, False: 0.0}
        with torch.inference_mode():
            for ids, side in judge.sequences.sequences:
                logprobs = torch.log_softmax(lm.model(input_ids=torch.tensor([prompt + list(ids)])).logits[0], -1)
                p[side] += math.exp(sum(float(logprobs[len(prompt) - 1 + k, t]) for k, t in enumerate(ids)))
        assert verdict.passed is not None and verdict.p_pass == pytest.approx(p[True] / (p[True] + p[False]),
                                                                              abs=1e-5)
    alone = [judge.judge_batch([t])[0] for t in triples]  # padding and the tree mask leave rows independent
    assert [v.p_pass for v in alone] == pytest.approx([v.p_pass for v in verdicts], abs=1e-5)


def test_a_resumed_run_gives_bitwise_identical_verdicts(tiny_hf_judge: Any, tmp_path: Path) -> None:
    # judging.py cuts the pending triples into the same batches whether or not earlier
    # batches came from the cache, so recomputed verdicts are computed exactly as before
    from rlvr_bench.judges.cache import JudgmentCache
    from rlvr_bench.judging import judge_triples

    triples = synthetic_triples(20, seed=21)
    uninterrupted = judge_triples(tiny_hf_judge, triples, batch_size=6)
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        judge_triples(tiny_hf_judge, triples[:12], batch_size=6, cache=cache)  # the run "killed" after 2 batches
        resumed = judge_triples(tiny_hf_judge, triples, batch_size=6, cache=cache)
    assert [(v.passed, v.p_pass, v.raw) for v in resumed] == [(v.passed, v.p_pass, v.raw) for v in uninterrupted]
