"""Tiny policies built on this machine: a BPE tokenizer trained with ``tokenizers`` and a causal LM from a config.

No hub access is needed: the tokenizer is trained on the task's own text, and
the model is a randomly initialised llama-architecture network (llama, not
qwen2: for a qwen2 config ``AutoTokenizer`` swaps in Qwen's own pre-tokenizer).
Digits are split one per token so arithmetic is learnable at this size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SPECIAL_TOKENS = {"bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>"}


@dataclass(frozen=True)
class TinyPolicySpec:
    """Size of a tiny llama policy and its tokenizer (defaults: ~1.2M parameters)."""

    vocab_size: int = 384
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 3
    num_attention_heads: int = 6
    #: longest prompt + completion in tokens
    max_position_embeddings: int = 256

    def __post_init__(self) -> None:
        if self.vocab_size < 260:
            raise ValueError(f"vocab_size must be at least 260 (256 bytes + special tokens), got {self.vocab_size}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                             f"({self.num_attention_heads})")
        for name in ("hidden_size", "intermediate_size", "num_hidden_layers", "max_position_embeddings"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def bpe_tokenizer(texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str], **wrapper: Any) -> Any:
    """A byte-level BPE tokenizer (digits split one per token) trained on ``texts``, wrapped for transformers.

    ``special_tokens`` get the first ids; ``wrapper`` goes to ``PreTrainedTokenizerFast`` (eos/pad
    tokens, chat template, padding side). Shared by the tiny policies and the tiny judge.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **wrapper)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """A tiny policy's tokenizer: :func:`bpe_tokenizer` with BOS, EOS and PAD tokens."""
    return bpe_tokenizer(texts, vocab_size, list(SPECIAL_TOKENS.values()), **SPECIAL_TOKENS)


def build_tiny_policy(spec: TinyPolicySpec, tokenizer: Any, seed: int = 0) -> Any:
    """A randomly initialised LlamaForCausalLM sized by ``spec``, with generation set to stop at EOS."""
    import torch  # imported here: recipes import this module, and the CLI must start without torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model


def save_policy(model: Any, tokenizer: Any, folder: Path, spec: TinyPolicySpec | None = None) -> Path:
    """Save weights, config and tokenizer so that ``load_policy`` (or any transformers loader) reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if spec is not None:
        import json

        (folder / "tiny_policy_spec.json").write_text(json.dumps(asdict(spec), indent=2), encoding="utf-8")
    return folder


def load_policy(folder: Path | str, dtype: str = "float32") -> tuple[Any, Any]:
    """(model, tokenizer) from a folder written by :func:`save_policy`, a checkpoint folder or a hub id."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    import torch

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, dtype))
    return model, tokenizer


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
