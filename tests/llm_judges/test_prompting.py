"""Prompt templates: parsing, one-pass rendering, hashing, and the bundled templates."""

from __future__ import annotations

import pytest

from rlvr_bench.errors import ConfigError, InputError
from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.prompting import load_template, parse_template

CHAT = """# a comment before the first section is ignored
[system]
You are a helpful assistant.
[user]

Q: {question}
Final: {final_step}
Ref: {reference}

[assistant_prefix]
Verdict:
"""


def test_chat_template_renders_every_placeholder_once() -> None:
    template = parse_template(CHAT, "t", "t.txt")
    # the question itself contains a placeholder-like string: it must survive verbatim
    triple = Triple(question="Is {reference} a set? \\frac{1}{2}", reference="42",
                    response="work\n\nThe answer is 42.\n  \n")
    rendered = template.render(triple)
    assert rendered.raw is None
    assert rendered.messages == (
        ("system", "You are a helpful assistant."),
        # blank lines around a section body are trimmed; the final step is the last non-empty line
        ("user", "Q: Is {reference} a set? \\frac{1}{2}\nFinal: The answer is 42.\nRef: 42"),
    )
    assert rendered.assistant_prefix == "Verdict:"
    assert rendered.chat_messages()[1] == {"role": "user", "content": rendered.messages[1][1]}


def test_raw_template_keeps_the_prefix_exactly() -> None:
    template = parse_template("[prompt]\nUser: {question} Assistant:\n[assistant_prefix]\n Final Decision:\n", "g", "g")
    rendered = template.render(Triple("2+2?", "4", "4"))
    assert not template.is_chat
    assert rendered.raw == "User: 2+2? Assistant:"
    assert rendered.assistant_prefix == " Final Decision:"  # the leading space is part of the prompt


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[user]\nx\n[bogus]\ny", "t.txt:3: unknown section [bogus]"),
        ("hello\n[user]\nx", "t.txt:1: text before the first section"),
        ("[user]\nx\n[prompt]\ny", "exactly one of the sections [user] or [prompt]"),
        ("[system]\nx", "exactly one of the sections [user] or [prompt]"),
        ("[user]\n{answer}", "unknown placeholder {answer}"),
        ("[user]\nx\n[user]\ny", "t.txt:3: section [user] appears twice"),
        ("[system]\ns\n[prompt]\nx", "section [system] only applies to chat templates"),
    ],
)
def test_malformed_templates_name_file_and_problem(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("{", r"\{").replace("}", r"\}")):
        parse_template(text, "t", "t.txt")


def test_digest_changes_with_any_part_of_the_prompt() -> None:
    template = parse_template(CHAT, "t", "t.txt")
    base = Triple("q", "r", "a")
    digests = {template.render(t).digest() for t in (base, Triple("q2", "r", "a"), Triple("q", "r2", "a"),
                                                     Triple("q", "r", "a2"))}
    assert len(digests) == 4
    assert template.render(base).digest() == template.render(Triple("q", "r", "a")).digest()
    # only the final step reaches the prompt: earlier lines of the response do not change it
    assert template.render(Triple("q", "r", "x\na")).digest() == template.render(base).digest()


def test_bundled_templates() -> None:
    verifier = load_template("verifier")
    assert verifier.is_chat and verifier.system == "You are a helpful assistant."
    user = verifier.user or ""
    # the study's structure: instructions, then question, final step, reference; YES or NO only
    positions = [user.index(marker) for marker in ("{question}", "{final_step}", "{reference}")]
    assert positions == sorted(positions)
    assert "YES or NO" in user and "{response}" not in user

    general = load_template("general-verifier")
    assert not general.is_chat and general.assistant_prefix == " Final Decision:"
    compass = load_template("compass-verifier")
    assert compass.is_chat and "A, B or C" in (compass.user or "")


def test_unknown_template_lists_the_bundled_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown prompt template 'nope'.*verifier"):
        load_template("nope")
