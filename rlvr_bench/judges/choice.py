"""The multiple-choice judge (``choice``): which option did the response pick, and is it the reference's?

Options are read from the question (lines or runs such as ``(A) 12 mg``, ``A) 12 mg``, ``A. 12 mg``,
``A: 12 mg``). The reference may be a letter (``B``, ``(B)``), the option's text, or both
(``(B) 12 mg``). The response's choice is read from its final step, else from the last stated answer
in the whole response ("the answer is (B)"), in the forms models write: ``(B)``, ``B``, ``B)``,
``BBBBB`` (a letter repeated), ``**B**``, ``Answer: B``, ``(B) 12 mg``, or the option's text alone.

Verdicts: passed when the chosen letter is the reference's; failed when it is another option;
unscored (an abstention, :meth:`Verdict.not_applicable`: the judge worked), with the reason,
when the response names several different options ("A or C"), names none,
or the reference cannot be resolved to an option (a letter the question does not offer, or text that
matches no option). Letters are A-J (MMLU-Pro has ten options).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.normalize import normalize_text
from rlvr_bench.judges.rules import LocalJudge
from rlvr_bench.records import Verdict, final_step

LETTERS = "ABCDEFGHIJ"
_OPTION = re.compile(r"(?:^|\s|\n)\(?([A-J])[\).:]\s+(.+?)(?=(?:\s+\(?[A-J][\).:]\s)|\n|$)")
_STATED = re.compile(r"(?:answer|choice|option)\s*(?:is|:|=)?\s*[:\-]?\s*\**\(?([A-J])\b\)?\**", re.IGNORECASE)
#: a letter that opens the text: "(B) ...", "B) ...", "B. ...", "B: ...", or "B" alone / before its option text
_MARKED = re.compile(r"^\W*?(?:\(([A-J])\)|([A-J])[\).:])(?:\s|$)")
_BARE = re.compile(r"^\W*([A-J])(?:\s+(.*))?$", re.S)
_REPEATED = re.compile(r"^\s*([A-J])\1+\s*$")
_PAREN = re.compile(r"\(([A-J])\)")


def parse_options(question: str) -> dict[str, str]:
    """Letter -> option text, from the question (empty when it lists none)."""
    options: dict[str, str] = {}
    for letter, text in _OPTION.findall(question):
        options.setdefault(letter, text.strip())
    return options


def _by_text(text: str, options: dict[str, str]) -> str | None:
    """The letter whose option text ``text`` is (case, spacing and punctuation ignored), if exactly one."""
    wanted = normalize_text(text)
    if not wanted:
        return None
    matches = [letter for letter, option in options.items() if normalize_text(option) == wanted]
    return matches[0] if len(matches) == 1 else None


def leading_letter(text: str, options: dict[str, str]) -> str | None:
    """The letter ``text`` opens with, when it is marked ("(B) ...", "B. ...") or bare and either alone
    or followed by its own option's text ("B 24 mg"); "I think" and "A dose" are not choices."""
    marked = _MARKED.match(text)
    if marked:
        return marked.group(1) or marked.group(2)
    bare = _BARE.match(text)
    if bare and (not bare.group(2) or _by_text(bare.group(2), options) == bare.group(1)):
        return bare.group(1)
    return None


def reference_letter(reference: str, options: dict[str, str]) -> tuple[str | None, str]:
    """(letter, reason): the reference as an option letter, or None with why it is not one."""
    stripped = reference.strip()
    if _REPEATED.match(stripped):
        stripped = stripped[0]
    letter = leading_letter(stripped, options)
    if letter is not None:
        if options and letter not in options:
            return None, f"reference {letter} is not an option of the question ({', '.join(options)})"
        return letter, ""
    letter = _by_text(stripped, options)
    if letter is not None:
        return letter, ""
    return None, "reference is neither an option letter nor an option's text"


def chosen_letters(text: str, options: dict[str, str]) -> set[str]:
    """The options one answer text names: a letter in one of the usual forms, or an option's text."""
    stripped = text.strip().replace("**", "")
    if _REPEATED.match(stripped):
        return {stripped.strip()[0]}
    stated = _STATED.findall(stripped)
    if stated:
        return {stated[-1].upper()}
    letter = leading_letter(stripped, options)
    if letter is not None:
        return {letter}
    parens = set(_PAREN.findall(stripped))
    if parens:
        return parens
    stated_text = re.search(r"answer\s*(?:is|:)\s*(.+)$", stripped, flags=re.IGNORECASE)
    by_text = _by_text(stated_text.group(1) if stated_text else stripped, options)
    return {by_text} if by_text else set()


class ChoiceJudge(LocalJudge):
    """Multiple-choice answers against a letter / option-text reference (see the module doc)."""

    DEFAULTS: ClassVar[dict[str, Any]] = {}

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        return [self.judge_one(triple) for triple in triples]

    def judge_one(self, triple: Triple) -> Verdict:
        options = parse_options(triple.question)
        wanted, why = reference_letter(triple.reference, options)
        if wanted is None:
            return Verdict.not_applicable(why)
        chosen = chosen_letters(triple.final_step, options)
        where = "final step"
        if not chosen:
            stated = list(_STATED.finditer(triple.response))
            if stated:
                chosen, where = {stated[-1].group(1).upper()}, "stated answer"
        # the judge worked; the response gave it nothing to compare: unscored, but not a judge failure
        if not chosen:
            return Verdict.not_applicable(f"no choice found (final step {final_step(triple.response)[:60]!r})")
        if len(chosen) > 1:
            return Verdict.not_applicable(f"ambiguous choice: names {', '.join(sorted(chosen))}")
        letter = next(iter(chosen))
        return Verdict(passed=letter == wanted, raw=f"chose {letter} ({where}); reference {wanted}")
