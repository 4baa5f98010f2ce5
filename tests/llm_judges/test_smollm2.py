"""The real SmolLM2-135M-Instruct as a judge: "YES" is two tokens in its tokenizer ("Y" + "ES").

A scorer that reads only the first token's distribution cannot score YES at all
here; these tests hold the one-pass scorer to the probabilities a teacher-forced
forward pass (what generation computes) gives every spelling of each word.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.verdict_parsing import VerdictWords, first_word
from rlvr_bench.tasks import load_task


def gold_triples(n: int) -> list[Triple]:
    """The first ``n`` labelled responses of the bundled verifier-gold task, as every command judges them."""
    task = load_task("verifier-gold")
    by_id = {item.id: item for item in task.items}
    return [Triple.of(by_id[r.item_id], r) for r in task.responses[:n]]


#: two labelled responses; on the second the model's greedy answer is the two-token "YES"
N_TRIPLES = 2


@functools.cache
def one_token_spellings(tokenizer: Any) -> dict[int, bool]:
    """Every vocabulary token that decodes to YES or NO (any case, surrounding whitespace): side by id."""
    vocab = sorted(tokenizer.get_vocab().values())
    words = VerdictWords()
    return {i: side for i, text in zip(vocab, tokenizer.batch_decode([[i] for i in vocab]), strict=True)
            if (side := words.classify(text)) is not None}


def teacher_forced_word_probabilities(judge: Any, triple: Triple) -> tuple[float, float]:
    """P(YES), P(NO) from plain forward passes over prompt + each multi-token spelling, tokenized here.

    Each multi-token spelling gets a pass of its own (teacher forcing: the probabilities generation would
    multiply); the first such pass also gives the distribution after the prompt, for the one-token spellings.
    """
    import torch

    lm, words = judge.lm, VerdictWords()
    prompt = lm.encode(judge.render(triple))
    multi: dict[tuple[int, ...], bool] = {}
    for spelling in words.spellings():
        ids = tuple(lm.tokenizer.encode(spelling, add_special_tokens=False))
        if len(ids) > 1:
            multi[ids] = bool(words.classify(spelling))
    single = one_token_spellings(lm.tokenizer)
    assert multi, "no multi-token spelling: the test would not test anything"
    p = {True: 0.0, False: 0.0}
    with torch.inference_mode():
        for n, (ids, side) in enumerate(multi.items()):
            logits = lm.model(input_ids=torch.tensor([prompt + list(ids)])).logits[0].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            if n == 0:
                for token_id, token_side in single.items():
                    p[token_side] += math.exp(float(logprobs[len(prompt) - 1, token_id]))
            p[side] += math.exp(sum(float(logprobs[len(prompt) - 1 + k, ids[k]]) for k in range(len(ids))))
    return p[True], p[False]


@pytest.fixture(scope="module")
def judged(smollm2_judge: Any) -> tuple[list[Triple], list[Any]]:
    triples = gold_triples(N_TRIPLES)
    return triples, smollm2_judge.judge_batch(triples)


def test_yes_is_two_tokens_and_the_scorer_gives_its_generation_probability(
        smollm2_judge: Any, judged: tuple[list[Triple], list[Any]]) -> None:
    tokenizer = smollm2_judge.lm.tokenizer
    assert len(tokenizer.encode("YES", add_special_tokens=False)) == 2  # the premise: "Y" + "ES"
    triples, verdicts = judged
    for triple, verdict in zip(triples, verdicts, strict=True):
        p_yes, p_no = teacher_forced_word_probabilities(smollm2_judge, triple)
        assert verdict.passed is not None, verdict.error
        assert verdict.p_pass == pytest.approx(p_yes / (p_yes + p_no), abs=1e-4)
        assert verdict.passed is (p_yes > p_no)
    assert "YES" in [v.raw for v in verdicts]  # greedy decoding wrote the two-token word


def test_the_verdict_text_is_what_greedy_generation_writes(smollm2_judge: Any,
                                                           judged: tuple[list[Triple], list[Any]]) -> None:
    import torch

    lm = smollm2_judge.lm
    for triple, verdict in zip(*judged, strict=True):
        ids = lm.encode(smollm2_judge.render(triple))
        with torch.inference_mode():
            generated = lm.model.generate(torch.tensor([ids]), max_new_tokens=2, do_sample=False,
                                          pad_token_id=lm.pad_id)
        text = lm.decode(generated[0, len(ids):].tolist())
        assert text.startswith(verdict.raw)
        if VerdictWords().classify(first_word(text)) is not None:
            assert first_word(text) == first_word(verdict.raw)


def test_low_verdict_mass_is_recorded_not_hidden(smollm2_judge: Any, judged: tuple[list[Triple], list[Any]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from rlvr_bench.judges.verdict_parsing import LOW_MASS_PREFIX, verdict_mass_from_error

    triple, default = judged[0][0], judged[1][0]
    monkeypatch.setattr(smollm2_judge, "low_mass", 1.0)  # flag every verdict
    flagged = smollm2_judge.judge_batch([triple])[0]
    mass = verdict_mass_from_error(flagged)
    assert flagged.error is not None and flagged.error.startswith(LOW_MASS_PREFIX)
    assert mass is not None and 0.0 < mass < 1.0
    assert (flagged.passed, flagged.p_pass) == (default.passed, pytest.approx(default.p_pass, abs=1e-4))
    # the default threshold flags these verdicts too: the zero-shot model mostly writes other words
    assert verdict_mass_from_error(default) == pytest.approx(mass, abs=1e-3)


def test_serve_judge_read_back_by_the_openai_backend_gives_the_same_soft_scores(
        smollm2_judge: Any, judged: tuple[list[Triple], list[Any]]) -> None:
    from rlvr_bench.judges.openai_backend import OpenAIJudge
    from rlvr_bench.serve_judge import JudgeServer, JudgeService

    server = JudgeServer(JudgeService(str(smollm2_judge.lm.path), served_name="smollm2", device="cpu",
                                      dtype="float32")).start()
    try:
        client = OpenAIJudge(JudgeSpec("smollm2-served", "openai", params={
            "model": "smollm2", "base_url": server.base_url, "api_key_required": False, "prompt": "verifier",
            "top_logprobs": 200, "concurrency": 4}))
        triples, local = judged
        served = client.judge_batch(triples)
        requests = server.service.stats.to_json()["requests"]
    finally:
        server.stop()
    for a, b in zip(served, local, strict=True):
        assert a.passed == b.passed and a.p_pass == pytest.approx(b.p_pass, abs=2e-3), (a, b)
    assert requests > len(triples)  # the partial word "Y" was followed by a second request


def test_the_smollm2_preset_is_a_soft_reward(smollm2_env: Path, judged: tuple[list[Triple], list[Any]],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from rlvr_bench.judges import dtype_choice
    from rlvr_bench.judges.hf_backend import HFJudge
    from rlvr_bench.judges.registry import build_judges
    from rlvr_bench.training.rewards import JudgeReward

    # the preset's dtype auto, made to keep float32 on any CPU (the fixture's dtype, for the 1e-4 comparison)
    monkeypatch.setattr(dtype_choice, "forward_seconds",
                        lambda model, ids: 1.0 if next(model.parameters()).dtype == torch.float32 else 2.0)
    (judge,) = build_judges(["smollm2"])
    assert judge.dtype_choice is not None and judge.dtype_choice.chosen == "float32"  # type: ignore[attr-defined]
    assert isinstance(judge, HFJudge) and Path(judge.lm.path) == smollm2_env / "models" / "smollm2"
    triples, verdicts = judged
    reward = JudgeReward(judge, mode="soft")
    rewards = reward(prompts=[t.question for t in triples], completions=[t.response for t in triples],
                     item_id=[str(i) for i in range(len(triples))], question=[t.question for t in triples],
                     reference=[t.reference for t in triples])
    assert rewards == pytest.approx([v.p_pass for v in verdicts], abs=1e-4)  # float32 on cpu, as the fixture
    assert judge.usage().verdicts == len(triples)  # judged here, not read from a cache


def test_verify_reports_the_share_of_low_mass_verdicts(smollm2_env: Path, tmp_path: Path) -> None:
    """`verify --judges smollm2,contains` on labelled verifier-gold rows: the real model's flagged verdicts
    (recorded in judgments.jsonl) are counted in results.json with a CI and named in one printed warning."""
    import json

    from typer.testing import CliRunner

    from rlvr_bench.cli import app

    task = load_task("verifier-gold")
    by_id = {item.id: item for item in task.items}
    rows = [{"id": r.id, "question": by_id[r.item_id].question, "reference": by_id[r.item_id].reference,
             "response": r.text, "label": r.label, "domain": by_id[r.item_id].domain}
            for r in task.responses[:6]]
    data = tmp_path / "gold.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["verify", "--data", str(data), "--judges", "smollm2,contains",
                                      "--bootstrap", "50", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    summary = {row["judge"]: row for row in json.loads((out / "results.json").read_text())["judge_summary"]}
    judgments = [json.loads(line) for line in (out / "judgments.jsonl").read_text().splitlines()]
    flagged = [j for j in judgments if j["judge"] == "smollm2" and j["passed"] is not None
               and (j["error"] or "").startswith("low verdict mass")]
    assert flagged, "the zero-shot model flags its verdicts on verifier-gold: nothing to count otherwise"
    low = summary["smollm2"]["low_verdict_mass"]
    assert low["n_flagged"] == len(flagged) and low["share"]["n"] == summary["smollm2"]["n_scored"]
    assert summary["contains"]["low_verdict_mass"] is None
    assert f"judge 'smollm2': {len(flagged)} of {low['share']['n']} scored verdicts have low verdict mass" in (
        " ".join(result.stdout.split()))
