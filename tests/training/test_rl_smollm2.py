"""RLVR on a real pretrained model: two GRPO steps of the `smol` recipe on SmolLM2-135M-Instruct change it.

The recipe as shipped (policy `smollm2`, the chat prompt, expert-qa's train split), cut to two steps of
2 prompts x 2 completions with a soft reward from the MiniLM embedding judge: a soft reward varies
within every group, so each step has a non-zero advantage and must move the weights. Slow (about two
minutes on 2 CPU cores): `make test-slow`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rlvr_bench.checkpoints import resolve_checkpoint
from rlvr_bench.training.recipes import load_recipe
from rlvr_bench.training.rewards import RewardChoice
from rlvr_bench.training.rl import run_training

pytestmark = pytest.mark.slow


def _weights(folder: Path) -> dict[str, object]:
    from safetensors.torch import load_file

    tensors: dict[str, object] = {}
    for shard in sorted(folder.glob("*.safetensors")):
        tensors.update(load_file(str(shard)))
    return tensors


def test_two_grpo_steps_on_smollm2_change_the_parameters(tmp_path: Path) -> None:
    import torch

    recipe = load_recipe("smol").with_overrides(reward=RewardChoice("embed", "soft"), steps=2)
    recipe = dataclasses.replace(
        recipe, algorithm=dataclasses.replace(recipe.algorithm, num_generations=2),
        train=dataclasses.replace(recipe.train, prompts_per_generation=2, max_completion_length=12,
                                  learning_rate=1e-5),
        eval=dataclasses.replace(recipe.eval, enabled=False))
    results = run_training(recipe, tmp_path / "run", say=lambda line: None, max_unscored=0.0)

    run = tmp_path / "run"
    steps = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in steps if "reward_mean" in row] == [1, 2]
    assert all(row["grad_norm"] > 0 for row in steps if "grad_norm" in row)
    before, after = _weights(Path(resolve_checkpoint("smollm2"))), _weights(run / "policy")
    shared = sorted(set(before) & set(after))
    assert len(shared) >= 0.9 * len(before)  # the same architecture came back
    changed = [name for name in shared if not torch.equal(before[name], after[name])]  # type: ignore[arg-type]
    assert len(changed) >= 0.5 * len(shared), f"only {len(changed)} of {len(shared)} tensors changed"
    assert all(bool(torch.isfinite(after[name]).all()) for name in changed)  # type: ignore[arg-type]
    assert results["exploration_judgments"] >= 8  # 2 steps x 4 completions, reward and reference rows
    assert (run / "policy" / "rlvr_bench_policy.json").is_file()  # `eval --policy` asks it as training did


def test_train_and_eval_accepts_the_real_model_recipe(tmp_path: Path) -> None:
    """`train-and-eval --recipe smol --quick`: rule against model reward, both cells trained from SmolLM2 and
    evaluated by the same harness, Table 1 written."""
    from typer.testing import CliRunner

    from rlvr_bench.cli import app

    out = tmp_path / "matrix"
    result = CliRunner().invoke(app, ["train-and-eval", "--recipe", "smol", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = json.loads((out / "results.json").read_text())
    rows = json.dumps(table)
    assert "rule-binary" in rows and "model-binary" in rows
    assert (out / "report.html").is_file()
