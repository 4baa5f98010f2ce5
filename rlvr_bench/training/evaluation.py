"""Held-out evaluation of training's policies, through the one engine of ``rlvr-bench eval``.

A recipe asks its policy one prompt (:func:`recipe_prompt`: the text template
the policy is trained on, or the data's own chat messages) with one set of
generation settings (:func:`recipe_generation`, from its ``eval`` section).
Training's before/after numbers and every row of ``train-and-eval``'s Table 1
are :func:`rlvr_bench.pipelines.engine.generate_and_judge` under those
settings, and every saved policy carries them (:func:`save_policy_settings`),
so ``rlvr-bench eval --policy <checkpoint>`` reproduces them.

Before/after comparisons are paired: the same questions, the same settings and
the same sample slots, so the paired bootstrap of the difference is much
tighter than two independent intervals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT, HFPolicy, SamplingSettings
from rlvr_bench.judges.base import Judge
from rlvr_bench.pipelines.engine import PolicyEvaluation, generate_and_judge
from rlvr_bench.prompting import GenerationSettings, PromptFormat, write_policy_settings
from rlvr_bench.records import Item
from rlvr_bench.stats.policy_metrics import paired_comparison, policy_accuracy

if TYPE_CHECKING:
    from rlvr_bench.training.recipes import Recipe


def recipe_prompt(recipe: Recipe) -> PromptFormat:
    """The prompt a recipe trains and evaluates on: hub chat data is asked its own messages (with the
    tokenizer's chat template); ``prompt_format: chat`` the system prompt and the question as chat
    messages; otherwise the recipe's ``data.prompt_template`` as plain text."""
    if recipe.data.is_hub:
        return PromptFormat.chat(system_prompt=None)
    if recipe.data.prompt_format == "chat":
        return PromptFormat.chat(recipe.data.system_prompt or DEFAULT_SYSTEM_PROMPT)
    return PromptFormat.text_template(recipe.data.prompt_template)


def recipe_generation(recipe: Recipe) -> GenerationSettings:
    """The recipe's evaluation settings: greedy (one response per question) or sampled, seeded by the recipe."""
    spec = recipe.eval
    greedy = spec.decoding == "greedy"
    sampling = SamplingSettings(temperature=0.0 if greedy else spec.temperature, max_new_tokens=spec.max_new_tokens,
                                seed=recipe.seed)
    return GenerationSettings(prompt=recipe_prompt(recipe), n_samples=1 if greedy else spec.samples_per_question,
                              sampling=sampling, batch_size=spec.batch_size)


def save_policy_settings(folder: Path, recipe: Recipe) -> Path:
    """Write the recipe's prompt and evaluation settings next to a policy saved in ``folder``."""
    return write_policy_settings(folder, recipe_generation(recipe))


def evaluate_model(name: str, model: Any, tokenizer: Any, items: Sequence[Item], judge: Judge,
                   settings: GenerationSettings) -> PolicyEvaluation:
    """A model in memory (e.g. the policy being trained) evaluated on ``items``, judged by ``judge``."""
    policy = HFPolicy.from_model(name, model, tokenizer, batch_size=settings.batch_size)
    return generate_and_judge(policy, items, [judge], settings)


def evaluate_checkpoint(name: str, folder: Path | str, items: Sequence[Item], judges: Sequence[Judge],
                        settings: GenerationSettings, device: str | None = None) -> PolicyEvaluation:
    """A saved policy loaded, evaluated (every judge on the same responses) and freed, as
    ``rlvr-bench eval --policy FOLDER`` would."""
    policy = HFPolicy(name, str(folder), batch_size=settings.batch_size, device=device)
    try:
        return generate_and_judge(policy, items, judges, settings)
    finally:
        policy.close()


def _domains(items: Sequence[Item]) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        rows["all"].append(index)
        rows[item.domain].append(index)
    return dict(sorted(rows.items(), key=lambda kv: (kv[0] != "all", kv[0])))


def accuracy_table(evaluation: PolicyEvaluation, items: Sequence[Item], judge: str, bootstrap_samples: int = 2000,
                   seed: int = 0) -> dict[str, Any]:
    """Accuracy overall and per domain, unscored verdicts left out and counted; CIs resample questions."""
    matrix = evaluation.matrix(items, judge)
    return {name: policy_accuracy(matrix[rows], bootstrap_samples, seed).to_json()
            for name, rows in _domains(items).items()}


def paired_difference(before: PolicyEvaluation, after: PolicyEvaluation, items: Sequence[Item], judge: str,
                      bootstrap_samples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """after - before accuracy, overall and per domain: paired bootstrap over questions, plus McNemar's test."""
    matrix_before, matrix_after = before.matrix(items, judge), after.matrix(items, judge)
    return {name: paired_comparison(matrix_after[rows], matrix_before[rows], bootstrap_samples, seed).to_json()
            for name, rows in _domains(items).items()}


def evaluation_table(evaluation: PolicyEvaluation, items: Sequence[Item], judge: str, bootstrap_samples: int,
                     seed: int) -> dict[str, Any]:
    """``results["before"]`` / ``["after"]`` of a training run: the accuracy table and the wall time spent."""
    return {"accuracy": accuracy_table(evaluation, items, judge, bootstrap_samples, seed),
            "wall_time_s": evaluation.wall_time_s}
