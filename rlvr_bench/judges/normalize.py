"""Text helpers shared by the rule judges: Unicode clean-up, answer extraction and normalisation.

Every judge sees text that went through :func:`normalize_unicode` once, when its
:class:`~rlvr_bench.judges.base.Triple` was built. Every rule judge sees the
response's *final step* (its last non-empty line, see :func:`rlvr_bench.records.final_step`),
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


#: Characters that never change an answer and only break comparisons: soft hyphen, zero-width space,
#: non-joiner and joiner, word joiner, the byte-order mark (also when pasted inside a text), Mongolian
#: vowel separator.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff\u180e"))
#: Spaces that group digits ("1 000 000" typeset with thin, narrow no-break, figure or no-break spaces):
#: NFKC would turn them into plain spaces, after which "1 000" reads as two numbers.
_GROUPING_SPACE = re.compile(r"(?<=\d)[\u00a0\u2007\u2009\u202f](?=\d{3}(?!\d))")
_VULGAR_FRACTIONS = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5), "⅖": (2, 5),
                     "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅐": (1, 7), "⅛": (1, 8), "⅜": (3, 8),
                     "⅝": (5, 8), "⅞": (7, 8), "⅑": (1, 9), "⅒": (1, 10), "↉": (0, 3)}
#: "3½" is the mixed number 7/2; "½" alone is 1/2 (NFKC would give "1⁄2" with a fraction slash, which
#: no number reader takes for a division).
_VULGAR = re.compile(r"(\d*)([" + "".join(_VULGAR_FRACTIONS) + "])")
#: Superscript and subscript digits around a fraction slash ("¹⁄₂").
_SLASHED_FRACTION = re.compile(r"([⁰¹²³⁴⁵⁶⁷⁸⁹]+)[⁄/]([₀₁₂₃₄₅₆₇₈₉]+)")
_SUBSCRIPT_DIGITS = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
#: Dashes that, written directly before a number and not after a letter, digit or closing bracket, are
#: a minus sign: word processors turn "-5" into "–5". Between two numbers ("3–5") a dash is a range and
#: is kept; after a word ("answer—5") it is punctuation and is kept.
_DASH_AS_MINUS = re.compile(r"(?<![\w)\]}])[\u2012\u2013\u2014\u2015\ufe58](?=\.?\d)")


def normalize_unicode(text: str) -> str:
    """Unicode forms that never change an answer, made one: done once for every judge, on every text it sees.

    In order: invisible characters go (soft hyphen, zero-width characters, BOM); digit-grouping spaces go
    ("1 000" with a thin space is 1000); vulgar fractions become ASCII fractions ("½" -> "1/2",
    "3½" -> "7/2"); superscripts become ``^`` powers ("10⁻³" -> "10^-3", see :func:`plain_math_symbols`);
    the ordinal indicator after a digit is a degree sign ("25ºC"); NFKC (full-width forms, ligatures,
    "µ" -> "μ", "℃" -> "°C"); the fraction and division slashes become "/"; the Unicode minus and the
    hyphens U+2010/U+2011 become "-", and so does an en or em dash used as a sign (see
    ``_DASH_AS_MINUS``: "–5" is -5). ASCII text is returned unchanged.
    """
    if text.isascii():
        return text
    text = text.translate(_INVISIBLE)
    text = _GROUPING_SPACE.sub("", text)
    text = _SLASHED_FRACTION.sub(lambda m: m.group(1).translate(_SUPERSCRIPT_DIGITS) + "/"
                                 + m.group(2).translate(_SUBSCRIPT_DIGITS), text)
    text = _VULGAR.sub(_plain_fraction, text)
    text = plain_math_symbols(text)
    text = re.sub(r"(?<=\d)(\s?)º", r"\1°", text)
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\u2044", "/").replace("\u2215", "/")
    text = text.replace("\u2010", "-").replace("\u2011", "-")
    return _DASH_AS_MINUS.sub("-", text)


def _plain_fraction(match: re.Match[str]) -> str:
    numerator, denominator = _VULGAR_FRACTIONS[match.group(2)]
    whole = match.group(1)
    if whole:
        return f"{int(whole) * denominator + numerator}/{denominator}"
    return f"{numerator}/{denominator}"


#: Digits grouped by single spaces in threes ("1 000", "12 345 678"), as SI and many style guides write
#: them: one number, not several. Applied by the number readers (``numeric``, ``math``) only, since in
#: prose "3 100-m races" may be two numbers.
_SPACE_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?: \d{3})+(?!\d)")


def join_digit_groups(text: str) -> str:
    """ "1 000" -> "1000", "12 345 678" -> "12345678" (groups of exactly three digits after the first)."""
    return _SPACE_GROUPED.sub(lambda m: m.group(0).replace(" ", ""), text)


#: Words that offer alternatives ("either 5 or 4", "5 or 4"): a response that names several values
#: in its answer has not committed to one.
HEDGE_WORDS = re.compile(r"\b(?:either|or|and/or)\b", re.IGNORECASE)


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
