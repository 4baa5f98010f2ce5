"""Evaluate a policy on held-out items: generate, judge with a reference judge, score with CIs.

Before/after comparisons are paired: the same questions, the same decoding
settings and the same sample slots, so the paired bootstrap of the difference
is much tighter than two independent intervals.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Item, Verdict, final_step
from rlvr_bench.stats.policy_metrics import paired_comparison, policy_accuracy


@dataclass(frozen=True)
class Decoding:
    """How completions are sampled for evaluation."""

    #: "greedy" or "sample"
    mode: str = "greedy"
    temperature: float = 1.0
    #: completions per question (greedy always uses 1)
    samples_per_question: int = 1
    max_new_tokens: int = 48
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.mode not in ("greedy", "sample"):
            raise ValueError(f"decoding mode must be 'greedy' or 'sample', got {self.mode!r}")
        if self.samples_per_question < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("samples_per_question, max_new_tokens and batch_size must be positive")
        if self.mode == "sample" and self.temperature <= 0.0:
            raise ValueError(f"temperature must be > 0 when sampling, got {self.temperature}")

    @property
    def samples(self) -> int:
        return 1 if self.mode == "greedy" else self.samples_per_question


@dataclass(frozen=True)
class ScoredCompletion:
    item: Item
    sample: int
    completion: str
    verdict: Verdict

    @property
    def correct(self) -> float | None:
        return None if self.verdict.passed is None else float(self.verdict.passed)


@torch.no_grad()
def generate_completions(model: Any, tokenizer: Any, prompts: Sequence[str], decoding: Decoding,
                         seed: int = 0) -> list[str]:
    """One completion per prompt (in order), batched with left padding."""
    model.eval()
    tokenizer.padding_side = "left"
    torch.manual_seed(seed)
    completions: list[str] = []
    for start in range(0, len(prompts), decoding.batch_size):
        batch = list(prompts[start : start + decoding.batch_size])
        encoded = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens, "pad_token_id": tokenizer.pad_token_id,
                                  "eos_token_id": tokenizer.eos_token_id}
        if decoding.mode == "greedy":
            kwargs["do_sample"] = False
        else:
            kwargs.update(do_sample=True, temperature=decoding.temperature, top_k=0, top_p=1.0)
        output = model.generate(**encoded, **kwargs)
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        completions.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return completions


def score_policy(model: Any, tokenizer: Any, items: Sequence[Item], judge: Judge, prompt_template: str,
                 decoding: Decoding, seed: int = 0) -> list[ScoredCompletion]:
    """Generate ``decoding.samples`` completions per item and judge their final step."""
    slots = [(item, sample) for item in items for sample in range(decoding.samples)]
    prompts = [prompt_template.format(question=item.question) for item, _ in slots]
    completions = generate_completions(model, tokenizer, prompts, decoding, seed)
    triples = [Triple(item.question, item.reference, final_step(text), item.answer_type, item.domain)
               for (item, _), text in zip(slots, completions, strict=True)]
    verdicts = judge_triples(judge, triples)
    return [ScoredCompletion(item, sample, text, verdict)
            for (item, sample), text, verdict in zip(slots, completions, verdicts, strict=True)]


def verdict_matrix(scored: Sequence[ScoredCompletion], items: Sequence[Item]) -> np.ndarray:
    """(n_items, n_samples) matrix: 1.0 correct, 0.0 incorrect, nan unscored or missing (rows in ``items`` order)."""
    row_of = {item.id: index for index, item in enumerate(items)}
    samples = 1 + max((r.sample for r in scored), default=0)
    matrix = np.full((len(items), samples), np.nan)
    for r in scored:
        if r.correct is not None:
            matrix[row_of[r.item.id], r.sample] = r.correct
    return matrix


def _domains(items: Sequence[Item]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        rows["all"].append(index)
        rows[item.domain].append(index)
    return dict(sorted(rows.items(), key=lambda kv: (kv[0] != "all", kv[0])))


def accuracy_table(scored: Sequence[ScoredCompletion], items: Sequence[Item], bootstrap_samples: int = 2000,
                   seed: int = 0) -> dict[str, Any]:
    """Accuracy overall and per domain, unscored verdicts left out and counted; CIs resample questions."""
    matrix = verdict_matrix(scored, items)
    return {name: policy_accuracy(matrix[rows], bootstrap_samples, seed).to_json()
            for name, rows in _domains(items).items()}


def paired_difference(before: Sequence[ScoredCompletion], after: Sequence[ScoredCompletion], items: Sequence[Item],
                      bootstrap_samples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """after - before accuracy, overall and per domain: paired bootstrap over questions, plus McNemar's test."""
    matrix_before, matrix_after = verdict_matrix(before, items), verdict_matrix(after, items)
    return {name: paired_comparison(matrix_after[rows], matrix_before[rows], bootstrap_samples, seed).to_json()
            for name, rows in _domains(items).items()}


def evaluate_policy(model: Any, tokenizer: Any, items: Sequence[Item], judge: Judge, prompt_template: str,
                    decoding: Decoding, seed: int = 0) -> tuple[list[ScoredCompletion], dict[str, Any]]:
    """Scored completions and their accuracy table, with the wall time spent."""
    began = time.perf_counter()
    scored = score_policy(model, tokenizer, items, judge, prompt_template, decoding, seed)
    table: dict[str, Any] = {"accuracy": accuracy_table(scored, items)}
    table["wall_time_s"] = round(time.perf_counter() - began, 1)
    return scored, table
