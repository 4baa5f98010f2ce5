"""Recipes: every bundled recipe passes --dry-run; bad ones fail with one line naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.errors import ConfigError
from rlvr_bench.training.recipes import Recipe, load_recipe, recipe_from_mapping, recipe_paths
from rlvr_bench.training.rewards import RewardChoice
from rlvr_bench.training.rl import dry_run, trl_config_kwargs

runner = CliRunner()


@pytest.mark.parametrize("name", sorted(recipe_paths()))
def test_every_bundled_recipe_passes_dry_run(name: str) -> None:
    result = runner.invoke(app, ["train", "--recipe", name, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"recipe {name!r} is valid" in result.output.replace("\n", "")


def test_dry_run_reports_the_batch_arithmetic_of_the_study_recipe() -> None:
    report = dry_run(load_recipe("qwen2.5-7b-rloo-rm7b"))
    # 128 prompts x 4 samples = 512 completions per rollout; 128 per optimizer step on 8 GPUs x 4 each
    # -> gradient accumulation 4, 16 micro-steps per rollout, 4 optimizer steps per rollout
    assert report["batch_layout"] == {
        "completions_per_generation": 512, "completions_per_step": 128, "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 4, "steps_per_generation": 16, "optimizer_steps_per_generation": 4}
    assert report["trainer"] == "rloo"
    assert report["trl_config"]["beta"] == 0.01 and report["trl_config"]["learning_rate"] == 5e-7
    assert report["launch"].startswith("accelerate launch --config_file")


def _write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"train": {"stpes": 3}}, "r.yaml.train: unknown field 'stpes' (did you mean 'steps'?)"),
        ({"algorithm": {"name": "ppo"}}, "unknown algorithm 'ppo'"),
        ({"algorithm": {"name": "grpo", "num_generations": 1}}, "num_generations must be at least 2"),
        ({"algorithm": {"name": "rloo", "scale_rewards": "group"}}, "rloo takes no scale_rewards"),
        ({"reward": {"judge": "numeric", "mode": "fuzzy"}}, "reward mode must be one of binary, soft"),
        ({"train": {"learning_rate": "fast"}}, "train.learning_rate: must be float"),
        # 3 prompts x 8 completions = 24 per step is not a multiple of 2 processes x 5 per device
        ({"train": {"prompts_per_generation": 3, "per_device_batch_size": 5}, "runtime": {"num_processes": 2}},
         "must be a multiple of runtime.num_processes"),
        ({"data": {"prompt_format": "messages"}}, "prompt_format must be 'template' or 'chat'"),
        ({"data": {"system_prompt": "Be brief."}}, "system_prompt is read with prompt_format: chat only"),
        ({"policy": {"source": "Qwen/Qwen2.5-7B"}, "sft": {"steps": 3}}, "sft warm start is only for tiny"),
        ({"matrix": {"rewards": ["rule-binary", "oracle-soft"]}}, "rewards: unknown kind 'oracle-soft'"),
        ({"matrix": {"rewards": "rule-binary"}}, "r.yaml.matrix.rewards: must be a list"),
        ({"matrix": {"rewards": ["rule-binary", 3]}}, "r.yaml.matrix.rewards[1]: must be str"),
        ({"matrix": {"steps": 0}}, "steps must be positive"),
    ],
)
def test_bad_recipes_say_what_to_change(tmp_path: Path, data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_recipe(str(_write(tmp_path, {"name": "bad", **data})))
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_cli_reports_a_bad_recipe_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--recipe", str(_write(tmp_path, {"train": {"steps": 0}})), "--dry-run"])
    assert result.exit_code == 2
    assert "steps and prompts_per_generation must be positive" in result.output


def test_unknown_recipe_name_suggests_close_ones() -> None:
    result = runner.invoke(app, ["train", "--recipe", "minii", "--dry-run"])
    assert result.exit_code == 2 and "did you mean mini" in result.output


def test_overrides_switch_reward_and_algorithm() -> None:
    recipe = load_recipe("mini").with_overrides(RewardChoice("contains", "binary"), "rloo", steps=7, seed=3)
    assert (recipe.reward.judge, recipe.algorithm.name, recipe.train.steps, recipe.seed) == ("contains", "rloo", 7, 3)
    trainer, kwargs = trl_config_kwargs(recipe, Path("x"))
    assert trainer == "rloo" and "scale_rewards" not in kwargs and kwargs["max_steps"] == 7


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("grpo", {"loss_type": "grpo", "scale_rewards": "group"}),
        ("dr_grpo", {"loss_type": "dr_grpo", "scale_rewards": "none"}),
        ("dapo", {"loss_type": "dapo", "epsilon_high": 0.28, "mask_truncated_completions": True}),
        ("gspo", {"importance_sampling_level": "sequence"}),
    ],
)
def test_algorithm_defaults(algorithm: str, expected: dict[str, object]) -> None:
    recipe = recipe_from_mapping({"name": "x", "algorithm": {"name": algorithm}})
    settings = recipe.algorithm.trl_settings()
    assert {key: settings[key] for key in expected} == expected


def test_explicit_setting_beats_algorithm_default() -> None:
    recipe = recipe_from_mapping({"name": "x", "algorithm": {"name": "dr_grpo", "scale_rewards": "batch"}})
    assert recipe.algorithm.trl_settings()["scale_rewards"] == "batch"


def test_resolved_recipe_round_trips_through_json() -> None:
    recipe = load_recipe("mini")
    data = json.loads(json.dumps(recipe.to_json()))
    data.pop("source")
    assert recipe_from_mapping(data).train == recipe.train
    assert isinstance(recipe, Recipe)


def test_matrix_section_reads_lists_and_fills_the_request(tmp_path: Path) -> None:
    from rlvr_bench.training.matrix import MatrixRequest

    recipe = load_recipe(str(_write(tmp_path, {"name": "m", "matrix": {
        "steps": 7, "rewards": ["rule-binary", "teacher-binary"], "distill_extra_questions": 5,
        "distill_max_examples": 900}})))
    assert recipe.matrix.rewards == ("rule-binary", "teacher-binary")
    filled = MatrixRequest(recipe="m", out=tmp_path).with_recipe_defaults(recipe)
    assert (filled.steps, filled.rewards, filled.distill_extra_questions, filled.student,
            filled.distill_max_examples) == (7, ("rule-binary", "teacher-binary"), 5, "minilm-classifier", 900)
    # the command line wins over the recipe
    given = MatrixRequest(recipe="m", out=tmp_path, steps=3, rewards=("rule-soft",), distill_extra_questions=0,
                          student="tiny").with_recipe_defaults(recipe)
    assert (given.steps, given.rewards, given.distill_extra_questions, given.student) == (
        3, ("rule-soft",), 0, "tiny")


def test_a_missing_checkpoint_as_policy_fails_the_dry_run_in_one_line(tmp_path: Path) -> None:
    recipe = _write(tmp_path, {"name": "gone", "policy": {"source": str(tmp_path / "model.gguf")}})
    result = runner.invoke(app, ["train", "--recipe", str(recipe), "--dry-run"])
    assert result.exit_code == 2
    assert "policy.source: checkpoint" in result.output and "no such GGUF file" in result.output


def test_chat_prompt_recipe_asks_the_system_prompt_and_question_as_messages(tmp_path: Path) -> None:
    from rlvr_bench.records import Item
    from rlvr_bench.training.evaluation import recipe_prompt

    recipe = load_recipe(str(_write(tmp_path, {"name": "chat", "data": {
        "prompt_format": "chat", "system_prompt": "Be brief."}})))
    prompt = recipe_prompt(recipe).prompt(Item("q", "physics", "What is the SI unit of force?", "newton"))
    assert prompt == [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "What is the SI unit of force?"}]


def test_bf16_on_cpu_reaches_trl_as_mixed_precision(tmp_path: Path) -> None:
    recipe = load_recipe(str(_write(tmp_path, {"name": "bf16", "runtime": {"device": "cpu", "bf16": True}})))
    _, kwargs = trl_config_kwargs(recipe, tmp_path)
    assert kwargs["bf16"] is True and kwargs["use_cpu"] is True
