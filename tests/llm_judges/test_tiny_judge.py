"""Building the tiny judge: once across concurrent processes, deterministic, labels that are right."""

from __future__ import annotations

import json
import multiprocessing
import random
from pathlib import Path

import pytest

from rlvr_bench.judges.tiny_judge import BUILD_INFO, RECIPE_VERSION, ensure_built, synthetic_example


def _slow_build(staging: Path, log: Path) -> None:
    import time

    with log.open("a") as handle:
        handle.write("build\n")
    staging.mkdir(parents=True)
    time.sleep(1.0)  # long enough for the other process to arrive and wait on the lock
    (staging / BUILD_INFO).write_text(json.dumps({"recipe_version": RECIPE_VERSION}))


def _ensure(target: str, log: str) -> None:
    ensure_built(Path(target), lambda staging: _slow_build(staging, Path(log)))


def test_concurrent_processes_build_once(tmp_path: Path) -> None:
    target, log = tmp_path / "models" / "tiny-judge", tmp_path / "builds.log"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_ensure, args=(str(target), str(log))) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    assert log.read_text().count("build") == 1
    assert (target / BUILD_INFO).is_file() and not target.with_name("tiny-judge.building").exists()


def test_a_stale_or_half_built_model_is_rebuilt(tmp_path: Path) -> None:
    target, log = tmp_path / "tiny-judge", tmp_path / "builds.log"
    target.mkdir()
    (target / "config.json").write_text("{}")  # killed mid-build: no build_info.json
    ensure_built(target, lambda staging: _slow_build(staging, log))
    (target / BUILD_INFO).write_text(json.dumps({"recipe_version": "old"}))
    ensure_built(target, lambda staging: _slow_build(staging, log))
    assert log.read_text().count("build") == 2
    assert not (target / "config.json").exists()


def test_synthetic_labels_follow_the_verifier_rules() -> None:
    rng = random.Random(0)
    examples = [synthetic_example(rng) for _ in range(400)]
    for triple, correct in examples:
        stated = triple.final_step
        hedged = any(word in stated for word in ("Maybe", "could", "Perhaps", " or "))
        # correct exactly when the final step plainly states the reference as its last number
        digits = "".join(ch if ch.isdigit() or ch == "-" else " " for ch in stated).split()
        plain_match = not hedged and bool(digits) and digits[-1] == triple.reference
        assert correct == plain_match, (stated, triple.reference)
    share = sum(correct for _, correct in examples) / len(examples)
    assert 0.35 < share < 0.6


def test_build_info_of_the_session_build(tiny_judge_path: Path) -> None:
    info = json.loads((tiny_judge_path / BUILD_INFO).read_text())
    assert info["recipe_version"] == RECIPE_VERSION and info["prompt"] == "verifier"
    assert 0.6 <= info["held_out_accuracy"] <= 1.0
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in tiny_judge_path.iterdir()}


@pytest.mark.slow
def test_the_build_is_deterministic(tmp_path: Path, tiny_judge_path: Path) -> None:
    from safetensors.torch import load_file

    from rlvr_bench.judges.tiny_judge import build_tiny_judge

    build_tiny_judge(tmp_path / "again")
    first = load_file(tiny_judge_path / "model.safetensors")
    second = load_file(tmp_path / "again" / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(bool((first[name] == second[name]).all()) for name in first)
    assert (tmp_path / "again" / "tokenizer.json").read_text() == (tiny_judge_path / "tokenizer.json").read_text()


def test_training_prompts_are_what_the_chat_template_renders(tiny_judge_path: Path) -> None:
    from transformers import AutoTokenizer

    from rlvr_bench.judges.prompting import load_template
    from rlvr_bench.judges.tiny_judge import chat_prompt

    tokenizer = AutoTokenizer.from_pretrained(tiny_judge_path)
    template = load_template("verifier")
    triple, _ = synthetic_example(random.Random(1))
    rendered = tokenizer.apply_chat_template(template.render(triple).chat_messages(), add_generation_prompt=True,
                                             tokenize=False)
    assert rendered == chat_prompt(template, triple)
    assert tokenizer.convert_ids_to_tokens(tokenizer("YES NO", add_special_tokens=False)["input_ids"]) == [
        "YES", "\u0120NO"]  # both verdict words are single tokens
