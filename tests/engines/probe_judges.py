"""Judges that record how they are called: what they saw, how long they take, whether two calls overlapped."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.records import Verdict


class SlowJudge(BaseJudge):
    """Passes when the reference occurs in the final step (soft: 0.8 / 0.1); sleeps ``delay_s`` per batch.

    Like a local model judge it is not thread-safe: it counts how many calls run at once
    (``max_overlap``), and records every triple and batch size it saw.
    """

    soft = True

    def __init__(self, delay_s: float = 0.0, name: str = "slow-probe") -> None:
        super().__init__(JudgeSpec(name=name, backend="probe"))
        self.delay_s = delay_s
        self.seen: list[Triple] = []
        self.batch_sizes: list[int] = []
        self.max_overlap = 0
        self._active = 0
        self._lock = threading.Lock()

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        with self._lock:
            self._active += 1
            self.max_overlap = max(self.max_overlap, self._active)
            self.seen.extend(triples)
            self.batch_sizes.append(len(triples))
        try:
            time.sleep(self.delay_s)
            return [Verdict(passed=True, p_pass=0.8) if t.reference in t.final_step else
                    Verdict(passed=False, p_pass=0.1) for t in triples]
        finally:
            with self._lock:
                self._active -= 1
