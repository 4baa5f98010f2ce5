"""Scripted judges for training tests: verdicts decided by a rule the test can work out by hand."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.records import Verdict


class ContainsDigitJudge(BaseJudge):
    """Passes when the response contains the reference; unscored when the response says "ERROR".

    Soft score: 0.9 when passed, 0.2 when not (so soft and binary rewards differ visibly).
    """

    soft = True

    def __init__(self, name: str = "fake", delay_s: float = 0.0) -> None:
        super().__init__(JudgeSpec(name=name, backend="fake"))
        self.delay_s = delay_s
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        with self._lock:
            self.batch_sizes.append(len(triples))
        if self.delay_s:
            time.sleep(self.delay_s)
        verdicts = []
        for t in triples:
            if "ERROR" in t.response:
                verdicts.append(Verdict(passed=None, error="scripted failure"))
            elif t.reference in t.final_step:
                verdicts.append(Verdict(passed=True, p_pass=0.9))
            else:
                verdicts.append(Verdict(passed=False, p_pass=0.2))
        return verdicts


class BinaryOnlyJudge(ContainsDigitJudge):
    soft = False
