"""A few real GRPO steps on CPU: a tiny policy learns from a model judge's soft reward; a run directory results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.judges.registry import build_judge, resolve_preset
from rlvr_bench.prompting import read_policy_settings
from rlvr_bench.training.evaluation import recipe_prompt
from rlvr_bench.training.procedural import generate_splits
from rlvr_bench.training.recipes import recipe_from_mapping
from rlvr_bench.training.rewards import ExplorationLog, JudgeReward
from rlvr_bench.training.rl import _trainer, build_trl_config, rl_dataset_rows, trl_config_kwargs
from rlvr_bench.training.tiny_models import TinyPolicySpec, build_tiny_policy, train_tokenizer

TINY = {"vocab_size": 300, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "max_position_embeddings": 160}


def test_grpo_steps_with_a_model_judge_soft_reward_change_the_policy(tmp_path: Path) -> None:
    recipe = recipe_from_mapping({
        "name": "t", "policy": {"tiny": TINY},
        "reward": {"judge": "tiny", "mode": "soft", "reference_judge": "numeric"},
        "algorithm": {"name": "grpo", "num_generations": 4},
        "train": {"steps": 3, "prompts_per_generation": 2, "learning_rate": 1e-2, "max_completion_length": 8},
    })
    items = generate_splits(0, 1, 1, 4).items()
    train = [i for i in items if i.split == "train"]
    rows = rl_dataset_rows(train, recipe_prompt(recipe))
    tokenizer = train_tokenizer([r["prompt"] + r["reference"] for r in rows], 300)
    model = build_tiny_policy(TinyPolicySpec(**TINY), tokenizer, seed=0)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}

    judge = build_judge(resolve_preset("tiny").spec)
    assert judge.soft
    log = ExplorationLog(tmp_path / "exploration_judgments.jsonl")
    reward = JudgeReward(judge, "soft", build_judge(resolve_preset("numeric").spec), log)
    _, kwargs = trl_config_kwargs(recipe, tmp_path / "checkpoints")
    trainer = _trainer("grpo", model, tokenizer, reward, build_trl_config("grpo", kwargs), rows, tmp_path,
                       say=lambda _: None)
    trainer.train()

    changed = [name for name, p in trainer.model.named_parameters() if not torch.equal(p.detach(), before[name])]
    assert changed, "no parameter moved after 3 GRPO steps"
    judgments = [json.loads(line) for line in log.path.read_text().splitlines()]
    reward_rows = [row for row in judgments if row["role"] == "reward"]
    # 3 steps x 2 prompts x 4 completions, each judged by the reward judge and by the reference judge
    assert len(reward_rows) == 24 and len(judgments) == 48
    assert all(row["judge"] == judge.name for row in reward_rows)
    soft = [row["p_pass"] for row in reward_rows if row["passed"] is not None]
    assert soft and all(0.0 <= p <= 1.0 for p in soft)
    assert {row["reward"] for row in reward_rows if row["reward"] is not None} == set(soft)
    steps = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in steps if "reward_mean" in row] == [1, 2, 3]
    assert all("reward_hacking/agreement" in row for row in steps if "reward_mean" in row)


def test_mini_quick_recipe_writes_a_complete_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--recipe", "mini-quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("config.json", "results.json", "log.jsonl", "exploration_judgments.jsonl", "items.jsonl",
                 "responses.jsonl", "judgments.jsonl", "policy/config.json", "sft_policy/config.json"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    # 4 test questions per domain x 6 domains, greedy: one completion each, before and after
    assert results["before"]["accuracy"]["all"]["n_items"] == 24
    assert results["difference"]["all"]["difference"]["n"] == 24
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"]["name"] == "mini-quick" and "trl" in config["versions"]
    assert len((out / "responses.jsonl").read_text().splitlines()) == 48  # 24 before + 24 after RL
    assert results["schema"] == "rlvr-bench/train/v1" and (out / "report.html").is_file()
    for policy in ("policy", "sft_policy"):  # every saved policy says how the run asked it
        settings = read_policy_settings(out / policy)
        assert settings is not None and settings.prompt.template == "Question: {question}\nAnswer:\n"


@pytest.mark.slow
def test_a_saved_policy_folder_is_a_starting_point(tmp_path: Path) -> None:
    """The hub / checkpoint path of a recipe: trl loads the policy from a folder; evaluation loads a copy."""
    out = tmp_path / "run"
    assert CliRunner().invoke(app, ["train", "--recipe", "mini-quick", "--out", str(out)]).exit_code == 0
    recipe = tmp_path / "from_folder.yaml"
    recipe.write_text(json.dumps({
        "name": "from-folder", "policy": {"source": str(out / "policy")},
        "data": {"procedural": {"train_per_domain": 5, "validation_per_domain": 1, "test_per_domain": 2}},
        "reward": {"judge": "contains"}, "algorithm": {"num_generations": 2},
        "train": {"steps": 1, "prompts_per_generation": 2, "max_completion_length": 8},
        "eval": {"max_new_tokens": 8, "bootstrap_samples": 100}, "runtime": {"threads": 1}}))
    second = CliRunner().invoke(app, ["train", "--recipe", str(recipe), "--out", str(tmp_path / "run2")])
    assert second.exit_code == 0, second.output
    assert json.loads((tmp_path / "run2" / "results.json").read_text())["before"]["accuracy"]["all"]["n_items"] == 12


def test_distributed_runs_write_in_place_and_only_rank_0_writes_shared_files(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from rlvr_bench.training.rl import _rank_file, _run_writer

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with _run_writer(tmp_path / "run", {"recipe": {}}) as writer:
        assert writer.folder == tmp_path / "run"  # no per-process staging folder: checkpoints are shared
        assert _rank_file("exploration_judgments.jsonl") == "exploration_judgments.rank1.jsonl"
    assert not (tmp_path / "run" / "config.json").exists()
    monkeypatch.setenv("RANK", "0")
    with _run_writer(tmp_path / "run", {"recipe": {}}) as writer:
        assert writer.commit() == tmp_path / "run"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # the same writer as every other command: the full config, not a hand-made subset
    assert config["command"] == "train" and {"created", "versions", "git_revision", "recipe"} <= set(config)
