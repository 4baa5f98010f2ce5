"""Run judges over (item, response) pairs: batching, progress, timing, caching.

This is the one loop every command uses to obtain verdicts, so that caching,
progress display and failure accounting behave the same everywhere.

Caching: a judge whose class sets ``cacheable = True`` (the model judges) and
has ``cache_key(triple) -> str`` is served from a :class:`JudgmentCache` when
one is given: cached verdicts are returned without calling the model, and new
verdicts are written as soon as each batch finishes, so a run killed at any
moment loses at most one batch. Rule judges (``cacheable`` absent or False) are
cheaper to recompute than to look up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.records import Item, Judgment, Response, Verdict

if TYPE_CHECKING:
    from rlvr_bench.judges.cache import JudgmentCache

#: called with (judge name, number of verdicts just finished)
ProgressCallback = Callable[[str, int], None]


class _SharedCache:
    """Sentinel default: the process-wide judgment cache every command shares (opened lazily,
    only when a cacheable judge runs). Pass ``cache=None`` to bypass caching (``--no-cache``)."""


SHARED_CACHE: Any = _SharedCache()
_shared: JudgmentCache | None = None
_shared_lock = threading.Lock()


def shared_cache() -> JudgmentCache:
    """The default cache (``<cache_home()>/judgments.sqlite``), opened once per process and
    reopened when ``RLVR_BENCH_CACHE`` now points elsewhere."""
    global _shared
    from rlvr_bench.judges.cache import default_cache_path

    with _shared_lock:
        path = default_cache_path()
        if _shared is None or _shared.path != path:
            from rlvr_bench.judges.cache import JudgmentCache

            if _shared is not None:
                _shared.close()
            _shared = JudgmentCache(path)
        return _shared


def cache_option(use_cache: bool) -> Any:
    """The ``cache=`` argument for a command's ``--no-cache`` flag."""
    return SHARED_CACHE if use_cache else None


def _unscored(reason: str) -> Verdict:
    return Verdict(passed=None, p_pass=None, raw="", error=reason)


def judge_triples(judge: Judge, triples: Sequence[Triple], batch_size: int = 64,
                  on_progress: ProgressCallback | None = None,
                  cache: JudgmentCache | None = SHARED_CACHE) -> list[Verdict]:
    """Verdicts for ``triples`` in order, judged in batches.

    A batch that raises is not fatal: its verdicts become unscored with the
    exception as the reason, so one broken backend call cannot sink a run.
    With a ``cache`` and a cacheable judge, cached verdicts skip the model and
    identical prompts within the call are judged once.
    """
    if cache is None or not getattr(judge, "cacheable", False):
        return _judge_uncached(judge, triples, batch_size, on_progress)
    if cache is SHARED_CACHE:
        cache = shared_cache()
    keys: list[str] = [judge.cache_key(triple) for triple in triples]  # type: ignore[attr-defined]
    results: dict[str, Verdict] = cache.get_many(keys)
    first_index: dict[str, int] = {}  # each distinct prompt is judged once, at its first position
    copies: dict[str, int] = {}
    for index, key in enumerate(keys):
        first_index.setdefault(key, index)
        copies[key] = copies.get(key, 0) + 1
    if on_progress is not None and results:
        on_progress(judge.name, sum(copies[key] for key in results))
    pending = [key for key in first_index if key not in results]
    for start in range(0, len(pending), batch_size):
        batch_keys = pending[start : start + batch_size]
        batch = [triples[first_index[key]] for key in batch_keys]
        fresh = dict(zip(batch_keys, _judge_uncached(judge, batch, len(batch), None), strict=True))
        cache.put_many(judge.name, fresh)  # committed now: a SIGKILL loses at most the batch in flight
        results.update(fresh)
        if on_progress is not None:
            on_progress(judge.name, sum(copies[key] for key in batch_keys))
    return [results[key] for key in keys]


def _judge_uncached(judge: Judge, triples: Sequence[Triple], batch_size: int,
                    on_progress: ProgressCallback | None) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for start in range(0, len(triples), batch_size):
        batch = triples[start : start + batch_size]
        began = time.perf_counter()
        try:
            batch_verdicts = judge.judge_batch(batch)
            if len(batch_verdicts) != len(batch):
                raise RuntimeError(f"judge returned {len(batch_verdicts)} verdicts for {len(batch)} triples")
        except Exception as exc:
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
                    batch_size: int = 64, on_progress: ProgressCallback | None = None,
                    cache: JudgmentCache | None = SHARED_CACHE) -> list[Judgment]:
    """Every judge's verdict on every response (judge-major order); ``cache`` as in :func:`judge_triples`."""
    by_id = {item.id: item for item in items}
    triples = [Triple.of(by_id[r.item_id], r) for r in responses]
    judgments: list[Judgment] = []
    for judge in judges:
        verdicts = judge_triples(judge, triples, batch_size, on_progress, cache=cache)
        judgments.extend(Judgment(judge.name, r.item_id, r.id, v) for r, v in zip(responses, verdicts, strict=True))
    return judgments
