"""Other spellings of the same short answer, for the ``contains`` rule: numbers, dates, punctuation, articles, names.

``contains`` asks whether the reference occurs in the response's final step. On human-labelled open-QA
answers (EVOUNA's Natural Questions and TriviaQA, issue 23) most of its misses are spellings, not
paraphrases: "seven" for "7", "July 4, 1776" for "4 July 1776", "R.H. Thomson" for "R. H. Thomson",
"Statue of Freedom" for "The Statue of Freedom", "Wilhelm Röntgen" for "Wilhelm Conrad Röntgen". This
module gives both texts one canonical spelling and asks the same question again, on whole tokens:

- :func:`form_tokens`: :func:`~rlvr_bench.judges.normalize.normalize_text`, thousands separators dropped,
  dates written day-month-year (:func:`canonical_dates`), year ranges written in full, punctuation
  between words ignored, number words as digits (:func:`spelled_numbers`);
- :func:`matching_form`: the reference's tokens occur as a contiguous run of the step's tokens, a
  leading article of the reference being optional; failing that, a personal name may drop middle
  names or gain one (:mod:`rlvr_bench.judges.person_names`).

Every match here is on token boundaries, unlike the substring rule it extends: "7" must not pass
"seventeen" just because "17" contains "7". A reference with symbols whose loss would change its
meaning (an equation, a sign, a unit symbol) gets no second try.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from rlvr_bench.judges.normalize import normalize_text
from rlvr_bench.judges.person_names import name_match

#: A number (with its sign, decimal part or digit groups) not glued to letters, a run of letters and
#: digits ("co2", "21st"), or a math symbol. Other punctuation only separates tokens, so "R.H." and
#: "R. H." agree; a symbol stays a token so "2x+1" never reads as "2x 1", which "2x-1" would match.
_TOKEN = re.compile(r"(?<![^\W_])-?\d+(?:[.,]\d+)*(?![^\W_])|[^\W_]+|[+=*/^<>×÷±%‰°√]")
#: References that may be compared token by token: letters, digits, spaces and punctuation that only
#: separates words. "-5", "2GM/R", "e^{2x}", "35‰" or "100 °C" keep their literal comparison only.
_PLAIN_REFERENCE = re.compile(r"[^\W_][\w\s.,'’\"“”:;!?()&–—-]*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
#: "36.0" is the number 36 (a spreadsheet's spelling of it); "36.05" and "3.10" are left alone.
_ZERO_FRACTION = re.compile(r"(?<![\d.])(\d+)\.0+(?!\d|[.,]\d)")
_ARTICLES = frozenset({"the", "a", "an"})

# ------------------------------------------------------------ dates

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
#: month name or abbreviation -> full name ("sept." and "sep." both)
_MONTH_OF = {**{month: month for month in _MONTHS}, **{month[:3]: month for month in _MONTHS}, "sept": "september"}
_MONTH = r"(?P<m>" + "|".join(sorted(_MONTH_OF, key=len, reverse=True)) + r")\b\.?"
_DAY = r"(?P<d>[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
_YEAR = r"(?P<y>\d{3,4})\b(?![.,]\d)"
_COMMA = r"\s*,?\s*"
#: Most specific first, each rewritten to "day month year" (or the parts it has) before the next runs.
#: Numeric day/month orders (03/04/2017) are ambiguous between conventions and left alone.
_DATE_PATTERNS = (
    re.compile(rf"\b{_MONTH}\s+{_DAY}{_COMMA}{_YEAR}"),  # July 4, 1776 / July 4th 1776
    re.compile(rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}{_COMMA}{_YEAR}"),  # 4 July 1776 / the 4th of July, 1776
    re.compile(r"\b(?P<y>\d{4})-(?P<mm>0[1-9]|1[0-2])-(?P<d>0[1-9]|[12]\d|3[01])\b"),  # ISO 1776-07-04
    re.compile(rf"\b{_MONTH}{_COMMA}{_YEAR}"),  # July 1776 / Sept. 2017
    # a month and a day without a year; not when a number follows ("may 5 2 ..."), which is no date
    re.compile(rf"\b{_MONTH}\s+{_DAY}(?!\s*[,.]?\s*\d)"),
    re.compile(rf"\b(?:the\s+)?{_DAY}\s+(?:of\s+)?{_MONTH}"),
)
#: "2003–04" is the season 2003–2004, "1999-00" is 1999–2000.
_YEAR_RANGE = re.compile(r"\b(?P<first>\d{4})\s*[-–—]\s*(?P<second>\d{2})\b(?![-–—]?\d)")


def canonical_dates(text: str) -> str:
    """Dates in ``text`` (already casefolded) written "day month year": "july 4th, 1776", "4 july 1776",
    "the 4th of july, 1776" and "1776-07-04" all become "4 july 1776"; "sept. 2017" becomes "september 2017".

    Day first means a reference that names only the month and year ("september 2017") is a contiguous part
    of a full date in the response ("26 september 2017"), and so is a day and month without the year.
    """
    for pattern in _DATE_PATTERNS:
        text = pattern.sub(_day_month_year, text)
    return _YEAR_RANGE.sub(_full_year_range, text)


def _day_month_year(match: re.Match[str]) -> str:
    parts = match.groupdict()
    month = _MONTH_OF[parts["m"]] if parts.get("m") else _MONTHS[int(parts["mm"]) - 1]
    day = [str(int(parts["d"]))] if parts.get("d") else []
    year = [parts["y"]] if parts.get("y") else []
    return " ".join([*day, month, *year])


def _full_year_range(match: re.Match[str]) -> str:
    first = int(match.group("first"))
    second = first // 100 * 100 + int(match.group("second"))
    if second <= first:  # "1999-00": the next century
        second += 100
    return f"{first}–{second}"


# ------------------------------------------------------------ numbers

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
          "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_UNITS = ("zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
                  "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
                  "seventeenth", "eighteenth", "nineteenth")
_ORDINAL_TENS = ("twentieth", "thirtieth", "fortieth", "fiftieth", "sixtieth", "seventieth", "eightieth",
                 "ninetieth")
_SMALL = {**{w: n for n, w in enumerate(_UNITS)}, **{w: 20 + 10 * n for n, w in enumerate(_TENS)}}
_SMALL_ORDINAL = {**{w: n for n, w in enumerate(_ORDINAL_UNITS)},
                  **{w: 20 + 10 * n for n, w in enumerate(_ORDINAL_TENS)}}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_SCALE_ORDINALS = {"hundredth": 100, "thousandth": 1000, "millionth": 10**6, "billionth": 10**9}


def spelled_numbers(tokens: Sequence[str]) -> list[str]:
    """Runs of number words as digits: "twenty one" -> "21", "one hundred and five" -> "105",
    "seventh" -> "7th", "twenty first" -> "21st" (hyphens were already token separators).

    Ordinals keep a suffix, so "first" (1st) is not the number 1. "a hundred" and fractions are left alone.
    """
    out: list[str] = []
    index = 0
    while index < len(tokens):
        number = _read_number(tokens, index)
        if number is None:
            out.append(tokens[index])
            index += 1
            continue
        value, ordinal, index = number
        out.append(f"{value}{_ordinal_suffix(value)}" if ordinal else str(value))
    return out


def _read_number(tokens: Sequence[str], start: int) -> tuple[int, bool, int] | None:
    """(value, is_ordinal, index after it) of the number words starting at ``tokens[start]``; None if none."""
    total, group, last, index = 0, 0, "", start  # last: "", "unit", "ten", "hundred", "scale" or "and"
    while index < len(tokens):
        word = tokens[index]
        small = _SMALL.get(word, _SMALL_ORDINAL.get(word))
        if small is not None:
            # a word below 100 starts a group, or adds a unit to a bare ten ("twenty one", not "twenty ten")
            if not (last in ("", "hundred", "scale", "and") or (last == "ten" and 1 <= small <= 9)):
                break
            group += small
            last = "ten" if small >= 20 and small % 10 == 0 else "unit"
            if word in _SMALL_ORDINAL:
                return total + group, True, index + 1
        elif word in _SCALES or word in _SCALE_ORDINALS:
            scale = _SCALES.get(word, _SCALE_ORDINALS.get(word, 1))
            if last not in ("unit", "ten", "hundred") or (scale == 100 and last == "hundred"):
                break
            if scale == 100:
                group, last = group * 100, "hundred"
            else:
                total, group, last = total + group * scale, 0, "scale"
            if word in _SCALE_ORDINALS:
                return total + group, True, index + 1
        elif word == "and" and last in ("hundred", "scale") and index + 1 < len(tokens) \
                and (tokens[index + 1] in _SMALL or tokens[index + 1] in _SMALL_ORDINAL):
            last = "and"  # "one hundred and five"
        else:
            break
        index += 1
    if index == start:
        return None
    return total + group, False, index


def _ordinal_suffix(value: int) -> str:
    if 10 <= value % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(value % 10, "th")


# ------------------------------------------------------------ matching


def form_tokens(text: str) -> list[str]:
    """The canonical tokens of ``text``: normalised, dates day-month-year, numbers as digits, no punctuation."""
    return list(_cached_form_tokens(text))


#: A response is compared with each of its item's references in turn (TriviaQA items have a dozen aliases):
#: its tokens are computed once. Bounded, since a training run judges millions of distinct responses.
@lru_cache(maxsize=4096)
def _cached_form_tokens(text: str) -> tuple[str, ...]:
    text = _ZERO_FRACTION.sub(r"\1", _THOUSANDS.sub("", normalize_text(text)))
    return tuple(spelled_numbers(_TOKEN.findall(canonical_dates(text))))


def occurs_in(needle: Sequence[str], haystack: Sequence[str]) -> bool:
    """True when ``needle`` (non-empty) is a contiguous run of ``haystack``."""
    size = len(needle)
    if not size:
        return False
    first = needle[0]
    needle = tuple(needle)
    return any(haystack[i] == first and tuple(haystack[i : i + size]) == needle
               for i in range(len(haystack) - size + 1))


def without_article(tokens: list[str]) -> list[str]:
    """``tokens`` without a leading "the"/"a"/"an", unless what remains is one short word.

    "The Statue of Freedom" is answered by "Statue of Freedom"; "The Who" is not answered by any "who".
    """
    if len(tokens) > 1 and tokens[0] in _ARTICLES:
        rest = tokens[1:]
        if len(rest) > 1 or len(rest[0]) > 3 or rest[0].isdigit():
            return rest
    return tokens


def matching_form(reference: str, final_step: str) -> str | None:
    """Which other spelling of ``reference`` occurs in ``final_step``: "forms" (numbers, dates, punctuation,
    a leading article), "name" (a personal name with middle names dropped or one added), or None.

    Call it when the literal, normalised reference was not found: it only adds matches.
    """
    if not _PLAIN_REFERENCE.fullmatch(normalize_text(reference)):
        return None
    step_tokens = _cached_form_tokens(final_step)
    reference_tokens = list(_cached_form_tokens(reference))
    if occurs_in(reference_tokens, step_tokens) or occurs_in(without_article(reference_tokens), step_tokens):
        return "forms"
    if name_match(reference, final_step):
        return "name"
    return None
