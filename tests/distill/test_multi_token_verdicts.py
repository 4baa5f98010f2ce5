"""A student whose tokenizer writes "YES" as two tokens: SmolLM2's ("Y" + "ES"; "NO" is one token).

The student must learn the verdict word's whole token sequence, exactly the sequence the hf judge
scores after the same prompt ids, with the loss on those tokens only and no EOS after them. These
tests use the real SmolLM2 tokenizer (installed and converted by `make install`: a missing model is
an error here, never a skip) and a randomly initialised micro llama over its vocabulary, so no
135M-parameter forward pass is needed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.judges.prompting import load_template
from rlvr_bench.judges.verdict_parsing import VerdictWords
from rlvr_bench.judges.verdict_sequences import build_verdict_sequences
from rlvr_bench.records import Item, Response, Verdict
from rlvr_bench.training.distill_data import Example, question_key
from rlvr_bench.training.distill_students import (
    default_settings,
    sft_rows,
    shared_prefix_length,
    shared_prefix_trainer,
    verdict_targets,
)
from rlvr_bench.training.tiny_models import TinyPolicySpec

MICRO = TinyPolicySpec(vocab_size=300, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, max_position_embeddings=512)


def _examples() -> list[Example]:
    rows = [("What is 12 + 30?", "42", "So the answer is 42.", True),
            ("What is 12 + 30?", "42", "So the answer is 24.", False),
            ("Convert 3 km to m.", "3000 m", "Therefore, the answer is 3 kilometers.", True),
            ("Convert 3 km to m.", "3000 m", "Therefore, the answer is 300 m.", False)]
    out = []
    for index, (question, reference, text, yes) in enumerate(rows):
        item = Item(id=f"i{index // 2}", domain="math", question=question, reference=reference)
        out.append(Example(item, Response(id=f"r{index}", item_id=item.id, text=text), Verdict(passed=yes),
                           question_key(question)))
    return out


@pytest.fixture(scope="module")
def smollm2_tokenizer() -> Any:
    from transformers import AutoTokenizer

    from rlvr_bench.checkpoints import resolve_checkpoint

    return AutoTokenizer.from_pretrained(resolve_checkpoint("smollm2"))


@pytest.fixture(scope="module")
def micro_student(smollm2_tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """(model, folder): a 1-layer llama over SmolLM2's vocabulary, saved with SmolLM2's tokenizer."""
    from rlvr_bench.training.tiny_models import build_tiny_policy, save_policy

    model = build_tiny_policy(MICRO, smollm2_tokenizer, seed=0)
    return model, save_policy(model, smollm2_tokenizer, tmp_path_factory.mktemp("micro") / "checkpoint")


def test_smollm2_writes_yes_as_two_tokens(smollm2_tokenizer: Any) -> None:
    """The premise of this file: if it stops holding, the tests below test nothing multi-token."""
    assert len(smollm2_tokenizer.encode("YES", add_special_tokens=False)) == 2
    assert len(smollm2_tokenizer.encode("NO", add_special_tokens=False)) == 1


def test_targets_are_sequences_the_hf_judge_scores(smollm2_tokenizer: Any) -> None:
    words = VerdictWords()
    targets = verdict_targets(smollm2_tokenizer, words)
    scored = dict(build_verdict_sequences(smollm2_tokenizer, words).sequences)
    assert scored[targets.yes] is True and scored[targets.no] is False
    # the spelling the prompt asks for ("Output only YES or NO"), no leading space
    assert smollm2_tokenizer.decode(list(targets.yes)) == "YES" and len(targets.yes) == 2
    assert smollm2_tokenizer.decode(list(targets.no)) == "NO" and len(targets.no) == 1


def test_rows_hold_the_whole_verdict_word_and_mask_only_it(smollm2_tokenizer: Any) -> None:
    from rlvr_bench.training.distill_students import verifier_prompt_ids

    template, examples = load_template("verifier"), _examples()
    tokens = sft_rows(smollm2_tokenizer, template, examples, VerdictWords(), max_length=1024)
    assert len(tokens.rows) == len(examples)
    eos = smollm2_tokenizer.eos_token_id
    for example, row in zip(examples, tokens.rows, strict=True):
        prompt = verifier_prompt_ids(smollm2_tokenizer, template.render(example.triple))
        ids, mask = row["input_ids"], row["completion_mask"]
        assert ids[:len(prompt)] == prompt and mask[:len(prompt)] == [0] * len(prompt)
        verdict = ids[len(prompt):]
        assert mask[len(prompt):] == [1] * len(verdict) and eos not in verdict
        assert smollm2_tokenizer.decode(verdict) == ("YES" if example.teacher_yes else "NO")
        assert len(verdict) == (2 if example.teacher_yes else 1)
    assert tokens.longest == max(len(row["input_ids"]) for row in tokens.rows)


def test_shared_prefix_stops_before_the_first_verdict_token() -> None:
    """Identical prompts ending in a two-token verdict: the last prompt token (3) must stay with its row."""
    rows = [{"input_ids": [1, 2, 3, 7, 8], "completion_mask": [0, 0, 0, 1, 1]},
            {"input_ids": [1, 2, 3, 7, 8], "completion_mask": [0, 0, 0, 1, 1]}]
    assert shared_prefix_length(rows) == 2


def _sft_config(output_dir: Path, batch_size: int) -> Any:
    from trl import SFTConfig

    return SFTConfig(output_dir=str(output_dir), per_device_train_batch_size=batch_size, use_cpu=True, bf16=False,
                     report_to=[], completion_only_loss=True, max_length=1024, disable_tqdm=True,
                     dataloader_num_workers=0, gradient_checkpointing=False)


def test_sft_loss_is_minus_log_the_judges_probability(smollm2_tokenizer: Any, micro_student: tuple[Any, Path],
                                                      tmp_path: Path) -> None:
    """trl's masked loss on a row = -log P(verdict sequence) / its length, where P is what the hf judge
    computes for that sequence (its prefix tree after the prompt): training and judging read the same tokens."""
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    from rlvr_bench.judges.hf_backend import HFVerifierModel

    model, folder = micro_student
    template, examples, words = load_template("verifier"), _examples(), VerdictWords()
    tokens = sft_rows(smollm2_tokenizer, template, examples, words, max_length=1024)
    trainer = SFTTrainer(model=model, args=_sft_config(tmp_path, 1), train_dataset=Dataset.from_list(tokens.rows),
                         processing_class=smollm2_tokenizer)
    judge_model = HFVerifierModel(str(folder), device="cpu", dtype="float32")
    sequences = judge_model.verdict_sequences(words)
    node_index = {node: j for j, node in enumerate(sequences.nodes)}
    model.eval()
    processed: Any = trainer.train_dataset  # trl's processing folds the completion masks into labels
    assert len(processed) == len(examples)
    for index, example in enumerate(examples):
        batch = trainer.data_collator([processed[index]])
        assert int((batch["labels"] != -100).sum()) == len(tokens.targets.of(example.teacher_yes))
        with torch.no_grad():
            loss = float(trainer.compute_loss(model, dict(batch)))
        prompt = judge_model.encode(template.render(example.triple))
        logprobs = judge_model.next_token_logprobs([prompt], sequences.nodes)[0]
        target = tokens.targets.of(example.teacher_yes)
        judged = float(logprobs[0][target[0]]) + sum(float(logprobs[1 + node_index[target[:depth]]][target[depth]])
                                                     for depth in range(1, len(target)))
        assert loss * len(target) == pytest.approx(-judged, rel=1e-4)
        assert math.isfinite(judged)


def test_shared_prefix_loss_equals_the_plain_loss_on_two_token_verdicts(
        smollm2_tokenizer: Any, micro_student: tuple[Any, Path], tmp_path: Path) -> None:
    import torch
    from datasets import Dataset
    from trl import SFTTrainer

    model, _ = micro_student
    tokens = sft_rows(smollm2_tokenizer, load_template("verifier"), _examples(), VerdictWords(), max_length=1024)
    prefix = shared_prefix_length(tokens.rows)
    assert prefix > 100  # the verifier instructions
    config = _sft_config(tmp_path, len(tokens.rows))
    plain = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(tokens.rows),
                       processing_class=smollm2_tokenizer)
    shared = shared_prefix_trainer(prefix)(model=model, args=config, train_dataset=Dataset.from_list(tokens.rows),
                                           processing_class=smollm2_tokenizer)
    batch = next(iter(plain.get_train_dataloader()))
    model.eval()
    with torch.no_grad():
        expected = plain.compute_loss(model, dict(batch))
        got = shared.compute_loss(model, dict(batch))
    assert float(got) == pytest.approx(float(expected), rel=1e-4)


def test_smollm2_defaults_fit_a_cpu() -> None:
    settings = default_settings("smollm2")
    # the measured run (docs/training.md): 240 steps at lr 5e-5 on both cores reached kappa 0.95
    assert settings.steps == 240 and settings.batch_size == 8 and settings.shared_prefix
    assert settings.learning_rate == 5e-5
    assert not settings.gradient_checkpointing and settings.threads == 2
    # --epochs alone replaces the fixed step count; --steps wins over both
    assert default_settings("smollm2", epochs=2.0).steps is None
    assert default_settings("smollm2", epochs=2.0, steps=5).steps == 5
