"""Pure functions turning a verifier's verdict-word probabilities into a :class:`Verdict`.

The study's soft reward is P(YES) / (P(YES) + P(NO)). A word reaches the model
in many spellings ("YES", "Yes", "yes", " YES", ...), and a tokenizer may write
a spelling as several tokens (see :mod:`rlvr_bench.judges.verdict_sequences`),
so each side's probability is the summed probability that generation starts
with one of its spellings. ``passed`` is the side with the larger probability;
an exact tie counts as NO (the study's verifier answers NO when in doubt).

The *verdict mass* P(YES) + P(NO) says how much the model is answering the
question at all. The soft score is the conditional probability of YES given
that the model answers YES or NO, which is well defined for any positive mass,
so a verdict is scored whenever the mass is at least ``min_verdict_mass``
(default 1e-6: below it the ratio is noise) and unscored below. Below
``low_verdict_mass`` (default 0.5: the model more likely writes something else
first) the verdict is still scored but its ``error`` field says "low verdict
mass" with the mass and what the model began to write, so a report can count
and filter those verdicts instead of taking them at face value.

With an API's top log-probabilities (openai, vllm) the mass is what the
returned tokens hold; when no returned token spells either word the text of the
output decides (``p_pass`` None) or, if it is neither word, the verdict is
unscored: the judge did not follow the format, which is a judge failure and
never an "incorrect" answer.

Nothing here imports a model library; the backends (hf, openai, vllm) extract
probabilities and call these functions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rlvr_bench.records import Verdict

#: markers some tokenizers put in raw token strings for a leading space
_SPACE_MARKERS = "\u0120\u2581"  # "Ġ" (byte-level BPE), "▁" (SentencePiece)
_FIRST_WORD_RE = re.compile(r"[^\W_]+")

#: default verdict mass below which a verdict is unscored
MIN_VERDICT_MASS = 1e-6
#: default verdict mass below which a scored verdict is flagged "low verdict mass"
LOW_VERDICT_MASS = 0.5
#: how a flagged verdict's ``error`` starts (reports count verdicts by it)
LOW_MASS_PREFIX = "low verdict mass"


@dataclass(frozen=True)
class VerdictWords:
    """The words that mean "correct" (positive) and "not correct" (negative).

    The study uses YES / NO. CompassVerifier uses A (correct) against B
    (incorrect) and C (invalid): both B and C are negative for a reward.
    """

    positive: tuple[str, ...] = ("YES",)
    negative: tuple[str, ...] = ("NO",)

    def __post_init__(self) -> None:
        if not self.positive or not self.negative:
            raise ValueError("verdict words need at least one positive and one negative word")
        overlap = {w.casefold() for w in self.positive} & {w.casefold() for w in self.negative}
        if overlap:
            raise ValueError(f"verdict words {sorted(overlap)} are both positive and negative")

    def classify(self, token: str) -> bool | None:
        """True if ``token`` is a positive word, False if negative, None if neither.

        Comparison ignores case and surrounding whitespace (and the tokenizer
        space markers "Ġ" / "▁"), so " Yes", "YES" and "yes" all match YES.
        """
        key = normalize_token(token)
        if not key:
            return None
        if key in {w.casefold() for w in self.positive}:
            return True
        if key in {w.casefold() for w in self.negative}:
            return False
        return None

    def extends(self, text: str) -> bool:
        """True if ``text`` is a proper beginning of a verdict word (up to case and leading whitespace).

        "Y" and " Y" begin YES; "YES", "" and "Y " (a word boundary) do not. The
        openai backend follows such partial outputs to score multi-token words.
        """
        key = text.lstrip().lstrip(_SPACE_MARKERS).casefold()
        if not key or key != key.rstrip():
            return False
        return any(len(w) > len(key) and w.casefold().startswith(key) for w in (*self.positive, *self.negative))

    def describe(self) -> str:
        """"YES nor NO" style text for error messages."""
        return f"{'/'.join(self.positive)} nor {'/'.join(self.negative)}"

    def spellings(self) -> list[str]:
        """Surface forms a tokenizer may hold as one token: case variants, with and without a leading space."""
        forms: list[str] = []
        for word in (*self.positive, *self.negative):
            for cased in dict.fromkeys((word, word.upper(), word.lower(), word.capitalize())):
                for spaced in (cased, " " + cased):
                    if spaced not in forms:
                        forms.append(spaced)
        return forms


def normalize_token(token: str) -> str:
    return token.strip().strip(_SPACE_MARKERS).strip().casefold()


def verdict_probabilities(top: Iterable[tuple[str, float]], words: VerdictWords) -> tuple[float, float]:
    """(P(positive), P(negative)): summed probabilities of the tokens spelling each side.

    ``top`` holds (token text, natural-log probability) pairs, e.g. an API's
    top_logprobs for the first output token.
    """
    p_positive = p_negative = 0.0
    for token, logprob in top:
        side = words.classify(token)
        if side is None or logprob is None or math.isnan(logprob):
            continue
        if side:
            p_positive += math.exp(logprob)
        else:
            p_negative += math.exp(logprob)
    return p_positive, p_negative


def verdict_from_probabilities(output: str, p_positive: float, p_negative: float, words: VerdictWords,
                               prompt_tokens: int | None = None, completion_tokens: int | None = None,
                               min_mass: float = MIN_VERDICT_MASS, low_mass: float = LOW_VERDICT_MASS) -> Verdict:
    """The verdict for summed side probabilities; ``output`` is what the model began to write (kept as raw).

    Scored by the probabilities when the mass reaches ``min_mass`` (flagged below
    ``low_mass``). With no mass at all (no verdict token among an API's returned
    log-probabilities) the output text decides and ``p_pass`` is None.
    """
    total = p_positive + p_negative
    if not math.isfinite(total) or total <= 0.0:
        side = words.classify(output)
        if side is None:  # a multi-character output such as "YES." (servers that return more than one token)
            side = words.classify(first_word(output))
        if side is None:
            return _unparseable(output, f"output {output!r} is neither {words.describe()}",
                                prompt_tokens, completion_tokens)
        return Verdict(passed=side, p_pass=None, raw=output,
                       error="no soft score: no verdict token among the returned log-probabilities",
                       prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    both = f"{'/'.join(words.positive)} and {'/'.join(words.negative)}"
    if total < min_mass:
        return Verdict(passed=None, p_pass=None, raw=output,
                       error=f"unscored: {both} hold {total:.3g} of the probability (less than "
                             f"min_verdict_mass={min_mass:g}); the model began {output!r}",
                       prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    warning = None
    if total < low_mass:
        warning = (f"{LOW_MASS_PREFIX}: {both} hold {total:.3g} of the probability (less than "
                   f"low_verdict_mass={low_mass:g}); the model began {output!r}")
    return Verdict(passed=p_positive > p_negative, p_pass=p_positive / total, raw=output, error=warning,
                   prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def verdict_mass_from_error(verdict: Verdict) -> float | None:
    """The verdict mass a flagged verdict records in its error ("low verdict mass: ... hold 0.031 ..."), or None."""
    if not verdict.error or not verdict.error.startswith(LOW_MASS_PREFIX):
        return None
    match = re.search(r" hold ([0-9.e+-]+) of the probability", verdict.error)
    return float(match.group(1)) if match else None


def verdict_from_top_logprobs(output: str, top: Sequence[tuple[str, float]] | None, words: VerdictWords,
                              prompt_tokens: int | None = None, completion_tokens: int | None = None,
                              min_mass: float = MIN_VERDICT_MASS, low_mass: float = LOW_VERDICT_MASS) -> Verdict:
    """Verdict from the first output token and its top log-probabilities.

    With ``top`` None or empty (a server that ignores ``logprobs``) the verdict
    comes from the text alone and ``p_pass`` is None.
    """
    if not top:
        return verdict_from_text(output, words, prompt_tokens, completion_tokens)
    p_positive, p_negative = verdict_probabilities(top, words)
    return verdict_from_probabilities(output, p_positive, p_negative, words, prompt_tokens, completion_tokens,
                                      min_mass, low_mass)


def first_word(text: str) -> str:
    """The first run of letters or digits in ``text`` ("**Yes**." -> "Yes"); "" if none."""
    match = _FIRST_WORD_RE.search(text)
    return match.group(0) if match else ""


def verdict_from_text(text: str, words: VerdictWords, prompt_tokens: int | None = None,
                      completion_tokens: int | None = None) -> Verdict:
    """Verdict from output text only (no log-probabilities): its first word decides, ``p_pass`` is None."""
    word = first_word(text)
    if not word:
        expected = f"{'/'.join(words.positive)} or {'/'.join(words.negative)}"
        return _unparseable(text, f"empty output (expected {expected})", prompt_tokens, completion_tokens)
    side = words.classify(word)
    if side is None:
        return _unparseable(text, f"output {text!r} is neither {words.describe()}", prompt_tokens, completion_tokens)
    return Verdict(passed=side, p_pass=None, raw=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def _unparseable(raw: str, detail: str, prompt_tokens: int | None, completion_tokens: int | None) -> Verdict:
    return Verdict(passed=None, p_pass=None, raw=raw, error=f"unparseable verdict: {detail}",
                   prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
