"""A personal name written with fewer or more given names than the reference, for the ``contains`` rule.

Human raters accept "Wilhelm Röntgen" for the reference "Wilhelm Conrad Röntgen", "Keeley Hawes" for
"Keeley Clare Julia Hawes" and "Thomas Alva Edison" or "Thomas O. Chisholm" for "Thomas Edison" and
"Thomas Chisholm" (EVOUNA's Natural Questions, issue 23). :func:`name_match` accepts exactly that shape:
the reference's first and last names, in order and adjacent except for the reference's own middle names
(any of which may be left out) and at most one further capitalised given name or initial.

What it cannot tell apart, and passes: two people who share a first and last name and differ by a middle
name ("John Adams" / "John Quincy Adams"). What it refuses: a different surname ("George Washington" is
not "George Washington Carver"), a reversed or split name, or more than one added word.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")
#: A reference that may be a name: words of letters joined by spaces, periods, apostrophes or hyphens.
#: Digits, commas and brackets ("Braddock, James", "Harrison Ford (actor)") say it is something else.
_NAME_TEXT = re.compile(r"[^\W\d_]+(?:[ .'’-]+[^\W\d_]+)*\.?")
#: Lowercase words that belong inside a name ("Ludwig van Beethoven", "Marie van Brittan Brown").
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "du", "le", "la", "bin", "ibn", "al", "y"})
#: A reference that starts with an article is a title or a place ("The Stanley Hotel"), never a person.
_ARTICLES = frozenset({"the", "a", "an"})
#: Titles and honorifics before a name are not part of it: "Sir Ernest Rutherford" is "Ernest Rutherford",
#: "Prime Minister Shinzo Abe" is "Shinzo Abe". Dropped only when two name words remain ("King George" stays).
_TITLES = frozenset({"dr", "doctor", "mr", "mrs", "ms", "miss", "sir", "dame", "lord", "lady", "hon", "honourable",
                     "honorable", "rev", "reverend", "st", "saint", "president", "prime", "minister", "king", "queen",
                     "prince", "princess", "pope", "general", "gen", "captain", "capt", "senator", "sen", "judge",
                     "justice", "professor", "prof"})
_MAX_WORDS = 6


def name_parts(reference: str) -> list[str] | None:
    """The casefolded words of ``reference`` when it reads as a personal name, else None.

    A name is 2 to 6 words, each capitalised except lowercase particles inside it, without digits, not
    starting with an article; leading titles ("Sir", "Dr.", "Prime Minister") are dropped.
    """
    reference = reference.strip()
    if not _NAME_TEXT.fullmatch(reference):
        return None
    # A generational suffix stays the last word: dropping it would let "Harry Potter III" (a book) pass
    # for any "Harry Potter", and "Robert Adamson IV" for his father.
    words = _WORD.findall(reference)
    while len(words) > 2 and words[0].casefold() in _TITLES:
        words.pop(0)
    if not 2 <= len(words) <= _MAX_WORDS or words[0].casefold() in _ARTICLES:
        return None
    for position, word in enumerate(words):
        inside = 0 < position < len(words) - 1
        if not (word[0].isupper() or (inside and word in _PARTICLES)):
            return None
    return [word.casefold() for word in words]


def name_match(reference: str, text: str) -> bool:
    """True when ``text`` names the person ``reference`` names, with middle names dropped or one added.

    Needs a name-shaped reference (:func:`name_parts`); letter case in ``text`` decides what counts as an
    added given name, so a lowercase "john and adams" is not "John Adams".
    """
    parts = name_parts(reference)
    if parts is None:
        return False
    words = _WORD.findall(text)
    folded = [word.casefold() for word in words]
    return any(word == parts[0] and _rest_of_name(words, folded, start + 1, parts)
               for start, word in enumerate(folded))


def _rest_of_name(words: list[str], folded: list[str], index: int, parts: list[str]) -> bool:
    """After the first name at ``index - 1``: the reference's middle names in order, each optional, at most
    one other capitalised word, then the surname."""
    middle, last = parts[1:-1], parts[-1]
    next_middle, added = 0, False
    while index < len(folded):
        word = folded[index]
        if word == last:
            return True
        if word in middle[next_middle:]:
            next_middle = middle.index(word, next_middle) + 1
        elif not added and words[index][0].isupper():
            added = True
        else:
            return False
        index += 1
    return False
