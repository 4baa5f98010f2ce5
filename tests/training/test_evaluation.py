"""Training's evaluation bookkeeping: verdict matrices, the paired before/after difference, the recipe's settings."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.pipelines.engine import PolicyEvaluation
from rlvr_bench.prompting import GenerationSettings, PromptFormat
from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.training.evaluation import accuracy_table, paired_difference, recipe_generation, recipe_prompt
from rlvr_bench.training.recipes import recipe_from_mapping

ITEMS = [Item(id=f"q{i}", domain="a" if i < 2 else "b", question="?", reference="1") for i in range(4)]


def _evaluation(passed: list[bool | None], name: str = "p") -> PolicyEvaluation:
    responses = [Response(f"{name}/{item.id}/0", item.id, "text", name, metadata={"policy": name, "sample": 0})
                 for item in ITEMS]
    judgments = [Judgment("judge", r.item_id, r.id, Verdict(p)) for r, p in zip(responses, passed, strict=True)]
    return PolicyEvaluation(name, responses, judgments, GenerationSettings())


def test_verdict_matrix_keeps_unscored_as_nan() -> None:
    matrix = _evaluation([True, False, None, True]).matrix(ITEMS, "judge")
    assert matrix.shape == (4, 1)
    assert matrix[0, 0] == 1.0 and matrix[1, 0] == 0.0 and math.isnan(matrix[2, 0])


def test_verdict_matrix_places_samples_and_leaves_missing_ones_nan() -> None:
    # item q0 answered twice (samples 0 and 1), q1 once (sample 1 only), q2 and q3 not at all
    responses = [Response(f"{item}-{k}", item, "t", "p", metadata={"sample": k}) for item, k in (("q0", 0), ("q0", 1),
                                                                                         ("q1", 1))]
    judgments = [Judgment("judge", r.item_id, r.id, Verdict(passed)) for r, passed in
                 zip(responses, [True, False, True], strict=True)]
    matrix = PolicyEvaluation("p", responses, judgments, GenerationSettings()).matrix(ITEMS, "judge")
    assert matrix.shape == (4, 2)
    assert (matrix[0, 0], matrix[0, 1], matrix[1, 1]) == (1.0, 0.0, 1.0)
    assert math.isnan(matrix[1, 0]) and all(math.isnan(v) for v in matrix[2:].ravel())


def test_accuracy_table_per_domain_leaves_out_unscored() -> None:
    table = accuracy_table(_evaluation([True, False, None, True]), ITEMS, "judge", bootstrap_samples=200)
    # all: 2 correct of 3 scored; domain a: 1 of 2; domain b: 1 of 1 (q2 unscored)
    assert table["all"]["accuracy"]["estimate"] == pytest.approx(2 / 3)
    assert table["a"]["accuracy"]["estimate"] == pytest.approx(1 / 2)
    assert table["b"]["accuracy"]["estimate"] == 1.0 and table["b"]["n_unscored"] == 1


def test_paired_difference_is_after_minus_before() -> None:
    before = _evaluation([False, False, True, True], "start")
    after = _evaluation([True, False, True, None], "rl")
    # pairs scored on both sides: q0 (0 -> 1), q1 (0 -> 0), q2 (1 -> 1): mean +1/3; q3 is left out
    table = paired_difference(before, after, ITEMS, "judge", bootstrap_samples=200)
    assert table["all"]["difference"]["estimate"] == pytest.approx(1 / 3)
    assert table["all"]["difference"]["n"] == 3
    assert table["all"]["mcnemar"]["a_only_correct"] == 1  # "a" is the policy after RL


def test_a_recipe_is_asked_its_template_with_its_eval_settings() -> None:
    recipe = recipe_from_mapping({"name": "t", "seed": 7, "data": {"prompt_template": "Q: {question}\nA:"},
                                  "eval": {"max_new_tokens": 9, "batch_size": 5}})
    settings = recipe_generation(recipe)
    assert settings.prompt == PromptFormat.text_template("Q: {question}\nA:")
    assert settings.prompt.prompt(ITEMS[0]) == "Q: ?\nA:"
    assert (settings.n_samples, settings.sampling.temperature, settings.sampling.max_new_tokens) == (1, 0.0, 9)
    assert (settings.sampling.seed, settings.batch_size) == (7, 5)
    sampled = recipe_generation(recipe_from_mapping({"name": "t", "eval": {"decoding": "sample",
                                                                            "samples_per_question": 4,
                                                                            "temperature": 0.7}}))
    assert (sampled.n_samples, sampled.sampling.temperature) == (4, 0.7)
    # greedy has one response per question, whatever samples_per_question says
    greedy = recipe_from_mapping({"name": "t", "eval": {"samples_per_question": 4}})
    assert recipe_generation(greedy).n_samples == 1


def test_hub_chat_data_is_asked_its_own_messages() -> None:
    recipe = recipe_from_mapping({"name": "t", "policy": {"source": "Qwen/Qwen2.5-7B"},
                                  "data": {"source": "hf:org/data"}})
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
    item = Item("x", "math", "2+2?", "4", metadata={"messages": messages})
    assert recipe_prompt(recipe).prompt(item) == messages


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--judge", "numerik"], "unknown judge 'numerik'"),
        (["serve", "--judge", "numeric", "--mode", "soft"], "gives no soft score"),
    ],
)
def test_serve_rejects_bad_options_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output
