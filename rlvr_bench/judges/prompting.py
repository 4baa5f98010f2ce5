"""Verifier prompt templates: loading, rendering and hashing.

A template is a small text file under ``judges/prompts/`` made of sections::

    # comment lines before the first section are ignored
    [system]
    You are a helpful assistant.
    [user]
    Question: {question} ... Final step: {final_step} ... Reference: {reference}
    [assistant_prefix]
    Final Decision:

``[system]`` is optional, ``[user]`` is required for chat models; a template may
instead give one ``[prompt]`` section, sent as raw text without a chat template
(for verifiers trained on plain "User: ... Assistant:" text). ``[assistant_prefix]``
(optional) is text the verifier's turn starts with, so that the *next* token is
the verdict (e.g. General-Verifier's "Final Decision:").

Placeholders are ``{question}``, ``{final_step}``, ``{reference}``, ``{response}``,
``{domain}`` and ``{answer_type}``. They are replaced in a single pass, so braces
inside a question (LaTeX) are never re-interpreted. A section's leading and
trailing blank lines are dropped; the text in between is kept exactly.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.assets import asset_dir
from rlvr_bench.errors import ConfigError, InputError
from rlvr_bench.judges.base import Triple

PLACEHOLDERS = ("question", "final_step", "reference", "response", "domain", "answer_type")
SECTIONS = ("system", "user", "assistant_prefix", "prompt")
_PLACEHOLDER_RE = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_SECTION_RE = re.compile(r"^\[(\w+)\]\s*$")


def reference_text(triple: Triple) -> str:
    """``{reference}`` in a prompt: the reference, or every acceptable one when there are several
    ("Outkast (also accepted: OutKast; André 3000 and Big Boi)"), so a model judge sees them all at once."""
    if not triple.aliases:
        return triple.reference
    return f"{triple.reference} (also accepted: {'; '.join(triple.aliases)})"


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed verifier prompt. Exactly one of ``user`` / ``raw_prompt`` is set."""

    name: str
    system: str | None = None
    user: str | None = None
    raw_prompt: str | None = None
    assistant_prefix: str = ""

    @property
    def is_chat(self) -> bool:
        """True when the prompt goes through the model's chat template."""
        return self.user is not None

    def render(self, triple: Triple) -> RenderedPrompt:
        """Fill the placeholders from ``triple``."""
        values = {
            "question": triple.question,
            "final_step": triple.final_step,
            "reference": reference_text(triple),
            "response": triple.response,
            "domain": triple.domain,
            "answer_type": triple.answer_type,
        }
        if self.user is not None:
            messages: list[tuple[str, str]] = []
            if self.system is not None:
                messages.append(("system", fill(self.system, values)))
            messages.append(("user", fill(self.user, values)))
            return RenderedPrompt(messages=tuple(messages), raw=None, assistant_prefix=self.assistant_prefix)
        assert self.raw_prompt is not None
        return RenderedPrompt(messages=(), raw=fill(self.raw_prompt, values), assistant_prefix=self.assistant_prefix)


@dataclass(frozen=True)
class RenderedPrompt:
    """What a verifier model is shown for one triple: chat messages or one raw text."""

    #: (role, content) pairs; empty for a raw prompt
    messages: tuple[tuple[str, str], ...]
    #: the raw text prompt, for templates without a chat template
    raw: str | None
    #: text the assistant turn starts with (the verdict token follows it)
    assistant_prefix: str = ""

    def chat_messages(self) -> list[dict[str, str]]:
        """Messages in the OpenAI / transformers shape."""
        return [{"role": role, "content": content} for role, content in self.messages]

    def text(self, tokenizer: Any) -> str:
        """The prompt as one string: the chat template (with the generation prompt) or the raw text, then the
        assistant prefix."""
        if self.raw is not None:
            return self.raw + self.assistant_prefix
        text = tokenizer.apply_chat_template(self.chat_messages(), add_generation_prompt=True, tokenize=False)
        return str(text) + self.assistant_prefix

    def token_ids(self, tokenizer: Any, owner: str) -> list[int]:
        """Token ids exactly as a verifier model sees them, at inference (hf judge) and in distillation.

        A raw prompt gets the tokenizer's own special tokens (e.g. BOS); a chat prompt already holds
        them through its template, so none are added. ``owner`` names the model in the error raised for a
        chat prompt when the tokenizer has no chat template.
        """
        if self.raw is None and not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"{owner} has no chat template; use a [prompt] template instead")
        ids: list[int] = tokenizer(self.text(tokenizer), add_special_tokens=self.raw is not None)["input_ids"]
        return ids

    def digest(self) -> str:
        """A stable SHA-256 hex digest of the whole prompt (part of the judgment cache key)."""
        canonical = json.dumps(
            {"messages": [list(m) for m in self.messages], "raw": self.raw, "prefix": self.assistant_prefix},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``{placeholder}`` in one pass (values are never re-scanned)."""
    return _PLACEHOLDER_RE.sub(lambda match: values[match.group(1)], template)


def parse_template(text: str, name: str, where: str) -> PromptTemplate:
    """Parse a template file's text; ``where`` names the file in errors."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        header = _SECTION_RE.match(line)
        if header is not None:
            current = header.group(1)
            if current not in SECTIONS:
                raise InputError(f"{where}:{line_no}: unknown section [{current}] (one of {', '.join(SECTIONS)})")
            if current in sections:
                raise InputError(f"{where}:{line_no}: section [{current}] appears twice")
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise InputError(f"{where}:{line_no}: text before the first section "
                             "(start with [system], [user] or [prompt])")
    bodies = {key: _trim_blank_lines(lines) for key, lines in sections.items()}
    if ("user" in bodies) == ("prompt" in bodies):
        raise InputError(f"{where}: a prompt template needs exactly one of the sections [user] or [prompt]")
    if "prompt" in bodies and "system" in bodies:
        raise InputError(f"{where}: section [system] only applies to chat templates ([user]), not to [prompt]")
    for key, body in bodies.items():
        for brace in re.findall(r"\{(\w+)\}", body):
            if brace not in PLACEHOLDERS:
                raise InputError(f"{where}: section [{key}] uses unknown placeholder {{{brace}}} "
                                 f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})")
    return PromptTemplate(
        name=name,
        system=bodies.get("system"),
        user=bodies.get("user"),
        raw_prompt=bodies.get("prompt"),
        assistant_prefix=bodies.get("assistant_prefix", ""),
    )


def _trim_blank_lines(lines: list[str]) -> str:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end])


def prompts_dir() -> Path:
    return asset_dir("judges") / "prompts"


def template_path(name_or_path: str) -> Path:
    """A bundled template by name (``judges/prompts/NAME.txt``) or a user's file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".txt" and candidate.is_file():
        return candidate
    bundled = prompts_dir() / f"{name_or_path}.txt"
    if bundled.is_file():
        return bundled
    known = sorted(path.stem for path in prompts_dir().glob("*.txt"))
    raise ConfigError(f"unknown prompt template {name_or_path!r}: give a .txt file or one of {', '.join(known)}")


def load_template(name_or_path: str) -> PromptTemplate:
    path = template_path(name_or_path)
    return parse_template(path.read_text(encoding="utf-8"), name=path.stem, where=str(path))
