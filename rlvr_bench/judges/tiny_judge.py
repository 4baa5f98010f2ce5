"""The ``tiny`` judge: a small generative YES/NO verifier the project builds on CPU.

No model can be downloaded on a machine without a hub, yet every code path of
the model judges (chat template, one-pass first-token scoring, logprobs over
HTTP, caching) must run for real. This module builds such a model from nothing,
deterministically (fixed seeds, deterministic torch kernels, one thread), with
about 25 s of CPU time:

1. synthetic verifier examples: arithmetic questions with a reference answer and
   a response whose final step states a number equal or unequal to it, hedges,
   or gives no answer, rendered through the real verifier prompt
   (``judges/prompts/verifier.txt``);
2. a byte-level BPE tokenizer trained on those prompts (digits split one by one),
   with a small chat template (``<|system|>``, ``<|user|>``, ``<|assistant|>``);
3. a 2-layer llama-architecture causal LM from a config, trained to put its first
   assistant token on YES or NO (plus a next-token loss on the varying text).

Its quality is not the point: it learns the hedging and no-answer cues but
barely compares numbers (about 70% held-out accuracy), so its P(YES) varies
from item to item; the point is a real checkpoint directory that
``AutoModelForCausalLM`` / ``AutoTokenizer`` load like any hub model. It lands in
``models_home()/tiny-judge``; a file lock makes concurrent processes build it once.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.prompting import PromptTemplate, load_template
from rlvr_bench.paths import build_once, models_home

#: model reference understood by the hf backend and serve-judge
TINY_JUDGE_REF = "rlvr-bench:tiny-judge"
#: bump when the recipe changes so stale builds are rebuilt
RECIPE_VERSION = "1"
BUILD_INFO = "build_info.json"
SEED = 20250330
#: synthetic examples kept out of training to measure the held-out accuracy
HELD_OUT = 400

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>"]


@dataclass(frozen=True)
class TinyJudgeRecipe:
    """Sizes and training budget; the defaults build in well under a minute on 2 CPU cores."""

    vocab_size: int = 640
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    train_examples: int = 3000
    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 5e-3
    lm_loss_weight: float = 0.5
    seed: int = SEED


# ------------------------------------------------------------ synthetic data

_QUESTIONS: tuple[tuple[str, Callable[[int, int], int]], ...] = (
    ("What is {a} + {b}?", lambda a, b: a + b),
    ("Compute {a} plus {b}.", lambda a, b: a + b),
    ("What is {a} - {b}?", lambda a, b: a - b),
    ("A shelf holds {a} books and {b} more are added. How many books are on the shelf?", lambda a, b: a + b),
    ("What is {a} times {b}?", lambda a, b: a * b),
)
_FINAL_STEPS = (
    "Therefore, the answer is {x}.",
    "The answer is {x}",
    "{x}",
    "So the result is {x}.",
    "Answer: {x}",
)
_HEDGED = (
    "Maybe it is {x}, I am not sure.",
    "It could be {x} or {y}.",
    "Perhaps {x}?",
    "I think it is {x} or maybe {y}.",
)
_NO_ANSWER = ("I am not sure.", "Let me think about it.", "It cannot be determined.", "Therefore, the answer is")


def synthetic_example(rng: random.Random) -> tuple[Triple, bool]:
    """One (triple, is_correct) pair: about 46% correct, the rest wrong, hedged or unanswered.

    A clean final step states a number equal or unequal to the reference. A
    hedged one ("Maybe it is 12, I am not sure.") or one without an answer is
    wrong whatever it states, as the verifier prompt says. A 2-layer model
    trained for seconds learns the hedging and no-answer cues but compares
    multi-digit numbers only weakly, so its P(YES) spreads over [0, 1]; that is
    all the tiny judge is for.
    """
    question_template, solve = rng.choice(_QUESTIONS)
    a = rng.randint(2, 99)
    b = rng.randint(2, 99 if "times" not in question_template else 12)
    reference = solve(a, b)
    question = question_template.format(a=a, b=b)
    near_miss = reference + rng.choice([-10, -3, -2, -1, 1, 2, 3, 7, 10])
    roll = rng.random()
    if roll < 0.46:
        final, correct = rng.choice(_FINAL_STEPS).format(x=reference), True
    elif roll < 0.76:
        final, correct = rng.choice(_FINAL_STEPS).format(x=near_miss), False
    elif roll < 0.88:
        final, correct = rng.choice(_HEDGED).format(x=reference, y=near_miss), False
    else:
        final, correct = rng.choice(_NO_ANSWER), False
    response = f"Let me work it out step by step.\n{final}"
    return Triple(question=question, reference=str(reference), response=response, answer_type="number",
                  domain="math"), correct


def chat_prompt(template: PromptTemplate, triple: Triple) -> str:
    """The exact text the tiny model sees (its own chat template, rendered without transformers)."""
    rendered = template.render(triple)
    if rendered.raw is not None:
        return rendered.raw + rendered.assistant_prefix
    text = "".join(f"<|{role}|>\n{content}<|end|>\n" for role, content in rendered.messages)
    return text + "<|assistant|>\n" + rendered.assistant_prefix


# ------------------------------------------------------------ building


def build_tiny_judge(out_dir: Path, recipe: TinyJudgeRecipe | None = None, prompt: str = "verifier",
                     log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the tokenizer and model, train them, and save a checkpoint into ``out_dir``.

    Returns the build info (also written to ``out_dir/build_info.json``):
    recipe, training time in seconds and held-out accuracy in [0, 1].
    """
    import torch

    recipe = recipe or TinyJudgeRecipe()
    began = time.perf_counter()
    rng = random.Random(recipe.seed)
    template = load_template(prompt)
    examples = [synthetic_example(rng) for _ in range(recipe.train_examples + HELD_OUT)]
    texts = [chat_prompt(template, triple) for triple, _ in examples]

    tokenizer = train_tokenizer(texts, recipe.vocab_size)

    # one thread: these matrices are too small to share, and on a busy machine idle-spinning
    # worker threads cost several times the work itself; deterministic kernels: same seed, same model
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        model, accuracy = _train_model(tokenizer, texts, [correct for _, correct in examples], recipe, log)
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = {
        "recipe_version": RECIPE_VERSION,
        "recipe": recipe.__dict__,
        "prompt": template.name,
        "held_out_accuracy": round(accuracy, 4),
        "build_seconds": round(time.perf_counter() - began, 1),
    }
    # written last: its presence marks a complete build
    (out_dir / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def train_tokenizer(texts: list[str], vocab_size: int) -> Any:
    """The project's byte-level BPE tokenizer with the tiny chat template (digits split one by one)."""
    from rlvr_bench.training.tiny_models import bpe_tokenizer

    # the verdict words appear in the corpus so that YES and NO become single tokens
    return bpe_tokenizer([*texts, *(["YES", "NO"] * 50)], vocab_size, SPECIAL_TOKENS, eos_token="<|end|>",
                         pad_token="<pad>", chat_template=CHAT_TEMPLATE, padding_side="left")


def _train_model(tokenizer: Any, texts: list[str], labels: list[bool], recipe: TinyJudgeRecipe,
                 log: Callable[[str], None] | None) -> tuple[Any, float]:
    """Train the tiny LM on the first ``recipe.train_examples`` prompts; (model, held-out accuracy)."""
    import torch
    from transformers import DynamicCache

    from rlvr_bench.training.tiny_models import TinyPolicySpec, build_tiny_policy

    yes_id, no_id = (tokenizer.convert_tokens_to_ids(word) for word in ("YES", "NO"))
    size = TinyPolicySpec(vocab_size=recipe.vocab_size, hidden_size=recipe.hidden_size,
                          intermediate_size=recipe.intermediate_size, num_hidden_layers=recipe.num_layers,
                          num_attention_heads=recipe.num_heads, max_position_embeddings=1024)
    model = build_tiny_policy(size, tokenizer, recipe.seed)
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    targets = torch.tensor([yes_id if correct else no_id for correct in labels])
    # The instructions come first and are the same for every example: run them once per
    # step and share their keys/values across the batch (about 3x less compute than
    # re-running them for every row). Splitting on token ids keeps each full sequence
    # exactly what inference sees.
    shared = _common_prefix_length(encoded) - 1
    prefix = torch.tensor([encoded[0][:shared]])
    suffixes = [row[shared:] for row in encoded]
    n_train = recipe.train_examples

    def train_logits(index: list[int]) -> Any:
        prefix_cache = model(input_ids=prefix, use_cache=True).past_key_values
        batch = len(index)
        cache = DynamicCache([(layer.keys.expand(batch, -1, -1, -1), layer.values.expand(batch, -1, -1, -1))
                              for layer in prefix_cache.layers])
        rows = [suffixes[i] for i in index]
        width = max(len(row) for row in rows)
        input_ids = torch.tensor([row + [tokenizer.pad_token_id] * (width - len(row)) for row in rows])
        mask = torch.tensor([[1] * (shared + len(row)) + [0] * (width - len(row)) for row in rows])
        positions = (shared + torch.arange(width)).expand(batch, -1)
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                       past_key_values=cache).logits
        # next-token loss on the varying part: a dense signal that gets training off the
        # plateau where the verdict loss alone stays at log 2 for hundreds of steps
        next_tokens = input_ids[:, 1:].masked_fill(mask[:, shared + 1 :] == 0, -100)
        lm_loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                    next_tokens.reshape(-1), ignore_index=-100)
        return logits[torch.arange(batch), torch.tensor([len(row) - 1 for row in rows])], lm_loss

    def full_logits(ids: list[list[int]]) -> Any:
        width = max(len(row) for row in ids)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in ids])
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return model(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits[:, -1]

    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.learning_rate,
                                                   total_steps=recipe.steps, pct_start=0.1)
    order = torch.randperm(n_train)
    model.train()
    for step in range(recipe.steps):
        start = (step * recipe.batch_size) % n_train
        index = order[start : start + recipe.batch_size].tolist()
        verdict_logits, lm_loss = train_logits(index)
        verdict_loss = torch.nn.functional.cross_entropy(verdict_logits, targets[index])
        loss = verdict_loss + recipe.lm_loss_weight * lm_loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if log is not None and (step + 1) % 50 == 0:
            log(f"step {step + 1}/{recipe.steps} verdict loss {verdict_loss.item():.3f} lm loss {lm_loss.item():.3f}")
    model.eval()
    with torch.inference_mode():
        held_logits = full_logits(encoded[n_train:])  # the inference path: whole prompts, left padding
        predicted_yes = held_logits[:, yes_id] > held_logits[:, no_id]
        held_targets = targets[n_train:] == yes_id
        accuracy = float((predicted_yes == held_targets).float().mean())
    return model, accuracy


