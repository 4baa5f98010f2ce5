"""Training the distilled verifier: a generative student by SFT (trl), or a MiniLM classifier head.

Generative student (``--student tiny``, ``smollm2``, a local checkpoint folder, a ``.gguf``
file or a hub id): every example is the verifier prompt rendered exactly as the ``hf``
judge renders it at inference (same template, the model's chat template, same
tokenisation: see :func:`verifier_prompt_ids`), followed by the teacher's verdict
word (YES or NO) as the token sequence the hf judge scores for it
(:func:`verdict_targets`): SmolLM2 writes "YES" as "Y" + "ES", so a YES example
ends in two target tokens and a NO example in one. The loss is on those tokens
only: the dataset is handed to trl's ``SFTTrainer`` pre-tokenised with a
``completion_mask`` (0 on the prompt, 1 on the verdict tokens) and
``completion_only_loss=True``, trl's prompt-completion masking without letting trl
re-tokenise the prompt differently from inference or append an EOS token. The
summed loss of an example is then -log P(its verdict sequence), the quantity the
hf judge's soft score P(YES) / (P(YES) + P(NO)) is built from.

``tiny`` builds a small llama-architecture model and a BPE tokenizer trained on the
rendered prompts, with the project's own builders (:func:`rlvr_bench.training.tiny_models.train_tokenizer`,
:func:`~rlvr_bench.training.tiny_models.build_tiny_policy`) plus the tiny judge's chat
template (:data:`rlvr_bench.judges.tiny_judge.CHAT_TEMPLATE`), whose turn markers become
special tokens.

Classifier student (``--student minilm-classifier``): :mod:`rlvr_bench.judges.minilm_classifier`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.prompting import PromptTemplate, RenderedPrompt
from rlvr_bench.judges.verdict_parsing import VerdictWords
from rlvr_bench.training.distill_data import Example
from rlvr_bench.training.distill_lora import BUILT_BASE_DIR, last_trainer_checkpoint, lora_config, save_student
from rlvr_bench.training.tiny_models import TinyPolicySpec

Say = Callable[[str], None]
TINY_STUDENT = "tiny"
CLASSIFIER_STUDENT = "minilm-classifier"
#: SmolLM2-135M-Instruct, the project's named real checkpoint (:data:`rlvr_bench.checkpoints.NAMED_CHECKPOINTS`)
SMOLLM2_STUDENT = "smollm2"
#: the turn markers of the tiny judge's chat template, made special tokens of a tiny student's tokenizer
CHAT_MARKERS = ("<|end|>", "<|system|>", "<|user|>", "<|assistant|>")


@dataclass(frozen=True)
class DistillSettings:
    """How the student is trained. :func:`default_settings` gives sensible values per student kind."""

    #: optimiser steps; None = ``epochs`` passes over the (balanced) training set
    steps: int | None = None
    epochs: float = 1.0
    #: examples per device per step (before gradient accumulation)
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    learning_rate: float = 3e-3
    #: transformers scheduler name: "cosine", "linear", "constant", ...
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    #: longest example in tokens (prompt + verdict); longer ones are dropped and counted
    max_length: int = 4096
    #: "none" or "oversample" (repeat minority-verdict examples until YES and NO are equally many)
    balance: str = "none"
    #: train on at most this many examples (a seeded sample of the training split, before balancing; the
    #: held-out questions are untouched); None = all
    max_train_examples: int | None = None
    #: torch CPU threads (None: torch's default)
    threads: int | None = None
    #: "auto" (cuda when present), "cpu", "cuda"
    device: str = "auto"
    #: bfloat16 mixed precision (GPU only)
    bf16: bool = False
    gradient_checkpointing: bool = False
    #: run the instruction prefix every example shares once per batch (see :func:`shared_prefix_trainer`)
    shared_prefix: bool = False
    #: trl's ``report_to`` (wandb, trackio, tensorboard); () = none
    report_to: tuple[str, ...] = ()
    #: weights dtype of a checkpoint student: "auto" (bfloat16 on GPU, float32 on CPU), "float32", "bfloat16"
    dtype: str = "auto"
    #: size of a ``tiny`` student (max_position_embeddings is raised to fit the longest prompt)
    tiny: TinyPolicySpec = field(default_factory=lambda: TinyPolicySpec(
        vocab_size=640, hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=256))
    #: head of a ``minilm-classifier`` student: "mlp" or "logistic"
    head: str = "mlp"
    head_hidden_size: int = 256
    head_regularization: float = 1e-3
    #: LoRA rank of a checkpoint student (None: a full fine-tune). LoRA adapters on every linear layer of the
    #: top ``lora_layers`` transformer blocks (None: all of them); the blocks below stay frozen, so the backward pass
    #: stops above them, and the adapter is what a shipped student carries (a few MB, not the whole model)
    lora_rank: int | None = None
    lora_layers: int | None = None
    #: save a resumable trainer checkpoint every this many steps (None: never); a killed run given the same
    #: ``--out`` resumes from the last one
    save_steps: int | None = None
    #: batch examples of similar length (transformers' LengthGroupedSampler): on published verifier data half of a
    #: random batch of 8 is padding (EVOUNA: median 83 tokens after the shared prefix, 99th percentile 383)
    group_by_length: bool = False

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be positive, got {self.steps}")
        if self.epochs <= 0 or self.batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("epochs, batch_size and gradient_accumulation_steps must be positive")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ValueError(f"max_train_examples must be positive, got {self.max_train_examples}")
        if self.balance not in ("none", "oversample"):
            raise ValueError(f"balance must be 'none' or 'oversample', got {self.balance!r}")
        if self.head not in ("mlp", "logistic"):
            raise ValueError(f"head must be 'mlp' or 'logistic', got {self.head!r}")
        for name in ("lora_rank", "lora_layers", "save_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive, got {value}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: ``--student smollm2`` (measured on 2 CPU cores, docs/training.md): a full fine-tune in float32 (``bf16`` applies
#: on a GPU only), batch 8, lr 5e-5, 240 steps (~2 passes over 640 oversampled-to-872 rows: 40 steps, under
#: half a pass, left kappa at 0.14; 240 reached 0.95), 2 threads (use 1 when other jobs share the cores: a
#: second thread then made steps 3x slower), the verifier instructions every prompt shares run once per batch
#: (shared_prefix: ~4x fewer tokens per step than whole rows), no gradient checkpointing (it would disable
#: that, and 135M parameters fit in memory)
SMOLLM2_SETTINGS = DistillSettings(steps=240, batch_size=8, learning_rate=5e-5, warmup_ratio=0.05, balance="oversample",
                                   threads=2, max_length=1024, shared_prefix=True, bf16=True,
                                   group_by_length=True)


def default_settings(student: str, **overrides: Any) -> DistillSettings:
    """Defaults per student kind, then ``overrides`` (None values ignored).

    - ``tiny``: 5 epochs, batch 32, lr 1e-3 (cosine), balanced verdicts, 1 CPU thread (the model
      is too small for a second thread to pay off on a shared machine);
    - ``minilm-classifier``: MLP head (256 ReLU units), balanced verdicts;
    - ``smollm2`` (SmolLM2-135M-Instruct, a full fine-tune sized for a 2-core CPU): see
      :data:`SMOLLM2_SETTINGS`; ``--epochs`` without ``--steps`` replaces its fixed step count;
    - a checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct): the study's recipe scaled to one node:
      per-device batch 4 x 32 accumulation steps (128 per step on 1 GPU; lower the accumulation on
      more GPUs), lr 1e-5 (cosine, 3 % warm-up), 1 epoch, bf16, gradient checkpointing, prompts
      up to 4,096 tokens.
    """
    if student == TINY_STUDENT:
        base = DistillSettings(epochs=5.0, batch_size=32, learning_rate=1e-3, balance="oversample", threads=1,
                               max_length=1024, shared_prefix=True)
    elif student == CLASSIFIER_STUDENT:
        base = DistillSettings(balance="oversample")
    elif student == SMOLLM2_STUDENT:
        base = SMOLLM2_SETTINGS
        if overrides.get("epochs") is not None and overrides.get("steps") is None:
            base = replace(base, steps=None)
    else:
        base = DistillSettings(epochs=1.0, batch_size=4, gradient_accumulation_steps=32, learning_rate=1e-5,
                               warmup_ratio=0.03, bf16=True, gradient_checkpointing=True,
                               max_length=4096, group_by_length=True)
    return replace(base, **{key: value for key, value in overrides.items() if value is not None})


# ---------------------------------------------------------------- prompts as tokens


def verifier_prompt_ids(tokenizer: Any, prompt: RenderedPrompt) -> list[int]:
    """Token ids of a rendered verifier prompt, exactly as the ``hf`` judge encodes it at inference
    (both call :meth:`RenderedPrompt.token_ids`; a test checks they agree token for token)."""
    return prompt.token_ids(tokenizer, "the student's tokenizer")


@dataclass(frozen=True)
class VerdictTargets:
    """The token sequences a student learns to write for YES and for NO.

    Each is one of the sequences the ``hf`` judge scores at inference
    (:func:`~rlvr_bench.judges.verdict_sequences.build_verdict_sequences`), appended token by
    token right after the prompt's ids, exactly where the judge appends its verdict prefix tree.
    A word may be several tokens (SmolLM2: "YES" = "Y" + "ES", "NO" = "NO").
    """

    yes: tuple[int, ...]
    no: tuple[int, ...]

    def of(self, teacher_yes: bool) -> tuple[int, ...]:
        return self.yes if teacher_yes else self.no


def verdict_targets(tokenizer: Any, words: VerdictWords) -> VerdictTargets:
    """The canonical spelling of each side's first word (the prompt asks for "YES" / "NO", no leading
    space: the chat template's assistant turn starts on a new line) as a sequence the hf judge scores.

    Prefers the sequence that decodes to exactly the word, then one equal to it up to surrounding
    whitespace; a tokenizer whose scored sequences hold neither is a ConfigError.
    """
    from rlvr_bench.judges.verdict_sequences import build_verdict_sequences

    scored = build_verdict_sequences(tokenizer, words).sequences
    chosen: list[tuple[int, ...]] = []
    for side, word in ((True, words.positive[0]), (False, words.negative[0])):
        spelled = {seq: str(tokenizer.decode(list(seq))) for seq, seq_side in scored if seq_side is side}
        exact = [seq for seq, text in spelled.items() if text == word]
        stripped = [seq for seq, text in spelled.items() if text.strip() == word]
        candidates = sorted(exact or stripped, key=lambda seq: (len(seq), seq))
        if not candidates:
            raise ConfigError(f"the student's tokenizer spells the verdict word {word!r} in no sequence the hf "
                              f"judge scores (it scores {', '.join(repr(t) for t in spelled.values()) or 'none'})")
        chosen.append(candidates[0])
    return VerdictTargets(chosen[0], chosen[1])


@dataclass(frozen=True)
class TokenisedSet:
    rows: list[dict[str, list[int]]]
    #: examples dropped because prompt + verdict exceed ``max_length`` tokens
    n_too_long: int
    longest: int
    targets: VerdictTargets


def sft_rows(tokenizer: Any, template: PromptTemplate, examples: Sequence[Example], words: VerdictWords,
             max_length: int) -> TokenisedSet:
    """Pre-tokenised trl rows: ``input_ids`` = prompt + the verdict word's tokens (no EOS),
    ``completion_mask`` 1 on the verdict tokens only."""
    if not examples:
        raise ConfigError("no training examples left to distill from")
    targets = verdict_targets(tokenizer, words)
    rows: list[dict[str, list[int]]] = []
    too_long = longest = 0
    for example in examples:
        ids = verifier_prompt_ids(tokenizer, template.render(example.triple))
        target = targets.of(example.teacher_yes)
        if len(ids) + len(target) > max_length:
            too_long += 1
            continue
        longest = max(longest, len(ids) + len(target))
        rows.append({"input_ids": [*ids, *target], "completion_mask": [0] * len(ids) + [1] * len(target)})
    if not rows:
        raise ConfigError(f"every training example is longer than max_length={max_length} tokens")
    return TokenisedSet(rows, too_long, longest, targets)


# ---------------------------------------------------------------- students


def build_tiny_student(template: PromptTemplate, examples: Sequence[Example], spec: TinyPolicySpec,
                       words: VerdictWords, seed: int) -> tuple[Any, Any, TinyPolicySpec]:
    """(model, tokenizer, final spec): a tokenizer trained on the rendered prompts, a tiny llama sized to fit them."""
    from rlvr_bench.judges.tiny_judge import CHAT_TEMPLATE
    from rlvr_bench.training.tiny_models import build_tiny_policy, train_tokenizer

    corpus: list[str] = []
    for example in examples:
        rendered = template.render(example.triple)
        corpus.append(rendered.raw if rendered.raw is not None else "\n".join(c for _, c in rendered.messages))
        corpus[-1] += rendered.assistant_prefix
    # the verdict words must be single tokens: put them in the corpus often enough to be merged
    corpus.extend([*words.positive, *words.negative] * 50)
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
    tokenizer.add_special_tokens({"additional_special_tokens": list(CHAT_MARKERS)})
    tokenizer.chat_template = CHAT_TEMPLATE
    longest = max(len(verifier_prompt_ids(tokenizer, template.render(e.triple))) for e in examples) + 1
    # room for longer held-out prompts; positions are cheap at this size
    positions = max(spec.max_position_embeddings, 64 * math.ceil(1.5 * longest / 64))
    spec = replace(spec, max_position_embeddings=positions)
    tokenizer.model_max_length = positions
    return build_tiny_policy(spec, tokenizer, seed), tokenizer, spec


#: below this many shared tokens the prefix trick is not worth a second forward call
MIN_SHARED_PREFIX = 16


def shared_prefix_length(rows: Sequence[dict[str, list[int]]]) -> int:
    """Tokens every row starts with, stopping short of each row's last prompt token.

    The last prompt token's hidden state predicts the first verdict token, so it must be computed
    with its row: the prefix ends at least one token before every row's first completion token
    (a verdict word may be several tokens, so the row's length alone does not say where it starts).
    """
    first = rows[0]["input_ids"]
    length = max(0, min(row["completion_mask"].index(1) if 1 in row["completion_mask"] else len(row["input_ids"])
                        for row in rows) - 1)
    for row in rows[1:]:
        ids = row["input_ids"]
        while length and ids[:length] != first[:length]:
            length -= 1
    return length


def shared_prefix_trainer(prefix_length: int) -> Any:
    """An SFTTrainer subclass whose loss runs the instruction prefix common to every example once per batch.

    Every verifier prompt starts with the same system message and instructions (about three
    quarters of a tiny student's tokens). The prefix goes through the model once, its keys and
    values are shared by all rows (``DynamicCache`` expanded over the batch, so gradients flow
    through it once), and only each row's remainder is run: the same loss as running whole
    rows (causal attention), at a fraction of the compute. Only the positions that predict a
    completion token go through the LM head. Rows that do not start with the prefix (never, for
    data made by :func:`sft_rows`) fall back to trl's own loss.
    """
    import torch
    from transformers import DynamicCache
    from trl import SFTTrainer

    class SharedPrefixSFTTrainer(SFTTrainer):
        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            ids, labels, mask = inputs["input_ids"], inputs["labels"], inputs["attention_mask"]
            batch, width = ids.shape
            if return_outputs or width <= prefix_length + 1 or not bool((ids[:, :prefix_length] ==
                                                                          ids[:1, :prefix_length]).all()):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            cached = model(input_ids=ids[:1, :prefix_length], use_cache=True).past_key_values
            if cached is None:  # no cache under gradient checkpointing: compute whole rows
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            cache = DynamicCache([(layer.keys.expand(batch, -1, -1, -1), layer.values.expand(batch, -1, -1, -1))
                                  for layer in cached.layers])
            positions = torch.arange(prefix_length, width, device=ids.device).expand(batch, -1)
            hidden = model.get_decoder()(input_ids=ids[:, prefix_length:], attention_mask=mask, position_ids=positions,
                                         past_key_values=cache).last_hidden_state
            # hidden state t predicts token t + 1
            targets = labels[:, prefix_length + 1:]
            selected = targets != -100
            logits = model.get_output_embeddings()(hidden[:, :-1][selected]).float()
            wanted = targets[selected]
            count = num_items_in_batch if num_items_in_batch is not None else selected.sum()
            loss = torch.nn.functional.cross_entropy(logits, wanted, reduction="sum") / torch.as_tensor(count).clamp(
                min=1)
            mode = "train" if model.training else "eval"
            correct = (logits.argmax(-1) == wanted).float()
            self._metrics[mode]["mean_token_accuracy"].append(correct.mean().item() if len(correct) else 0.0)
            return loss

    return SharedPrefixSFTTrainer


def _progress_callback(say: Say, total_steps: int) -> Any:
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
                   **kwargs: Any) -> None:
            if logs and "loss" in logs and state.is_world_process_zero:
                accuracy = logs.get("mean_token_accuracy")
                extra = f", verdict-token accuracy {accuracy:.3f}" if isinstance(accuracy, float) else ""
                say(f"step {state.global_step}/{total_steps}: loss {logs['loss']:.4f}{extra}")

    return Progress()


def train_generative_student(student: str, train: Sequence[Example], template: PromptTemplate, words: VerdictWords,
                             settings: DistillSettings, checkpoint: Path, work_dir: Path, seed: int,
                             say: Say) -> dict[str, Any]:
    """Fine-tune the student on the teacher's verdicts and save it to ``checkpoint``; returns a summary.

    ``student`` is ``tiny``, a local checkpoint folder or a hub id. The summary holds the step count,
    wall time, first and last loss, examples dropped as too long and (tiny) the model size.
    """
    import torch

    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _train_generative(student, train, template, words, settings, checkpoint, work_dir, seed, say)
    finally:
        torch.set_num_threads(threads)  # the process's setting, for whatever runs next


def _train_generative(student: str, train: Sequence[Example], template: PromptTemplate, words: VerdictWords,
                      settings: DistillSettings, checkpoint: Path, work_dir: Path, seed: int,
                      say: Say) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(seed)
    summary: dict[str, Any] = {}
    model: Any
    if student == TINY_STUDENT:
        model, tokenizer, spec = build_tiny_student(template, train, settings.tiny, words, seed)
        summary["tiny"] = asdict(spec)
        summary["parameters"] = sum(p.numel() for p in model.parameters())
        say(f"tiny student: {summary['parameters']:,} parameters, vocabulary {len(tokenizer)}")
        model_init_kwargs = None
    else:
        from transformers import AutoTokenizer

        from rlvr_bench.checkpoints import resolve_checkpoint

        # a project name (smollm2), a folder, a .gguf file (converted once) or a hub id
        model = resolve_checkpoint(student)  # a path or hub id: trl loads it, so accelerate / DeepSpeed can place it
        try:
            tokenizer = AutoTokenizer.from_pretrained(model)
        except OSError as exc:
            raise ConfigError(f"cannot load the student's tokenizer {student}: {str(exc).splitlines()[0]}") from None
        on_gpu = torch.cuda.is_available() and settings.device != "cpu"
        model_init_kwargs = {"dtype": settings.dtype if settings.dtype != "auto" else
                             ("bfloat16" if on_gpu else "float32")}
    tokens = sft_rows(tokenizer, template, train, words, settings.max_length)
    summary.update(n_rows=len(tokens.rows), n_too_long=tokens.n_too_long, longest_tokens=tokens.longest)
    if tokens.n_too_long:
        say(f"dropped {tokens.n_too_long} training examples longer than {settings.max_length} tokens")
    per_step = settings.batch_size * settings.gradient_accumulation_steps * _world_size()
    steps = settings.steps or max(1, math.ceil(settings.epochs * len(tokens.rows) / per_step))
    use_cpu = settings.device == "cpu" or (settings.device == "auto" and not torch.cuda.is_available())
    config = SFTConfig(
        output_dir=str(work_dir), max_steps=steps, per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps, learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler, warmup_steps=int(settings.warmup_ratio * steps),
        weight_decay=settings.weight_decay, logging_steps=max(1, steps // 20), report_to=list(settings.report_to),
        save_strategy="steps" if settings.save_steps else "no", save_steps=settings.save_steps or 500,
        # LoRA checkpoints are a few MB: keep them all (the learning curve reads them); a full model's, only the last
        save_total_limit=None if settings.lora_rank else 1,
        use_cpu=use_cpu, bf16=settings.bf16 and not use_cpu, gradient_checkpointing=settings.gradient_checkpointing,
        seed=seed, completion_only_loss=True, max_length=settings.max_length, dataloader_num_workers=0,
        disable_tqdm=True, model_init_kwargs=model_init_kwargs,
        train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
    )
    prefix = shared_prefix_length(tokens.rows) if settings.shared_prefix else 0
    trainer_class = SFTTrainer
    if prefix >= MIN_SHARED_PREFIX and not settings.gradient_checkpointing:
        trainer_class = shared_prefix_trainer(prefix)
        say(f"the first {prefix} prompt tokens are shared by every example: computed once per batch")
    summary["shared_prefix_tokens"] = prefix if trainer_class is not SFTTrainer else 0
    peft_config = lora_config(settings, model)
    if peft_config is not None and not isinstance(model, str):
        # a student built here (tiny) has no name to reload its base from: keep it for the learning curve
        model.save_pretrained(str(work_dir / BUILT_BASE_DIR))
        tokenizer.save_pretrained(str(work_dir / BUILT_BASE_DIR))
    trainer = trainer_class(model=model, args=config, train_dataset=Dataset.from_list(tokens.rows),
                            processing_class=tokenizer, callbacks=[_progress_callback(say, steps)],
                            peft_config=peft_config)
    _quiet(trainer)
    if peft_config is not None:
        peft_model: Any = trainer.model
        trainable = sum(int(p.numel()) for p in peft_model.parameters() if p.requires_grad)
        summary["lora"] = {"rank": settings.lora_rank, "layers": list(peft_config.layers_to_transform or []) or "all",
                           "trainable_parameters": trainable}
        say(f"LoRA rank {settings.lora_rank}: {summary['lora']['trainable_parameters']:,} trainable parameters")
    resume = last_trainer_checkpoint(work_dir)
    if resume is not None:
        say(f"resuming from {resume.name} (a killed run's last checkpoint)")
    summary["resumed_from"] = resume.name if resume is not None else None
    say(f"SFT: {steps} steps x {per_step} examples, lr {settings.learning_rate}")
    began = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(resume) if resume is not None else None)
    save_student(trainer, tokenizer, checkpoint, lora=peft_config is not None)
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    summary.update(steps=steps, examples_per_step=per_step, wall_time_s=round(time.perf_counter() - began, 1),
                   first_loss=losses[0] if losses else None, final_loss=losses[-1] if losses else None,
                   log_history=trainer.state.log_history)
    return summary


def _quiet(trainer: Any) -> None:
    """Drop transformers' PrinterCallback (it prints every log dict to stdout); progress goes through ``say``."""
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def _world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def train_classifier_student(train: Sequence[Example], settings: DistillSettings, weights_path: Path, seed: int,
                             say: Say) -> dict[str, Any]:
    """Fit a MiniLM classifier head on the teacher's verdicts and save it to ``weights_path``."""
    import numpy as np

    from rlvr_bench.judges.embed import load_encoder, resolve_model
    from rlvr_bench.judges.minilm_classifier import feature_matrix, fit_head, save_head

    model, problem = resolve_model(None)
    if model is None:
        raise ConfigError(f"the minilm-classifier student {problem}")
    began = time.perf_counter()
    # the same example may appear several times after oversampling: embed each once
    unique = list({id(e): e for e in train}.values())
    row_of = {id(e): i for i, e in enumerate(unique)}
    say(f"embedding {len(unique)} training examples with MiniLM")
    features = feature_matrix([e.triple for e in unique], load_encoder(model, "cpu"))
    x = features[[row_of[id(e)] for e in train]]
    y = np.array([e.teacher_yes for e in train], dtype=bool)
    embed_s = time.perf_counter() - began
    say(f"fitting the {settings.head} head on {len(y)} rows x {x.shape[1]} features")
    head, curve = fit_head(x, y, settings.head, seed, settings.head_hidden_size, settings.head_regularization)
    save_head(head, weights_path)
    train_accuracy = float(((head.p_yes(x) >= 0.5) == y).mean())
    return {"head": head.info, "n_rows": len(y), "embedding_wall_time_s": round(embed_s, 1),
            "wall_time_s": round(time.perf_counter() - began, 1), "train_accuracy": round(train_accuracy, 4),
            "log_history": [{"epoch": i + 1, "loss": loss} for i, loss in enumerate(curve)]}


def write_train_log(path: Path, history: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in history:
            handle.write(json.dumps(row, default=str) + "\n")
