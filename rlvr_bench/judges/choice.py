"""The multiple-choice judge (``choice``): which option did the response pick, and is it the reference's?

Options are read from the question: one per line (``A. 12 mg``, ``(A) 12 mg``, ``A) 12 mg``, ``A: 12 mg``)
or, when the question has no such lines, inline (``(A) 12 mg (B) 24 mg``). The reference may be a letter
(``B``, ``(B)``), the option's text, or both (``(B) 12 mg``).

The response's choice is read from its final step:

1. the step is a letter alone: ``B``, ``(B)``, ``B.``, ``**B**``, ``BBBBB`` (a letter repeated);
2. else, when the step *states* an answer ("the answer is", "my answer is:", "Final answer:", "the correct
   option is"), what follows the last such phrase decides: ``(B)``, ``B``, ``B)``, ``BBBBB``, ``\\boxed{B}``
   or the option's text. A statement that names no option ("the answer is none of these") is unscored,
   never replaced by a letter from earlier lines;
3. else a letter opening the step (``(B) 24 mg``, ``B. 24 mg``, ``B 24 mg``), the option's text alone,
   letters in parentheses, or "option B" / "we choose B";
4. only when the final step states no answer and names no option, the last explicit answer statement of
   the earlier lines ("The answer is (B).") is read.

Capital letters only, except inside parentheses (``(b)``) or alone ("answer: c"): "Final answer: a
shortage" is the article, not option A. Initials are not options ("B. R. Ambedkar"), nor is a letter
followed by words that are not its option's text ("A dose of 24 mg", "I think").

Verdicts: passed when the chosen letter is the reference's; failed when it is another option;
unscored (an abstention, :meth:`Verdict.not_applicable`: the judge worked), with the reason,
when the response names several different options ("A or C"), names none,
or the reference cannot be resolved to an option (a letter the question does not offer, text that
matches no option, or a question that lists no options and a reference that is not a bare letter: an
open question, such as one answered "B. R. Ambedkar", is not a choice question). Letters are A-J
(MMLU-Pro has ten options).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.normalize import normalize_text, unwrap_latex
from rlvr_bench.judges.rules import LocalJudge, preview
from rlvr_bench.records import Verdict

LETTERS = "ABCDEFGHIJ"
_OPTION_LINE = re.compile(r"^\s*(?:\(([A-J])\)|([A-J])[\).:])(?:\s+(.*?))?\s*$")
_OPTION_INLINE = re.compile(r"(?:^|\s|\n)\(?([A-J])[\).:]\s+(.+?)(?=(?:\s+\(?[A-J][\).:]\s)|\n|$)")
#: a phrase that states the answer: "the answer is", "my answer is:", "Final answer:", "the correct
#: option is", "Answer -"; "option B" alone is a mention, not a statement
_STATEMENT = re.compile(
    r"\b(?:answer|choice|option)s?\s*(?:(?:is|was|would\s+be|will\s+be|should\s+be|must\s+be)\b\s*[:\-]?|[:=\-–—])",
    re.IGNORECASE)
#: words allowed between a statement and its letter ("the answer is therefore (B)", "is option C")
_FILLER = re.compile(r"^(?:(?:therefore|thus|so|clearly|probably|likely|definitely|indeed|option|choice|letter)"
                     r"\b[\s,:]*)+", re.IGNORECASE)
_PAREN_LETTER = re.compile(r"^[\(\[]\s*([A-Ja-j])\s*[\)\]]")
_REPEATED = re.compile(r"^([A-J])\1+(?!\w)")
#: "B. R. Ambedkar", "B.B. King": a capital, a period, another capital and period
_INITIALS = re.compile(r"^[A-Z]\.\s*[A-Z]\.")
_MARKED = re.compile(r"^([A-J])[\).:](?=\s|$)")
_BARE = re.compile(r"^([A-J])(?![\w'’])\s*(.*)$", re.S)
#: what may follow a bare letter that is still a choice: nothing, punctuation, a dash, or a reason
_AFTER_BARE = re.compile(r"^(?:$|[.,;:!?\-–—()/]|(?:is|because|since|as|or|and)\b)", re.IGNORECASE)
_ANY_PAREN = re.compile(r"[\(\[]([A-J])[\)\]]")
_MENTION = re.compile(r"\b(?:option|choice|choose|chose|pick|select)\s+\(?([A-J])\b\)?", re.IGNORECASE)
_LEADING_FORM = re.compile(r"^[\(\[]?\s*[A-Ja-j]+\s*[\)\]]?[.:]?")
#: a further option joined to a stated one ("B or D", "(B)/(D)", "B, or D"); "B, C is wrong" names B only
_ALTERNATIVE = re.compile(r"^\s*(?:/|,?\s*\bor\b|\band\b)\s*\(?([A-J])(?![\w'’])(?!\)?\s+(?:is|are|was)\b)")


def parse_options(question: str) -> dict[str, str]:
    """Letter -> option text, from the question (empty when it lists none).

    Options on lines of their own win: inline parsing would take "0.001 A." or "(B ∨ D) • L" inside an
    option's text for further options. The last run of lines lettered A, B, C... in order is the options
    (an earlier run, "A: Marina reads", defines symbols; a roman "I." is no option).
    """
    runs: list[dict[str, str]] = []
    for line in question.split("\n"):  # not splitlines(): "\v" (a vertical tab) inside an option is no line break
        found = _OPTION_LINE.match(line)
        if not found:
            continue
        letter = found.group(1) or found.group(2)
        if letter == "A":
            runs.append({})
        if runs and letter == LETTERS[len(runs[-1])]:
            runs[-1][letter] = (found.group(3) or "").strip()
    lined = [run for run in runs if len(run) >= 2]
    if lined:
        return lined[-1]
    options: dict[str, str] = {}
    for letter, text in _OPTION_INLINE.findall(question):
        options.setdefault(letter, text.strip())
    return options


def _by_text(text: str, options: dict[str, str]) -> str | None:
    """The letter whose option text ``text`` is (case, spacing and punctuation ignored), if exactly one."""
    wanted = normalize_text(text)
    if not wanted:
        return None
    matches = [letter for letter, option in options.items() if normalize_text(option) == wanted]
    if not matches:  # "71.3%" for "71.3 %", "100g" for "100 g"
        compact = wanted.replace(" ", "")
        matches = [letter for letter, option in options.items() if normalize_text(option).replace(" ", "") == compact]
    return matches[0] if len(matches) == 1 else None


def _plain(text: str) -> str:
    """Markdown emphasis, ``$`` and LaTeX wrappers (``\\boxed{B}``, ``\\text{B}``) removed."""
    text = unwrap_latex(text.replace("**", "").replace("__", ""))
    for delimiter in ("$", "\\(", "\\)", "\\[", "\\]"):
        text = text.replace(delimiter, " ")
    return text.strip()


def leading_letter(text: str, options: dict[str, str]) -> str | None:
    """The letter ``text`` opens with: ``(B)``/``(b)``, ``BBBBB``, ``B)``/``B.``/``B:`` (not initials), or a
    bare ``B`` that is alone, before punctuation or a reason, or before its own option's text ("B 24 mg");
    "A dose", "I think" and "B. R. Ambedkar" are not choices."""
    text = text.lstrip(" \t\"'`“‘*_")
    found = _PAREN_LETTER.match(text)
    if found:
        return found.group(1).upper()
    found = _REPEATED.match(text)
    if found:
        return found.group(1)
    if _INITIALS.match(text):
        return None
    found = _MARKED.match(text)
    if found:
        return found.group(1)
    found = _BARE.match(text)
    if found:
        rest = found.group(2).strip()
        if _AFTER_BARE.match(rest) or _by_text(rest, options) == found.group(1):
            return found.group(1)
    return None


def _letters_at(text: str, options: dict[str, str]) -> set[str]:
    """The option(s) the text after an answer statement names: a leading letter (with any "or C" after it),
    or the option's text."""
    text = _FILLER.sub("", text.strip(" \t\"'`“‘*_:"))
    single = re.fullmatch(r"\(?([A-Ja-j])\)?\W*", text)  # "answer: c": a lone letter in any case
    letter = single.group(1).upper() if single else leading_letter(text, options)
    if letter is None:
        by_text = _by_text(text, options) or _by_text(re.split(r"[.;,](?:\s|$)", text)[0], options)
        if by_text:
            return {by_text}
        # "the answer is 14112 W, which corresponds to option (H)": one option named further on
        named = set(_ANY_PAREN.findall(text)) or {m for m in _MENTION.findall(text) if m.isupper()}
        return named if len(named) == 1 else set()
    letters = {letter}
    rest = _LEADING_FORM.sub("", text, count=1)
    while (alternative := _ALTERNATIVE.match(rest)) is not None:
        letters.add(alternative.group(1))
        rest = rest[alternative.end() :].lstrip(")].:")
    return letters


