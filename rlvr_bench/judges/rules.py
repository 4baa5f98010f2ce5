"""String-rule judges: exact match, the study's "contains" rule and its Jaccard soft reward.

All three look only at the response's final step (its last non-empty line), as
the study's verifier does:

- ``exact``: the extracted answer equals the reference after normalisation;
- ``contains``: the normalised reference occurs in the normalised final step
  (the study's rule-based *binary* reward), also when spelled differently there
  (number words, date order, punctuation, an article, a person's middle names);
- ``jaccard``: word-token Jaccard similarity between the extracted answer and the
  reference (the study's rule-based *soft* reward).

This module also holds :func:`read_params`, the parameter reader every offline
judge uses, so a mistyped parameter name is an error and not a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.answer_forms import matching_form
from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.judges.normalize import extract_answer, normalize_text, word_tokens
from rlvr_bench.records import Verdict

#: How much of a text a verdict's ``raw`` field repeats (characters).
RAW_PREVIEW_CHARS = 80


def preview(text: str, limit: int = RAW_PREVIEW_CHARS) -> str:
    """``text`` cut to ``limit`` characters for a verdict's ``raw`` field."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_params(spec: JudgeSpec, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``spec.params`` merged over ``defaults``, each value coerced to its default's type.

    Raises ConfigError (one line) for an unknown parameter or a value of the wrong type. A default
    of None accepts a string or None.
    """
    unknown = sorted(set(spec.params) - set(defaults))
    where = f"judge {spec.name!r}" + (f" ({spec.source})" if spec.source else "")
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise ConfigError(f"{where}: unknown parameter {unknown[0]!r} for backend {spec.backend!r} (known: {known})")
    values = dict(defaults)
    for name, value in spec.params.items():
        default = defaults[name]
        values[name] = _coerce(value, default, f"{where}: parameter {name!r}")
    return values


def _coerce(value: Any, default: Any, where: str) -> Any:
    if default is None:
        if value is None or isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and not float(value).is_integer():
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return type(default)(value)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def require_range(spec: JudgeSpec, name: str, value: float, low: float, high: float) -> None:
    """ConfigError unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise ConfigError(f"judge {spec.name!r}: parameter {name!r} must be in [{low}, {high}], got {value}")


class LocalJudge(BaseJudge):
    """A judge that runs in this process with validated parameters (every judge in this package).

    Subclasses declare ``DEFAULTS`` and, unless they batch (the embedding judge does), decide each
    triple on its own in ``judge_one``.
    """

    #: parameter name -> default; documented on each subclass
    DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        self.params = self.validated_params(spec)

    @classmethod
    def validated_params(cls, spec: JudgeSpec) -> dict[str, Any]:
        return read_params(spec, cls.DEFAULTS)

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        """Rule judges need nothing beyond the standard library; only the parameters can be wrong."""
        try:
            cls.validated_params(spec)
        except ConfigError as exc:
            return str(exc)
        return None

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        return [self.judge_one(triple) for triple in triples]

    def judge_one(self, triple: Triple) -> Verdict:
        raise NotImplementedError


class ExactJudge(LocalJudge):
    """The extracted answer equals the reference after :func:`normalize_text`. Binary; no parameters.

    An empty reference cannot be matched meaningfully: the verdict is unscored.
    """

    soft = False

    def judge_one(self, triple: Triple) -> Verdict:
        reference = normalize_text(triple.reference)
        if not reference:
            return Verdict.not_applicable("empty reference")
        answer = normalize_text(extract_answer(triple.final_step))
        return Verdict(passed=answer == reference, raw=f"answer={preview(answer)!r}")


class ContainsJudge(LocalJudge):
    """The study's rule-based binary reward: the normalised reference occurs in the normalised final step.

    Known weakness, kept on purpose because it is the baseline being measured: a substring is enough,
    so reference "3" passes the response "30", and a hedge "3 or 4" passes too.

    When the literal reference is not there, another spelling of it may be (:mod:`rlvr_bench.judges.answer_forms`):
    number words as digits ("seven" for "7"), any date order ("July 4, 1776" for "4 July 1776"), punctuation
    between words ("R.H. Thomson"), no leading article ("Statue of Freedom" for "The Statue of Freedom"), or a
    personal name with middle names dropped or one added ("Wilhelm Röntgen" for "Wilhelm Conrad Röntgen").
    These match whole tokens only, so they never add a "3" in "30" kind of pass.

    Parameters:
        forms (bool, default true): try those other spellings; false is the study's literal rule.
    """

    soft = False
    DEFAULTS: ClassVar[dict[str, Any]] = {"forms": True}

    def judge_one(self, triple: Triple) -> Verdict:
        reference = normalize_text(triple.reference)
        if not reference:
            return Verdict.not_applicable("empty reference")
        step = normalize_text(triple.final_step)
        if reference in step:
            return Verdict(passed=True, raw="found in: " + repr(preview(step)))
        form = matching_form(triple.reference, triple.final_step) if self.params["forms"] else None
        if form is not None:
            return Verdict(passed=True, raw=f"found as {form} in: " + repr(preview(step)))
        return Verdict(passed=False, raw="not found in: " + repr(preview(step)))


class JaccardJudge(LocalJudge):
    """The study's rule-based soft reward: Jaccard similarity of word tokens.

    ``p_pass = |A ∩ B| / |A ∪ B|`` over the *sets* of lowercase word/number tokens of the extracted
    answer (A) and the reference (B), in [0, 1].

    Parameters:
        threshold (float in [0, 1], default 0.5): ``passed = p_pass >= threshold``. At 0.5 the shared
            tokens are at least as many as the unshared ones (|A ∩ B| >= |A Δ B|): a one-word reference
            still passes with one extra word ("Paris, France" for "Paris"), not with two.

    A reference without word tokens is unscored; an answer without tokens scores 0.
    """

    soft = True
    DEFAULTS: ClassVar[dict[str, Any]] = {"threshold": 0.5}

    @classmethod
    def validated_params(cls, spec: JudgeSpec) -> dict[str, Any]:
        params = read_params(spec, cls.DEFAULTS)
        require_range(spec, "threshold", params["threshold"], 0.0, 1.0)
        return params

    def judge_one(self, triple: Triple) -> Verdict:
        reference_tokens = set(word_tokens(triple.reference))
        if not reference_tokens:
            return Verdict.not_applicable("reference has no word tokens")
        answer = extract_answer(triple.final_step)
        similarity = jaccard_similarity(set(word_tokens(answer)), reference_tokens)
        return Verdict(passed=similarity >= self.params["threshold"], p_pass=similarity,
                       raw=f"jaccard={similarity:.4f} answer={preview(answer, 60)!r}")


def jaccard_similarity(first: set[str], second: set[str]) -> float:
    """|first ∩ second| / |first ∪ second| in [0, 1]; 0.0 when both are empty."""
    union = first | second
    return len(first & second) / len(union) if union else 0.0
