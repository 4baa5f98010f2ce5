"""A task's generation defaults (task.yaml ``generation:``): validated, and below a checkpoint's own settings
and explicit flags."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.errors import InputError
from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT, GenerationProgress, GenerationResult, Prompt, SamplingSettings
from rlvr_bench.pipelines.evaluate import (
    evaluate_policies,
    load_eval_items,
    policy_settings,
    read_task_generation,
    task_generation_settings,
)
from rlvr_bench.policies import parse_policy_spec
from rlvr_bench.prompting import GenerationOverrides, GenerationSettings, PromptFormat, write_policy_settings
from rlvr_bench.tasks import load_task

ITEM = {"id": "q1", "domain": "physics", "question": "What is the SI unit of force?", "reference": "newton"}


def write_task(folder: Path, generation: Any) -> Path:
    folder.mkdir(parents=True)
    data: dict[str, Any] = {"name": folder.name, "domains": ["physics"], "items": "items.jsonl"}
    if generation is not None:
        data["generation"] = generation
    (folder / "task.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (folder / "items.jsonl").write_text(json.dumps(ITEM) + "\n", encoding="utf-8")
    return folder


class RecordingPolicy:
    """Answers every prompt with the reference; records the prompts and sampling settings it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.prompts: list[Prompt] = []
        self.sampling: list[SamplingSettings] = []

    def describe(self) -> dict[str, Any]:
        return {"backend": "recording"}

    def generate(self, prompts: Sequence[Prompt], n: int, sampling: SamplingSettings,
                 on_progress: GenerationProgress | None = None) -> list[list[GenerationResult]]:
        self.prompts.extend(prompts)
        self.sampling.append(sampling)
        return [[GenerationResult("Therefore, the answer is newton.", "stop")] for _ in prompts]


def test_the_bundled_expert_qa_task_declares_a_short_answer_budget() -> None:
    assert read_task_generation(load_task("expert-qa").info) == {"max_new_tokens": 128}
    assert read_task_generation(load_task("starter").info) == {}
    _, source = load_eval_items("expert-qa")
    settings = task_generation_settings(source)
    assert settings is not None and settings.sampling.max_new_tokens == 128
    assert settings.prompt.system_prompt == DEFAULT_SYSTEM_PROMPT  # the study's prompt is kept


def test_defaults_reach_a_policy_without_settings_and_flags_win(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "short", {"max_new_tokens": 24, "system_prompt": "Answer in a few words."})
    items, source = load_eval_items(str(folder))
    assert source["generation_defaults"] == {"max_new_tokens": 24, "system_prompt": "Answer in a few words."}
    policy = RecordingPolicy()
    result = evaluate_policies([policy], items, ["contains"], n_bootstrap=0, write=False, task_source=source)
    assert policy.sampling[0].max_new_tokens == 24
    assert policy.prompts[0] == [{"role": "system", "content": "Answer in a few words."},
                                 {"role": "user", "content": ITEM["question"]}]
    assert result.accuracy("recorder")["estimate"] == 1.0
    flagged = RecordingPolicy()
    evaluate_policies([flagged], items, ["contains"], GenerationOverrides(max_new_tokens=7), n_bootstrap=0,
                      write=False, task_source=source)
    assert flagged.sampling[0].max_new_tokens == 7


def test_a_checkpoints_own_settings_win_over_the_tasks(tmp_path: Path) -> None:
    task_defaults = GenerationOverrides(max_new_tokens=24).apply(None)
    trained = tmp_path / "trained"
    trained.mkdir()
    saved = GenerationSettings(prompt=PromptFormat.text_template("Q: {question}\nA:"),
                               sampling=SamplingSettings(max_new_tokens=40))
    write_policy_settings(trained, saved)
    assert policy_settings(parse_policy_spec(str(trained)), GenerationOverrides(), task_defaults) == saved
    plain = tmp_path / "plain"
    plain.mkdir()
    assert policy_settings(parse_policy_spec(str(plain)), GenerationOverrides(), task_defaults) == task_defaults
    assert policy_settings(parse_policy_spec(str(plain)), GenerationOverrides(max_new_tokens=9),
                           task_defaults).sampling.max_new_tokens == 9


@pytest.mark.parametrize(("generation", "fragment"), [
    (128, "field 'generation' must be a mapping"),
    ({"max_tokens": 64}, "field 'generation.max_tokens': unknown setting"),
    ({"max_new_tokens": 0}, "field 'generation.max_new_tokens' must be a whole number >= 1, got 0"),
    ({"max_new_tokens": True}, "field 'generation.max_new_tokens' must be a whole number >= 1"),
    ({"max_new_tokens": "64"}, "field 'generation.max_new_tokens' must be a whole number >= 1, got '64'"),
    ({"system_prompt": 3}, "field 'generation.system_prompt' must be text, got 3"),
])
def test_bad_generation_defaults_name_the_file_and_field(tmp_path: Path, generation: Any, fragment: str) -> None:
    folder = write_task(tmp_path / "bad", generation)
    with pytest.raises(InputError, match=r"task\.yaml: " + fragment.replace("(", r"\(")):
        load_eval_items(str(folder))


def test_bad_generation_defaults_are_one_line_and_exit_2_on_the_cli(tmp_path: Path) -> None:
    folder = write_task(tmp_path / "bad", {"max_new_tokens": -5})
    answers = tmp_path / "answers.jsonl"
    answers.write_text(json.dumps({"item_id": "q1", "text": "newton"}) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "--policy", f"responses:{answers}", "--task", str(folder),
                                      "--judges", "contains", "--out", str(tmp_path / "run")])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.stderr
    assert f"{folder / 'task.yaml'}: field 'generation.max_new_tokens'" in lines[0]
    assert not (tmp_path / "run").exists()
