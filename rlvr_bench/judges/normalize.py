"""Text helpers shared by the rule judges: answer extraction and normalisation.

Every rule judge sees the response's *final step* (its last non-empty line),
as the study's verifier does. Policies are asked to end with "Therefore, the
answer is ...", so :func:`extract_answer` cuts such a lead-in off before a
judge compares anything; :func:`normalize_text` then removes differences that
never change an answer (case, Unicode width, spacing, LaTeX wrappers,
surrounding quotes and punctuation).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

#: The *last* answer marker on the line wins, so "we first get 5 ... the answer is 7" gives "7".
#: English lead-ins ("Therefore, the answer is", "The final answer is:", "Answer:", "Final answer =")
#: and the Chinese ones of the study's math data ("所以答案是", "答案为：").
_ANSWER_MARKER = re.compile(
    r"(?:\b(?:final\s+|correct\s+)?answer\s*(?:(?:is|was|would\s+be|will\s+be)\b)?\s*[:=：]?"
    r"|答案\s*(?:是|为|為)?\s*[:：]?)",
    re.IGNORECASE,
)
#: A marker only counts when something separates it from the answer ("answer is", "answer:"), not in
#: "answered" or "the answer key".
_MARKER_TAIL = re.compile(r"(?:is|was|be|[:=：]|是|为|為)\s*$", re.IGNORECASE)

#: LaTeX commands whose braced argument is the visible text.
_UNWRAP_COMMANDS = ("boxed", "fbox", "text", "textbf", "textit", "textrm", "mathrm", "mathbf", "mathit",
                    "operatorname", "mbox")
_UNWRAP_PATTERN = re.compile(r"\\(" + "|".join(_UNWRAP_COMMANDS) + r")\s*\{")
_BOXED_PATTERN = re.compile(r"\\(?:boxed|fbox)\s*\{")

#: Characters stripped from both ends of a normalised answer: quotes, sentence punctuation
#: (ASCII and CJK) and markdown emphasis. Brackets are kept: "(1, 2)" and "[1, 2]" differ.
_EDGE_PUNCTUATION = " \t\"'`“”‘’«».,;:!?。，；：！？*_"

_WORD_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]"  # one token per CJK / kana / hangul character
    r"|\d+(?:\.\d+)?"  # a number, with its decimal part
    r"|[^\W_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+"  # a run of other letters/digits
)

_SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")
_SUPERSCRIPT_RUN = re.compile(r"[⁺⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+")

_SCIENTIFIC_E = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)[eE]([-+]?\d+)(?![\w.])")
_SCIENTIFIC_TIMES = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:[x×*·⋅]|\\times|\\cdot)\s*10\s*\^\s*\{?\s*([-+−]?\d+)\s*\}?"
)


def braced_argument(text: str, open_brace: int) -> tuple[str, int] | None:
    """The text inside the braces opening at ``text[open_brace] == "{"``, and the index after the closing brace.

    None when the braces are unbalanced.
    """
    depth = 0
    for index in range(open_brace, len(text)):
        char = text[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_brace + 1 : index], index + 1
    return None


def unwrap_latex(text: str) -> str:
    r"""Replace ``\boxed{X}``, ``\text{X}``, ``\mathrm{X}`` (and friends) by X, innermost first."""
    while True:
        match = _UNWRAP_PATTERN.search(text)
        if match is None:
            return text
        inner = braced_argument(text, match.end() - 1)
        if inner is None:  # unbalanced: drop the command word and keep the rest as written
            return text[: match.start()] + text[match.end() :]
        content, after = inner
        text = text[: match.start()] + content + text[after:]


def last_boxed(text: str) -> str | None:
    r"""The content of the last ``\boxed{...}`` in ``text``, or None when there is none."""
    found: str | None = None
    for match in _BOXED_PATTERN.finditer(text):
        inner = braced_argument(text, match.end() - 1)
        if inner is not None:
            found = inner[0]
    return found


def extract_answer(final_step: str) -> str:
    r"""The answer stated in a final step, without its lead-in and trailing period.

    Rules, in order:

    1. markdown emphasis (``**``, ``__``) is removed;
    2. a ``\boxed{...}`` answer wins: its content is returned;
    3. otherwise the text after the *last* answer marker ("Therefore, the answer is", "The final answer
       is:", "Answer:", "答案是", ...) is kept; without a marker the whole line is the answer;
    4. surrounding whitespace, quotes and a trailing period / sentence punctuation are stripped.

    LaTeX inside the answer (``$\frac{1}{2}$``) is kept: the math judge needs it, and
    :func:`normalize_text` removes it for string comparisons. Empty input gives "".
    """
    text = final_step.strip().replace("**", "").replace("__", "")
    boxed = last_boxed(text)
    if boxed is not None:
        return _strip_edges(boxed)
    answer_start = 0
    for match in _ANSWER_MARKER.finditer(text):
        if _MARKER_TAIL.search(match.group(0)):
            answer_start = match.end()
    return _strip_edges(text[answer_start:])


def _strip_edges(text: str) -> str:
    return text.strip(_EDGE_PUNCTUATION)


def normalize_text(text: str) -> str:
    r"""A canonical form for string comparison.

    Unicode NFKC (full-width digits and letters become ASCII), the Unicode minus becomes "-", LaTeX
    wrappers go (``\boxed{}``, ``\text{}``, ``\mathrm{}``, ``$...$``, ``\(...\)``, ``\[...\]``),
    ``\%`` becomes "%", LaTeX spacing commands and markdown emphasis are removed, the text is casefolded,
    whitespace is collapsed to single spaces and surrounding quotes / punctuation are stripped.
    """
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    text = unwrap_latex(text)
    for delimiter in ("\\(", "\\)", "\\[", "\\]", "$"):
        text = text.replace(delimiter, " ")
    text = text.replace("\\%", "%").replace("\\!", "")
    text = re.sub(r"\\[,;: ]", " ", text)
    text = text.replace("**", "").replace("__", "")
    text = " ".join(text.casefold().split())
    return _strip_edges(text)


def word_tokens(text: str) -> list[str]:
    """Lowercase word and number tokens of ``text`` (NFKC-normalised).

    A number keeps its decimal part ("3.5" is one token); each CJK character is its own token, since
    Chinese has no spaces between words; any other run of letters and digits is one token ("co2").
    """
    return _WORD_TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def plain_math_symbols(text: str) -> str:
    """Unicode superscripts as ``^`` powers ("10⁻³" -> "10^-3", "m²" -> "m^2") and the Unicode minus as "-".

    Done before NFKC, which would turn "10⁻³" into "10-3".
    """
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPT_DIGITS), text)
    return text.replace("\u2212", "-")


def expand_scientific(text: str) -> str:
    """Rewrite scientific notation ("3.5e-3", "3.5 x 10^-3", "3.5 \\times 10^{-3}") as a plain decimal ("0.0035").

    math-verify reads "3.5e-3" as 3.5 and "3.5 x 10^-3" outside LaTeX as 10, so the math judge
    expands these before parsing.
    """

    def as_decimal(mantissa: str, exponent: str) -> str | None:
        try:
            value = Decimal(mantissa).scaleb(int(exponent.replace("−", "-")))
        except (InvalidOperation, ValueError):
            return None
        plain = format(value.normalize(), "f")
        return plain

    def replace(match: re.Match[str]) -> str:
        expanded = as_decimal(match.group(1), match.group(2))
        return expanded if expanded is not None else match.group(0)

    return _SCIENTIFIC_TIMES.sub(replace, _SCIENTIFIC_E.sub(replace, text))
