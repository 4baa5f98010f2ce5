"""Tiny chat policies for the evaluation tests, built once per session (a few seconds on CPU).

Both reuse the project's tiny-model helpers (:mod:`rlvr_bench.training.tiny_models`) and add a chat
template, so the hf backend renders prompts exactly as any chat model's:

- ``random_policy``: randomly initialised; its greedy outputs are junk;
- ``memorizing_policy``: the same network trained for a few seconds to answer every *other* starter
  item with "Therefore, the answer is <reference>.", so judged accuracy is neither 0 nor 1 and
  two policies differ in a known direction.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|eos|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def _build(folder: Path, train_every_other: bool) -> Path:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build_policy(folder, train_every_other)
    finally:
        torch.set_num_threads(threads)


def _build_policy(folder: Path, train_every_other: bool) -> Path:
    import torch

    from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT, build_messages
    from rlvr_bench.tasks import load_task
    from rlvr_bench.training.tiny_models import TinyPolicySpec, build_tiny_policy, save_policy, train_tokenizer

    items = load_task("starter").items
    texts = [DEFAULT_SYSTEM_PROMPT, *(i.question for i in items),
             *(f"Therefore, the answer is {i.reference}." for i in items)]
    tokenizer = train_tokenizer(texts, vocab_size=384)
    tokenizer.chat_template = CHAT_TEMPLATE
    spec = TinyPolicySpec(vocab_size=384, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, max_position_embeddings=1024)
    model = build_tiny_policy(spec, tokenizer, seed=0)
    if train_every_other:
        _memorize(model, tokenizer, [(build_messages(i.question), f"Therefore, the answer is {i.reference}.")
                                     for i in items[::2]])
    model.eval()
    torch.manual_seed(0)
    return save_policy(model, tokenizer, folder)


def _memorize(model: Any, tokenizer: Any, pairs: list[tuple[list[dict[str, str]], str]], steps: int = 60) -> None:
    """Full-batch training of the completion tokens (+ end of turn) of ``pairs``."""
    import torch

    rows, labels = [], []
    for messages, answer in pairs:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(p_ids + a_ids)
        labels.append([-100] * len(p_ids) + a_ids)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    target = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels])
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=mask, labels=target).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread: on a small shared CPU, tiny models run several times faster than with two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def random_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("policies") / "random-policy", train_every_other=False)


@pytest.fixture(scope="session")
def memorizing_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("policies") / "memorizing-policy", train_every_other=True)
