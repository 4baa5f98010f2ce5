"""Verdicts users already have, as judges: ``column:NAME`` reads each response's recorded column NAME.

Data sets of judge verdicts carry them as columns (two GPT-4o passes and a human label per row in
xVerify-style files; several annotator columns in VerifyBench-style files; a reward log). The
importers keep every column they do not interpret in the response's metadata; ``column:NAME``
turns one of them into a verdict, so recorded and live judges mix freely
(``--judges column:gpt4o_1,column:gpt4o_2,rm7b``), and a human label is one rater among others.

Values: true/false, yes/no, correct/incorrect, 1/0, and VerifierBench's A (correct) / B (incorrect)
/ C (invalid: not correct); empty or missing means unscored (not a failure: nothing was recorded).
``column:NAME@PROB`` also reads a soft score in [0, 1] from column PROB. A value that is none of
these is an InputError naming the file, the line and the column (:func:`check_recorded` runs
before any judging).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.records import LABEL_FALSE, LABEL_TRUE, Response, Verdict

PREFIX = "column:"
#: where an imported response came from ("file:line"), kept in its metadata by the importers
SOURCE_KEY = "source_line"
#: the label vocabulary of the importers, plus VerifierBench's A (correct) / B, C and pass/fail words
_TRUE = LABEL_TRUE | {"a", "pass", "passed"}
_FALSE = LABEL_FALSE | {"b", "c", "fail", "failed"}


def recorded_spec(name: str) -> JudgeSpec:
    """The spec of ``column:NAME`` or ``column:NAME@PROB``."""
    column, _, probability = name[len(PREFIX):].partition("@")
    if not column:
        raise InputError(f"judge {name!r}: name the column, e.g. column:gpt4o_verdict")
    return JudgeSpec(name=name, backend="column", description=f"verdicts recorded in column {column!r}",
                     params={"column": column, "probability": probability or None})


def parse_recorded(value: Any) -> bool | None:
    """A recorded verdict: True / False, None for empty; ValueError for anything else."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    key = str(value).strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a verdict (true/false, yes/no, correct/incorrect, 1/0, A/B/C)")


def parse_probability(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value) if not isinstance(value, bool) else math.nan
    if not 0.0 <= number <= 1.0:  # also refuses nan
        raise ValueError(f"{value!r} is not a probability in [0, 1]")
    return number


class RecordedJudge(BaseJudge):
    """A data file's verdict column as a judge (see the module doc)."""

    def __init__(self, spec: JudgeSpec) -> None:
        super().__init__(spec)
        self.column = str(spec.params["column"])
        self.probability = spec.params.get("probability")
        self.soft = self.probability is not None

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        return [self.verdict(t.recorded, "") for t in triples]

    def verdict(self, recorded: Mapping[str, Any], where: str) -> Verdict:
        try:
            passed = parse_recorded(recorded.get(self.column))
            p_pass = parse_probability(recorded.get(self.probability)) if self.probability else None
        except ValueError as exc:
            column = self.probability if "probability" in str(exc) else self.column
            raise InputError(f"{where or recorded.get(SOURCE_KEY, '?')}: field {column!r}: {exc}") from None
        if passed is None:
            return Verdict.not_applicable(f"nothing recorded in column {self.column!r}")
        return Verdict(passed=passed, p_pass=p_pass, raw=f"{self.column}={recorded.get(self.column)!r}")


def check_recorded(judges: Sequence[Any], responses: Sequence[Response]) -> None:
    """Every ``column:`` judge's column is present in the inputs, and each value reads as a verdict
    (an InputError names the file, line and column otherwise) - before any judge runs."""
    for judge in judges:
        if not isinstance(judge, RecordedJudge):
            continue
        if not any(judge.column in r.metadata for r in responses):
            raise InputError(f"judge {judge.name!r}: no response has a column {judge.column!r}")
        for response in responses:
            judge.verdict(response.metadata, str(response.metadata.get(SOURCE_KEY, response.id)))
