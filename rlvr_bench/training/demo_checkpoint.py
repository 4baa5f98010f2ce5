"""Rebuild the warm-started checkpoint `make demo` starts RL from: ``python -m rlvr_bench.training.demo_checkpoint``.

The demo recipe (``training/mini-demo.yaml``) skips the SFT stage, which takes minutes on 2 CPU cores,
by starting every RL cell from ``training/checkpoints/mini-sft``: the SFT start of the ``mini`` recipe
(the same tiny policy, data, demonstrator and 250 SFT steps, seed 0), saved with its prompt and
generation settings. This command trains it again and replaces the folder; nothing else writes there.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from rlvr_bench.assets import asset_dir

CHECKPOINT = "checkpoints/mini-sft"
SOURCE_RECIPE = "mini"


def checkpoint_dir() -> Path:
    return asset_dir("training") / CHECKPOINT


def rebuild(say: object = print) -> Path:
    """Train the ``mini`` SFT start and store it at :func:`checkpoint_dir` (about 6 MB)."""
    from rlvr_bench.training.matrix import run_sft_start
    from rlvr_bench.training.recipes import load_recipe

    target = checkpoint_dir()
    with tempfile.TemporaryDirectory() as scratch:
        policy = run_sft_start(load_recipe(SOURCE_RECIPE), Path(scratch) / "sft", say)  # type: ignore[arg-type]
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(policy, target)
    return target


if __name__ == "__main__":
    print(f"wrote {rebuild()}", file=sys.stderr)
