"""Model judges check prompt lengths before any work: an over-long prompt is unscored from tokenization
alone, and a run with too many of them stops before the first forward pass (issue 23: `smollm2` on
VerifyBench-Hard stopped after 6 min 48 s of judging, on 25 of 150 over-long triples)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlvr_bench.errors import TooManyUnscored
from rlvr_bench.judges.base import JudgeSpec, Triple
from rlvr_bench.judges.hf_backend import HFJudge, HFVerifierModel
from rlvr_bench.judging import FailureBudget, judge_triples


@pytest.fixture()
def forward_prompts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every prompt that reaches the model's forward pass."""
    seen: list[int] = []
    original = HFVerifierModel.next_token_logprobs

    def counting(self: Any, prompts: Sequence[list[int]], *args: Any, **kwargs: Any) -> Any:
        seen.extend(len(p) for p in prompts)
        return original(self, prompts, *args, **kwargs)

    monkeypatch.setattr(HFVerifierModel, "next_token_logprobs", counting)
    return seen


def float32_is_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    """`dtype: auto` keeps float32 without scoring its probe triples (on a CPU where bfloat16 is faster, the
    probes would go through the forward pass this test counts)."""
    import torch

    from rlvr_bench.judges import dtype_choice

    monkeypatch.setattr(dtype_choice, "forward_seconds",
                        lambda model, ids: 1.0 if next(model.parameters()).dtype == torch.float32 else 2.0)


def test_smollm2_stops_before_the_first_forward_pass(smollm2_env: Path, tmp_path: Path, forward_prompts: list[int],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from rlvr_bench.cli import app

    float32_is_faster(monkeypatch)

    long_question = "Consider the following data. " + "alpha beta gamma delta " * 1200  # > 4096 tokens
    rows = [{"id": f"r{i}", "question": long_question if i < 2 else f"What is {i} + {i}?", "reference": str(2 * i),
             "response": f"The answer is {2 * i}.", "label": True} for i in range(10)]
    data = tmp_path / "long.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    result = CliRunner().invoke(app, ["verify", "--data", str(data), "--judges", "smollm2", "--bootstrap", "0",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "judge 'smollm2' failed on 2 of 10 triples" in message and "prompt too long" in message
    assert "max_prompt_tokens=4096" in message
    assert forward_prompts == []  # stopped from tokenization alone: no prompt reached the model
    assert not (tmp_path / "run").exists()


def test_within_the_budget_the_long_prompt_is_unscored_and_never_run(tiny_judge_path: Path,
                                                                      forward_prompts: list[int]) -> None:
    judge = HFJudge(JudgeSpec("tiny-short", "hf", params={"model": str(tiny_judge_path), "device": "cpu",
                                                          "max_prompt_tokens": 260, "threads": 1}))
    triples = [Triple(f"What is {i} + 1?", str(i + 1), str(i + 1)) for i in range(11)]
    triples.insert(4, Triple("Why? " * 100, "2", "2"))
    verdicts = judge_triples(judge, triples, batch_size=4, cache=None, budget=FailureBudget(0.1))
    assert [v.passed is None for v in verdicts] == [i == 4 for i in range(12)]
    assert (verdicts[4].error or "").startswith("prompt too long:")
    assert len(forward_prompts) == 11 and max(forward_prompts) <= 260
    with pytest.raises(TooManyUnscored):  # the same data with a budget of 0: stopped before any forward pass
        forward_prompts.clear()
        judge_triples(judge, triples, batch_size=4, cache=None, budget=FailureBudget(0.0))
    assert forward_prompts == []