def reference_letter(reference: str, options: dict[str, str]) -> tuple[str | None, str]:
    """(letter, reason): the reference as an option letter, or None with why it is not one.

    Without options in the question only a bare letter is a choice reference ("B", "(B)", "B."):
    "B. R. Ambedkar" answers an open question.
    """
    stripped = _plain(reference)
    if not options:
        bare = re.fullmatch(r"\(?([A-J])\)?\.?|([A-J])\2+", stripped)
        if bare:
            return bare.group(1) or bare.group(2), ""
        return None, "the question lists no options and the reference is not an option letter"
    letter = leading_letter(stripped, options) or _by_text(stripped, options)
    if letter is not None:
        if letter not in options:
            return None, f"reference {letter} is not an option of the question ({', '.join(options)})"
        return letter, ""
    return None, "reference is neither an option letter nor an option's text"


def chosen_letters(text: str, options: dict[str, str]) -> tuple[set[str], bool]:
    """(the options one final step names, whether it states an answer) - see the module doc, steps 1-3."""
    plain = _plain(text)
    alone = re.fullmatch(r"\W*(?:([A-J])\1*|([a-j]))\W*", plain)
    if alone:
        return {(alone.group(1) or alone.group(2)).upper()}, True
    statements = list(_STATEMENT.finditer(plain))
    if statements:
        return _letters_at(plain[statements[-1].end() :], options), True
    letter = leading_letter(plain, options) or _by_text(plain, options)
    if letter is not None:
        return {letter}, False
    named = set(_ANY_PAREN.findall(plain)) or {m for m in _MENTION.findall(plain) if m.isupper()}
    return named, False


def earlier_statement(lines: list[str], options: dict[str, str]) -> str | None:
    """The letter of the last explicit answer statement ("The answer is (B)") in ``lines``, if any."""
    for line in reversed(lines):
        plain = _plain(line)
        statements = list(_STATEMENT.finditer(plain))
        if statements:
            letters = _letters_at(plain[statements[-1].end() :], options)
            if len(letters) == 1:
                return next(iter(letters))
    return None


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
        step = triple.final_step
        chosen, stated = chosen_letters(step, options)
        where = "final step"
        if not chosen and not stated:  # the final step states nothing: the last earlier statement counts
            letter = earlier_statement(triple.response.splitlines(), options)
            if letter is not None:
                chosen, where = {letter}, "stated answer"
        # the judge worked; the response gave it nothing to compare: unscored, but not a judge failure
        if not chosen:
            what = "the stated answer names no option" if stated else "no choice found"
            return Verdict.not_applicable(f"{what} (final step {preview(step, 60)!r})")
        if len(chosen) > 1:
            return Verdict.not_applicable(f"ambiguous choice: names {', '.join(sorted(chosen))}")
        letter = next(iter(chosen))
        return Verdict(passed=letter == wanted, raw=f"chose {letter} ({where}); reference {wanted}")
