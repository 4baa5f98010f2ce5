"""How a policy is asked: its prompt format and generation settings, and the file that carries them with a checkpoint.

A policy trained by rlvr-bench was trained on one prompt (the recipe's text
template, or chat messages) and evaluated with one set of generation settings.
Every code path that saves a policy writes them next to the weights
(:data:`POLICY_SETTINGS_FILE`), so that ``rlvr-bench eval --policy FOLDER``
asks the checkpoint exactly as its own run did, and reproduces that run's
responses text for text. Settings given explicitly (on the command line) win
over the file's: :class:`GenerationOverrides`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rlvr_bench.errors import ConfigError, InputError
from rlvr_bench.generation import DEFAULT_SYSTEM_PROMPT, Prompt, SamplingSettings, build_messages
from rlvr_bench.records import Item

#: written next to a saved policy's weights by SFT, RL and the train-and-eval matrix
POLICY_SETTINGS_FILE = "rlvr_bench_policy.json"
POLICY_SETTINGS_SCHEMA = "rlvr-bench/policy-settings/v1"
PROMPT_KINDS = ("chat", "template")
DEFAULT_BATCH_SIZE = 8


@dataclass(frozen=True)
class PromptFormat:
    """How a question becomes the policy's prompt.

    ``chat``: chat messages (``system_prompt``, omitted when empty, then the question), rendered with
    the tokenizer's chat template; an item that carries its own conversation (``metadata["messages"]``,
    the study's hub chat data) is asked that conversation. ``template``: the text ``template`` with
    ``{question}`` filled in, given to the model as is (no chat template, no added special tokens):
    what the training recipes use.
    """

    kind: str = "chat"
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    template: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROMPT_KINDS:
            raise ConfigError(f"prompt kind must be one of {', '.join(PROMPT_KINDS)}, got {self.kind!r}")
        if self.kind == "template" and (self.template is None or "{question}" not in self.template):
            raise ConfigError("a template prompt must contain '{question}'")

    @classmethod
    def chat(cls, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> PromptFormat:
        return cls("chat", system_prompt=system_prompt or None)

    @classmethod
    def text_template(cls, template: str) -> PromptFormat:
        return cls("template", system_prompt=None, template=template)

    def prompt(self, item: Item) -> Prompt:
        """The prompt for one item: a text (template) or chat messages."""
        if self.kind == "template":
            assert self.template is not None
            return self.template.format(question=item.question)
        messages = item.metadata.get("messages")
        if isinstance(messages, list) and messages:
            return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
        return build_messages(item.question, self.system_prompt)

    def to_json(self) -> dict[str, Any]:
        if self.kind == "template":
            return {"kind": "template", "template": self.template}
        return {"kind": "chat", "system_prompt": self.system_prompt}


@dataclass(frozen=True)
class GenerationSettings:
    """Everything that decides a policy's responses besides its weights."""

    prompt: PromptFormat = field(default_factory=PromptFormat)
    #: responses per question (> 1 needs sampling)
    n_samples: int = 1
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    #: prompts per generate call; part of the settings because left padding changes a batch's numerics
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt.to_json(), "n_samples": self.n_samples, "sampling": self.sampling.to_json(),
                "batch_size": self.batch_size}

    @classmethod
    def from_json(cls, data: Any, where: str) -> GenerationSettings:
        """Settings from :meth:`to_json`'s shape; an InputError naming ``where`` and the field otherwise."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: expected a JSON object")
        try:
            prompt = data.get("prompt") or {}
            sampling = dict(data.get("sampling") or {})
            known = {f.name for f in fields(SamplingSettings)}
            unknown = sorted(set(sampling) - known)
            if unknown:
                raise InputError(f"{where}: field 'sampling.{unknown[0]}': unknown setting")
            sampling["stop"] = tuple(sampling.get("stop") or ())
            return cls(prompt=PromptFormat(str(prompt.get("kind", "chat")), prompt.get("system_prompt"),
                                           prompt.get("template")),
                       n_samples=int(data.get("n_samples", 1)), sampling=SamplingSettings(**sampling),
                       batch_size=int(data.get("batch_size", DEFAULT_BATCH_SIZE)))
        except (ConfigError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"{where}: {exc}") from None


def write_policy_settings(folder: Path, settings: GenerationSettings) -> Path:
    """Write ``settings`` next to the weights in ``folder`` (which must exist); returns the file."""
    path = Path(folder) / POLICY_SETTINGS_FILE
    path.write_text(json.dumps({"schema": POLICY_SETTINGS_SCHEMA, **settings.to_json()}, indent=2) + "\n",
                    encoding="utf-8")
    return path


def read_policy_settings(folder: Path | str) -> GenerationSettings | None:
    """The settings a saved policy carries; None for a folder without them (a hub id, another tool's model)."""
    path = Path(folder).expanduser() / POLICY_SETTINGS_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return GenerationSettings.from_json(data, str(path))


@dataclass(frozen=True)
class GenerationOverrides:
    """Settings given explicitly: each one that is not None replaces the policy's own (or the default)."""

    prompt: PromptFormat | None = None
    n_samples: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_new_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    batch_size: int | None = None

    def apply(self, base: GenerationSettings | None) -> GenerationSettings:
        """``base`` (None: the defaults) with every given setting replaced; ConfigError on an invalid mix."""
        base = base or GenerationSettings()
        sampling_changes = {name: getattr(self, name) for name in ("temperature", "top_p", "max_new_tokens",
                                                                   "seed", "stop")
                            if getattr(self, name) is not None}
        return replace(base, prompt=self.prompt or base.prompt,
                       n_samples=base.n_samples if self.n_samples is None else self.n_samples,
                       sampling=replace(base.sampling, **sampling_changes),
                       batch_size=base.batch_size if self.batch_size is None else self.batch_size)
