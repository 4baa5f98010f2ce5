"""Students: prompts tokenised exactly as the hf judge does, the verdict-only target, the shared-prefix loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.judges.prompting import load_template
from rlvr_bench.judges.verdict_parsing import VerdictWords
from rlvr_bench.records import Item, Response, Verdict
from rlvr_bench.training.distill_data import Example, question_key
from rlvr_bench.training.distill_students import (
    default_settings,
    sft_rows,
    shared_prefix_length,
    shared_prefix_trainer,
    verifier_prompt_ids,
)
from rlvr_bench.training.tiny_models import TinyPolicySpec

SMALL = TinyPolicySpec(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2, max_position_embeddings=64)


def _examples() -> list[Example]:
    rows = [("What is 12 + 30?", "42", "So the answer is 42.", True),
            ("What is 12 + 30?", "42", "So the answer is 24.", False),
            ("Convert 3 km to m.", "3000 m", "Therefore, the answer is 3 kilometers.", True),
            ("Convert 3 km to m.", "3000 m", "Therefore, the answer is 300 m.", False),
            ("A patient weighs 40 kg; dose 5 mg/kg?", "200 mg", "Therefore, the answer is 0.2 g.", True),
            ("A patient weighs 40 kg; dose 5 mg/kg?", "200 mg", "Let me think.", False)]
    out = []
    for index, (question, reference, text, yes) in enumerate(rows):
        item = Item(id=f"i{index // 2}", domain="math", question=question, reference=reference)
        out.append(Example(item, Response(id=f"r{index}", item_id=item.id, text=text), Verdict(passed=yes),
                           question_key(question)))
    return out


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Path]:
    """A tiny student (untrained) saved like a checkpoint: (model, tokenizer, folder)."""
    from rlvr_bench.training.distill_students import build_tiny_student
    from rlvr_bench.training.tiny_models import save_policy

    model, tokenizer, _ = build_tiny_student(load_template("verifier"), _examples(), SMALL, VerdictWords(), seed=0)
    folder = save_policy(model, tokenizer, tmp_path_factory.mktemp("student") / "checkpoint")
    return model, tokenizer, folder


def test_prompt_tokens_are_what_the_hf_judge_sees(tiny_student: tuple[Any, Any, Path]) -> None:
    from rlvr_bench.judges.hf_backend import HFVerifierModel

    _, tokenizer, folder = tiny_student
    judge_model = HFVerifierModel(str(folder), device="cpu", dtype="float32")
    for name in ("verifier", "general-verifier"):  # a chat template and a raw [prompt] template
        template = load_template(name)
        for example in _examples():
            rendered = template.render(example.triple)
            assert verifier_prompt_ids(tokenizer, rendered) == judge_model.encode(rendered)


def test_rows_target_the_verdict_token_only(tiny_student: tuple[Any, Any, Path]) -> None:
    _, tokenizer, _ = tiny_student
    examples = _examples()
    tokens = sft_rows(tokenizer, load_template("verifier"), examples, VerdictWords(), max_length=1024)
    assert tokens.n_too_long == 0 and len(tokens.rows) == 6
    for example, row in zip(examples, tokens.rows, strict=True):
        mask = row["completion_mask"]
        assert len(mask) == len(row["input_ids"]) and sum(mask) == 1 and mask[-1] == 1
        assert tokenizer.decode(row["input_ids"][-1:]) == ("YES" if example.teacher_yes else "NO")
    # a cap below the longest example drops (and counts) the longer ones
    lengths = sorted(len(row["input_ids"]) for row in tokens.rows)
    capped = sft_rows(tokenizer, load_template("verifier"), examples, VerdictWords(), max_length=lengths[2])
    assert capped.n_too_long == sum(length > lengths[2] for length in lengths)
    assert capped.longest <= lengths[2]


@pytest.mark.parametrize(("rows", "expected"), [
    # common prefix [1, 2, 3]; shortest row 5 tokens -> cap 3
    ([[1, 2, 3, 4, 9], [1, 2, 3, 5, 9], [1, 2, 3, 4, 6, 9]], 3),
    # identical prompts: the cap (shortest 4 - 2 = 2) keeps the last prompt token in every row's remainder
    ([[1, 2, 3, 9], [1, 2, 3, 8]], 2),
    # nothing shared
    ([[1, 2, 9], [5, 2, 9]], 0),
])
def test_shared_prefix_length(rows: list[list[int]], expected: int) -> None:
    assert shared_prefix_length([{"input_ids": r, "completion_mask": [0] * (len(r) - 1) + [1]} for r in rows]) \
        == expected


def test_shared_prefix_loss_equals_the_plain_loss(tiny_student: tuple[Any, Any, Path], tmp_path: Path) -> None:
    """Running the shared instructions once per batch must not change the loss (causal attention)."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model, tokenizer, _ = tiny_student
    tokens = sft_rows(tokenizer, load_template("verifier"), _examples(), VerdictWords(), max_length=1024)
    prefix = shared_prefix_length(tokens.rows)
    assert prefix > 100  # the verifier instructions
    config = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=6, use_cpu=True, report_to=[],
                       completion_only_loss=True, max_length=1024, disable_tqdm=True, dataloader_num_workers=0)
    plain = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(tokens.rows),
                       processing_class=tokenizer)
    shared = shared_prefix_trainer(prefix)(model=model, args=config, train_dataset=Dataset.from_list(tokens.rows),
                                           processing_class=tokenizer)
    batch = next(iter(plain.get_train_dataloader()))
    model.eval()
    with torch.no_grad():
        expected = plain.compute_loss(model, dict(batch))
        got = shared.compute_loss(model, dict(batch))
    assert float(got) == pytest.approx(float(expected), rel=1e-4)


def test_default_settings_per_student_kind() -> None:
    assert default_settings("tiny").shared_prefix is True
    assert default_settings("tiny", steps=7, learning_rate=None).steps == 7
    full = default_settings("Qwen/Qwen2.5-7B-Instruct")
    # the study's batch of 128 on one GPU: 4 per device x 32 accumulation steps
    assert full.batch_size * full.gradient_accumulation_steps == 128
    assert (full.bf16, full.gradient_checkpointing, full.max_length) == (True, True, 4096)
    with pytest.raises(ValueError, match="balance must be"):
        default_settings("tiny", balance="undersample")