def _common_prefix_length(rows: list[list[int]]) -> int:
    first = rows[0]
    length = min(len(row) for row in rows)
    for row in rows[1:]:
        while length and row[:length] != first[:length]:
            length -= 1
    return length


def _is_built(path: Path) -> bool:
    info_path = path / BUILD_INFO
    if not info_path.is_file():
        return False
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False
    return bool(info.get("recipe_version") == RECIPE_VERSION)


def ensure_built(target: Path, build: Callable[[Path], object], timeout_s: float = 600.0) -> Path:
    """Build ``target`` with ``build(tmp_dir)`` unless it is already built; safe across processes
    (:func:`rlvr_bench.paths.build_once`)."""
    return build_once(target, _is_built, build, timeout_s, ".building")


def tiny_judge_dir() -> Path:
    return models_home() / "tiny-judge"


def ensure_tiny_judge(log: Callable[[str], None] | None = None) -> Path:
    """The tiny judge's checkpoint folder, building it first if missing (about 30 s on CPU)."""
    return ensure_built(tiny_judge_dir(), lambda staging: build_tiny_judge(staging, log=log))


def resolve_model_ref(model: str) -> str:
    """Map the project's own model references to a local path; anything else is returned unchanged."""
    if model == TINY_JUDGE_REF:
        return str(ensure_tiny_judge())
    return model
