"""A saved policy describes itself: `eval --policy <trained checkpoint> --task T` asks it as its run did, and
reproduces the run's own "after" responses text for text and its accuracy exactly; explicit flags still win.

The run starts RL from a checkpoint folder (the path full-scale recipes take) holding a tiny policy trained
for a few seconds to answer every other held-out item of the bundled task `mini-procedural`, so accuracies
are neither 0 nor 1 and the reproduction means something.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.prompting import POLICY_SETTINGS_FILE, read_policy_settings
from rlvr_bench.tasks import load_task

runner = CliRunner()
TASK = "mini-procedural"
N_ITEMS = 24
JUDGE = "contains"
TEMPLATE = "Question: {question}\nAnswer:\n"  # the recipes' default prompt
RECIPE: dict[str, Any] = {
    "name": "reproduce",
    "seed": 0,
    "data": {"source": TASK, "max_eval_items": N_ITEMS},
    "reward": {"judge": "contains", "mode": "binary", "reference_judge": JUDGE},
    "algorithm": {"name": "grpo", "num_generations": 2},
    "train": {"steps": 2, "prompts_per_generation": 2, "learning_rate": 1.0e-3, "max_completion_length": 8,
              "save_steps": 2},
    # batches of 5 over 24 items: the last batch is padded differently, which the checkpoint must carry too
    "eval": {"max_new_tokens": 8, "bootstrap_samples": 200, "batch_size": 5},
    "runtime": {"threads": 1},
}


def memorizing_start(folder: Path) -> Path:
    """A tiny policy that answers every other one of the first held-out items with its reference."""
    import torch

    from rlvr_bench.training.tiny_models import TinyPolicySpec, build_tiny_policy, save_policy, train_tokenizer

    items = load_task(TASK).items_in("test")[:N_ITEMS]
    pairs = [(TEMPLATE.format(question=item.question), item.reference) for item in items[::2]]
    tokenizer = train_tokenizer([TEMPLATE.format(question=item.question) + item.reference for item in items], 300)
    model = build_tiny_policy(TinyPolicySpec(vocab_size=300, hidden_size=64, intermediate_size=128,
                                             num_hidden_layers=2, num_attention_heads=4,
                                             max_position_embeddings=192), tokenizer, seed=0)
    rows = [(tokenizer(p, add_special_tokens=False)["input_ids"],
             tokenizer(a, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]) for p, a in pairs]
    width = max(len(p) + len(a) for p, a in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([p + a + [pad] * (width - len(p) - len(a)) for p, a in rows])
    mask = torch.tensor([[1] * (len(p) + len(a)) + [0] * (width - len(p) - len(a)) for p, a in rows])
    labels = torch.tensor([[-100] * len(p) + a + [-100] * (width - len(p) - len(a)) for p, a in rows])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return save_policy(model, tokenizer, folder)


def _texts(responses_file: Path, prefix: str = "") -> dict[str, str]:
    rows = [json.loads(line) for line in responses_file.read_text().splitlines()]
    return {row["item_id"]: row["text"] for row in rows if row["id"].startswith(prefix)}


@pytest.fixture(scope="module")
def train_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        folder = tmp_path_factory.mktemp("reproduce")
        start = memorizing_start(folder / "start")
        recipe = folder / "reproduce.yaml"
        recipe.write_text(json.dumps({**RECIPE, "policy": {"source": str(start)}}), encoding="utf-8")
        result = runner.invoke(app, ["train", "--recipe", str(recipe), "--out", str(folder / "run")])
    finally:
        torch.set_num_threads(threads)
    assert result.exit_code == 0, result.output + str(result.exception)
    return folder / "run"


def _eval(policy: Path, out: Path, *flags: str) -> dict[str, Any]:
    result = runner.invoke(app, ["eval", "--policy", f"p={policy}", "--task", TASK, "--limit", str(N_ITEMS),
                                 "--judges", JUDGE, "--bootstrap", "200", "--out", str(out), *flags])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    return results


def test_eval_of_a_trained_checkpoint_reproduces_its_after_numbers(train_run: Path, tmp_path: Path) -> None:
    settings = read_policy_settings(train_run / "policy")
    assert settings is not None and settings.prompt.kind == "template"
    assert settings.sampling.max_new_tokens == 8 and settings.batch_size == 5

    results = _eval(train_run / "policy", tmp_path / "eval")  # no generation flags
    run_texts = _texts(train_run / "responses.jsonl", "rl/")
    eval_texts = _texts(tmp_path / "eval" / "responses.jsonl")
    assert len(run_texts) == N_ITEMS and eval_texts == run_texts  # text for text, on the same questions
    trained = json.loads((train_run / "results.json").read_text())["after"]["accuracy"]["all"]["accuracy"]
    evaluated = results["per_policy"]["p"]["by_judge"][JUDGE]["accuracy"]
    assert evaluated["estimate"] == trained["estimate"] and evaluated["n"] == trained["n"] == N_ITEMS
    assert 0.0 < trained["estimate"] < 1.0, trained  # a non-trivial accuracy, reproduced
    assert results["per_policy"]["p"]["generation"] == settings.to_json()


def test_a_checkpoint_without_settings_is_asked_the_chat_default_unless_told(train_run: Path, tmp_path: Path) -> None:
    start = train_run.parent / "start"  # saved outside rlvr-bench's training: no settings file
    assert read_policy_settings(start) is None
    before = _texts(train_run / "responses.jsonl", "start/")
    # the same token budget and batches, but the study's chat prompt: not what the run asked, so not its responses
    _eval(start, tmp_path / "default", "--max-new-tokens", "8", "--batch-size", "5")
    assert _texts(tmp_path / "default" / "responses.jsonl") != before
    # told the run's settings explicitly, eval gives the run's "before" responses
    _eval(start, tmp_path / "told", "--prompt-template", TEMPLATE.replace("\n", "\\n"), "--max-new-tokens", "8",
          "--batch-size", "5")
    assert _texts(tmp_path / "told" / "responses.jsonl") == before


def test_explicit_flags_override_the_checkpoints_settings(train_run: Path, tmp_path: Path) -> None:
    results = _eval(train_run / "policy", tmp_path / "eval", "--max-new-tokens", "3", "--system-prompt", "Be brief.")
    generation = results["per_policy"]["p"]["generation"]
    assert generation["sampling"]["max_new_tokens"] == 3 and generation["batch_size"] == 5  # the rest is kept
    assert generation["prompt"] == {"kind": "chat", "system_prompt": "Be brief."}
    rows = [json.loads(line) for line in (tmp_path / "eval" / "responses.jsonl").read_text().splitlines()]
    assert len(rows) == N_ITEMS and all(row["metadata"]["completion_tokens"] <= 3 for row in rows)


def test_the_saved_policy_and_its_checkpoints_carry_the_recipes_prompt(train_run: Path) -> None:
    data = json.loads((train_run / "policy" / POLICY_SETTINGS_FILE).read_text())
    assert data["schema"] == "rlvr-bench/policy-settings/v1"
    assert data["prompt"] == {"kind": "template", "template": TEMPLATE}
    assert data["sampling"]["temperature"] == 0.0 and data["n_samples"] == 1
    checkpoint = train_run / "checkpoints" / "checkpoint-2"  # trl's intermediate checkpoint (save_steps: 2)
    assert json.loads((checkpoint / POLICY_SETTINGS_FILE).read_text()) == data
