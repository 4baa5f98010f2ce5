"""Run judges over (item, response) pairs: batching, progress, timing.

This is the one loop every command uses to obtain verdicts, so that caching,
progress display and failure accounting behave the same everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.records import Item, Judgment, Response, Verdict

#: called with (judge name, number of verdicts just finished)
ProgressCallback = Callable[[str, int], None]


def _unscored(reason: str) -> Verdict:
    return Verdict(passed=None, p_pass=None, raw="", error=reason)


def judge_triples(judge: Judge, triples: Sequence[Triple], batch_size: int = 64,
                  on_progress: ProgressCallback | None = None) -> list[Verdict]:
    """Verdicts for ``triples`` in order, judged in batches.

    A batch that raises is not fatal: its verdicts become unscored with the
    exception as the reason, so one broken backend call cannot sink a run.
    """
    verdicts: list[Verdict] = []
    for start in range(0, len(triples), batch_size):
        batch = triples[start : start + batch_size]
        began = time.perf_counter()
        try:
            batch_verdicts = judge.judge_batch(batch)
            if len(batch_verdicts) != len(batch):
                raise RuntimeError(f"judge returned {len(batch_verdicts)} verdicts for {len(batch)} triples")
        except Exception as exc:  # noqa: BLE001 - any backend failure becomes unscored
            batch_verdicts = [_unscored(f"{type(exc).__name__}: {exc}") for _ in batch]
        elapsed = (time.perf_counter() - began) / max(len(batch), 1)
        verdicts.extend(v if v.latency_s else _with_latency(v, elapsed) for v in batch_verdicts)
        if on_progress is not None:
            on_progress(judge.name, len(batch))
    return verdicts


def _with_latency(verdict: Verdict, latency_s: float) -> Verdict:
    from dataclasses import replace

    return replace(verdict, latency_s=latency_s)


def judge_responses(judges: Sequence[Judge], items: Sequence[Item], responses: Sequence[Response],
                    batch_size: int = 64, on_progress: ProgressCallback | None = None) -> list[Judgment]:
    """Every judge's verdict on every response (judge-major order)."""
    by_id = {item.id: item for item in items}
    triples = [Triple.of(by_id[r.item_id], r) for r in responses]
    judgments: list[Judgment] = []
    for judge in judges:
        verdicts = judge_triples(judge, triples, batch_size, on_progress)
        judgments.extend(Judgment(judge.name, r.item_id, r.id, v) for r, v in zip(responses, verdicts, strict=True))
    return judgments
