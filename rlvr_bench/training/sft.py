"""Supervised warm start (trl SFTTrainer) of a tiny policy on procedural demonstrations.

The demonstrations come from the noisy demonstrator of
:mod:`rlvr_bench.training.procedural`, so the warm-started policy answers in
varied surface forms and repeats the demonstrator's classic mistakes: a base
policy of modest accuracy for RL to improve.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.training.procedural import Problem, demonstration


@dataclass(frozen=True)
class SftSettings:
    """How long and how hard to warm-start (see ``sft:`` in a recipe)."""

    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 2e-3
    #: transformers scheduler name: "cosine", "linear", "constant", ...
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.05
    #: multiplies the demonstrator's mistake rates (0 = clean demonstrations)
    flaw_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be positive, got {self.steps} and {self.batch_size}")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be in (0, 1), got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.flaw_scale < 0.0:
            raise ValueError(f"flaw_scale must be >= 0, got {self.flaw_scale}")


def sft_examples(problems: Sequence[Problem], count: int, prompt_template: str, seed: int,
                 flaw_scale: float = 1.0) -> list[dict[str, str]]:
    """``count`` prompt-completion pairs cycling over ``problems`` in random order and surface forms."""
    rng = random.Random(seed)
    order = list(problems)
    examples: list[dict[str, str]] = []
    while len(examples) < count:
        rng.shuffle(order)
        for problem in order[: count - len(examples)]:
            completion, _ = demonstration(problem, rng, flaw_scale)
            examples.append({"prompt": prompt_template.format(question=problem.question), "completion": completion})
    return examples


def run_sft(model: Any, tokenizer: Any, examples: list[dict[str, str]], settings: SftSettings, work_dir: Path,
            seed: int = 0) -> dict[str, Any]:
    """Fine-tune ``model`` in place on ``examples`` (loss on completions only); returns a summary.

    The per-step log (loss, learning rate, token accuracy) goes to ``work_dir/log.jsonl``.
    """
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    config = SFTConfig(
        output_dir=str(work_dir),
        max_steps=settings.steps,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=int(settings.warmup_ratio * settings.steps),
        logging_steps=max(1, settings.steps // 20),
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        seed=seed,
        completion_only_loss=True,
        max_length=tokenizer.model_max_length if tokenizer.model_max_length < 10_000 else 256,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    from transformers import PrinterCallback

    trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(examples),
                         processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    began, cpu_began = time.perf_counter(), time.process_time()
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    work_dir.mkdir(parents=True, exist_ok=True)
    with (work_dir / "log.jsonl").open("w", encoding="utf-8") as handle:
        for row in trainer.state.log_history:
            handle.write(json.dumps(row) + "\n")
    return {
        "steps": settings.steps,
        "examples": len(examples),
        "wall_time_s": round(time.perf_counter() - began, 1),
        "cpu_time_s": round(time.process_time() - cpu_began, 1),
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
    }
