"""Pure functions turning a verifier's first output token into a :class:`Verdict`.

The study's soft reward is P(YES) / (P(YES) + P(NO)) over the first generated
token. A word reaches the model as several tokens ("YES", "Yes", "yes", " YES",
...), so each side sums the probabilities of every token that *is* the word up
to case and surrounding whitespace. ``passed`` is the side with the larger sum;
an exact tie counts as NO (the study's verifier answers NO when in doubt).

The verdict is unscored (``passed=None`` with the reason) when the output token
itself is neither word: the judge did not follow the format, which is a judge
failure and never an "incorrect" answer.

Nothing here imports a model library; the backends (hf, openai, vllm) extract
(token text, log-probability) pairs and call these functions.
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
                               prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Verdict:
    """The verdict for a first token ``output`` given the summed side probabilities.

    Unscored when ``output`` is neither word. When no verdict token is among the
    probabilities (both zero) the text decides and ``p_pass`` is None.
    """
    side = words.classify(output)
    if side is None:  # a multi-character output such as "YES." (servers that return more than one token)
        side = words.classify(first_word(output))
    if side is None:
        return _unparseable(output, f"output {output!r} is neither {words.describe()}",
                            prompt_tokens, completion_tokens)
    total = p_positive + p_negative
    if total <= 0.0:
        return Verdict(passed=side, p_pass=None, raw=output,
                       error="no soft score: no verdict token among the returned log-probabilities",
                       prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    return Verdict(passed=p_positive > p_negative, p_pass=p_positive / total, raw=output,
                   prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def verdict_from_top_logprobs(output: str, top: Sequence[tuple[str, float]] | None, words: VerdictWords,
                              prompt_tokens: int | None = None, completion_tokens: int | None = None) -> Verdict:
    """Verdict from the first output token and its top log-probabilities.

    With ``top`` None or empty (a server that ignores ``logprobs``) the verdict
    comes from the text alone and ``p_pass`` is None.
    """
    if not top:
        return verdict_from_text(output, words, prompt_tokens, completion_tokens)
    p_positive, p_negative = verdict_probabilities(top, words)
    return verdict_from_probabilities(output, p_positive, p_negative, words, prompt_tokens, completion_tokens)


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
