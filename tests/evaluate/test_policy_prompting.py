"""Prompt formats, generation settings and the file a saved policy carries them in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr_bench.errors import ConfigError, InputError
from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT, SamplingSettings
from rlvr_bench.prompting import (
    POLICY_SETTINGS_FILE,
    GenerationOverrides,
    GenerationSettings,
    PromptFormat,
    read_policy_settings,
    write_policy_settings,
)
from rlvr_bench.records import Item

ITEM = Item("q1", "math", "What is 2+2?", "4")


def test_chat_and_template_prompts() -> None:
    assert PromptFormat().prompt(ITEM) == [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT},
                                           {"role": "user", "content": "What is 2+2?"}]
    assert PromptFormat.chat("").prompt(ITEM) == [{"role": "user", "content": "What is 2+2?"}]  # '' = no system
    assert PromptFormat.text_template("Q: {question}\nA:").prompt(ITEM) == "Q: What is 2+2?\nA:"
    with pytest.raises(ConfigError, match=r"must contain '\{question\}'"):
        PromptFormat.text_template("no placeholder")


def test_settings_round_trip_through_the_policy_folder(tmp_path: Path) -> None:
    settings = GenerationSettings(PromptFormat.text_template("Q: {question}\n"), n_samples=3,
                                  sampling=SamplingSettings(temperature=0.7, max_new_tokens=9, seed=4, stop=("\n\n",)),
                                  batch_size=5)
    path = write_policy_settings(tmp_path, settings)
    assert path == tmp_path / POLICY_SETTINGS_FILE
    assert read_policy_settings(tmp_path) == settings
    assert read_policy_settings(tmp_path / "elsewhere") is None  # a folder saved by another tool


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", ":1: not valid JSON"),
    (json.dumps({"sampling": {"temperature": -1}}), "temperature must be >= 0"),
    (json.dumps({"sampling": {"temprature": 1}}), "field 'sampling.temprature': unknown setting"),
    (json.dumps({"prompt": {"kind": "speech"}}), "prompt kind must be one of"),
    (json.dumps([1, 2]), "expected a JSON object"),
])
def test_a_bad_settings_file_is_one_line_naming_the_file(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / POLICY_SETTINGS_FILE).write_text(content)
    with pytest.raises(InputError, match=fragment) as error:
        read_policy_settings(tmp_path)
    assert str(error.value).startswith(str(tmp_path / POLICY_SETTINGS_FILE)) and "\n" not in str(error.value)


def test_overrides_replace_only_what_was_given() -> None:
    saved = GenerationSettings(PromptFormat.text_template("Q: {question}\n"),
                               sampling=SamplingSettings(max_new_tokens=9, seed=4), batch_size=5)
    assert GenerationOverrides().apply(saved) == saved
    changed = GenerationOverrides(max_new_tokens=3, temperature=0.5, n_samples=2).apply(saved)
    assert (changed.sampling.max_new_tokens, changed.sampling.temperature, changed.n_samples) == (3, 0.5, 2)
    assert (changed.prompt, changed.sampling.seed, changed.batch_size) == (saved.prompt, 4, 5)
    # no saved settings: the defaults (the study's chat prompt, 512 tokens, batches of 8)
    assert GenerationOverrides(seed=1).apply(None) == GenerationSettings(sampling=SamplingSettings(seed=1))
