"""The shipped verifier `smol-verifier`: a LoRA adapter in the repository, merged once into SmolLM2 by make install.

`make test` installs first, so the merged checkpoint is there; a missing or broken adapter is an error here,
never a skip. The judging test uses responses no one trained on (the bundled verifier-gold task's, written for
rlvr-bench) and checks what a verifier must do at the least: pass a right answer, fail a wrong one, with a soft
score between.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from rlvr_bench import checkpoints
from rlvr_bench.checkpoints import (
    ADAPTED_CHECKPOINTS,
    adapter_digest,
    checkpoint_problem,
    is_merged,
    resolve_checkpoint,
)
from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge

ENTRY = ADAPTED_CHECKPOINTS["smol-verifier"]


def test_the_adapter_is_small_names_its_base_and_has_a_model_card() -> None:
    folder = ENTRY.folder()
    weights = folder / "adapter_model.safetensors"
    assert weights.stat().st_size < 50 * 2**20
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    assert config["base_model_name_or_path"] == ENTRY.base == "smollm2"
    assert config["peft_type"] == "LORA" and config["r"] >= 1
    card = (folder / "README.md").read_text(encoding="utf-8")
    for needed in ("EVOUNA", "Apache-2.0", "rlvr-bench distill", "AUROC", "## Where it is weak"):
        assert needed in card, needed


def test_the_merged_checkpoint_is_keyed_on_the_adapter() -> None:
    folder = Path(resolve_checkpoint("smol-verifier"))
    digest = adapter_digest(ENTRY)
    assert is_merged(folder, digest) and checkpoint_problem("smol-verifier") is None
    # another adapter (a retrained one) does not count as merged: it is rebuilt on first use
    assert not is_merged(folder, "0" * 64)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.json").is_file()


def test_a_missing_adapter_file_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial = tmp_path / "judges" / "adapters" / "smol-verifier"
    partial.mkdir(parents=True)
    shutil.copy(ENTRY.folder() / "adapter_config.json", partial)
    broken = dataclasses.replace(ENTRY)
    monkeypatch.setattr(type(broken), "folder", lambda self: partial)
    monkeypatch.setitem(checkpoints.ADAPTED_CHECKPOINTS, "smol-verifier", broken)
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ConfigError, match=r"adapter file .*adapter_model\.safetensors is missing") as raised:
        resolve_checkpoint("smol-verifier")
    assert "\n" not in str(raised.value)
    problem = checkpoint_problem("smol-verifier")
    assert problem is not None and "adapter_model.safetensors" in problem


def test_it_passes_right_answers_and_fails_wrong_ones() -> None:
    verifier = judge("smol-verifier")
    right = [
        Triple("What is the capital of France?", "Paris", "The capital of France is Paris."),
        Triple("Who wrote the novel 1984?", "George Orwell", "It was written by George Orwell."),
        Triple("What is the chemical symbol for gold?", "Au", "Au"),
    ]
    wrong = [
        Triple("What is the capital of France?", "Paris", "The capital of France is Lyon."),
        Triple("Who wrote the novel 1984?", "George Orwell", "Aldous Huxley wrote it."),
        Triple("What is the chemical symbol for gold?", "Au", "Ag"),
    ]
    verdicts = verifier.judge_batch(right + wrong)
    assert all(v.passed is not None and v.p_pass is not None for v in verdicts), verdicts
    scores = [v.p_pass for v in verdicts]
    assert all(v.passed for v in verdicts[:3]), scores
    assert not any(v.passed for v in verdicts[3:]), scores
    # the soft score separates them: every right answer above every wrong one
    assert min(scores[:3]) > max(scores[3:]), scores  # type: ignore[type-var]
