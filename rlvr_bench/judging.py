"""Run judges over (item, response) pairs: batching, progress, timing, caching.

This is the one loop every command uses to obtain verdicts, so that caching,
progress display and failure accounting behave the same everywhere.

Caching: a judge whose class sets ``cacheable = True`` (the model judges) and
has ``cache_key(triple) -> str`` is served from a :class:`JudgmentCache` when
one is given: cached verdicts are returned without calling the model, and new
verdicts are written as soon as each batch finishes, so a run killed at any
moment loses at most one batch. Rule judges (``cacheable`` absent or False) are
cheaper to recompute than to look up.

Before any model work, a judge with a ``preflight(triples)`` method (the hf backend: prompts
longer than its ``max_prompt_tokens``, known from tokenization alone) names the triples it
refuses; they are unscored and counted at once, so a command with too many stops before the
first forward pass. Within a run (:func:`judge_responses`) a judge used more than once, alone
and inside composites, computes each triple once (:mod:`rlvr_bench.judges.run_memo`).

Failures: a batch whose backend fails (:func:`is_backend_error`: timeouts, HTTP and
connection errors, out of memory, :class:`~rlvr_bench.errors.JudgeBackendError`) gets
unscored verdicts with the reason; any other exception is a bug and propagates. A
:class:`FailureBudget` (each command's ``--max-unscored``) stops the command once a
judge's failed verdicts pass the allowed fraction, rather than reporting statistics
over a judge that mostly failed. Abstentions (:meth:`Verdict.not_applicable`, e.g. a
numeric judge on a text reference) are unscored but are not failures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rlvr_bench.errors import ConfigError, JudgeBackendError, TooManyUnscored
from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judges.run_memo import memoized_batch, run_scope
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


#: ``--max-unscored`` when a command is not given one: a judge that fails on more than a tenth of
#: its triples is broken or misconfigured (a dead endpoint, a prompt its model cannot answer), and
#: statistics over the rest would describe a biased subset. Abstentions do not count.
DEFAULT_MAX_UNSCORED = 0.1
#: top-level packages whose exceptions are transport or API failures of a judge's backend
_BACKEND_PACKAGES = frozenset({"httpx", "httpcore", "openai", "anthropic", "requests", "urllib3", "aiohttp"})


def is_backend_error(exc: BaseException) -> bool:
    """True for a failure of the judge's backend (becomes unscored verdicts); False for a bug (propagates)."""
    if isinstance(exc, (JudgeBackendError, TimeoutError, OSError, MemoryError)):
        return True  # OSError covers ConnectionError and socket errors
    if type(exc).__module__.split(".")[0] in _BACKEND_PACKAGES:
        return True
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError (CUDA and MPS)
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


class FailureBudget:
    """How many failed verdicts a command tolerates per judge before it stops (``--max-unscored``).

    Counts accumulate over every call for the same judge. When every call announced how many
    triples it judges (``planned``), the command stops as soon as the failures exceed
    ``max_unscored`` x the planned total: no later success can bring the fraction back. A training
    reward judges batches of unknown number, so there the running fraction is checked once at
    least ``min_verdicts`` verdicts are in.
    """

    def __init__(self, max_unscored: float = DEFAULT_MAX_UNSCORED, min_verdicts: int = 50) -> None:
        if not 0.0 <= max_unscored <= 1.0:
            raise ConfigError(f"--max-unscored must be a fraction in [0, 1], got {max_unscored}")
        self.max_unscored = max_unscored
        self.min_verdicts = min_verdicts
        self.failed: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self._planned: dict[str, int | None] = {}
        self._first_reason: dict[str, str] = {}

    def plan(self, judge: str, triples: int | None) -> None:
        """Announce a call of ``triples`` verdicts (None: of unknown number, such as a reward batch)."""
        known = self._planned.get(judge, 0)
        self._planned[judge] = None if known is None or triples is None else known + triples

    def record(self, judge: str, verdicts: Sequence[Verdict]) -> None:
        """Count ``verdicts`` for ``judge``; raise :class:`TooManyUnscored` when the budget is spent."""
        failures = [v for v in verdicts if v.failed]
        if failures:
            self._first_reason.setdefault(judge, str(failures[0].error or "no reason given"))
        failed = self.failed[judge] = self.failed.get(judge, 0) + len(failures)
        seen = self.seen[judge] = self.seen.get(judge, 0) + len(verdicts)
        planned = self._planned.get(judge)
        if planned is not None:
            over, total = failed > self.max_unscored * planned, planned
        else:
            over, total = seen >= self.min_verdicts and failed > self.max_unscored * seen, seen
        if over:
            raise TooManyUnscored(
                f"judge {judge!r} failed on {failed} of {total} triples ({failed / total:.0%}), more than "
                f"--max-unscored {self.max_unscored:g} allows; first failure: {self._first_reason[judge]}")

    def fraction(self, judge: str) -> float:
        """Failed verdicts / verdicts seen so far for ``judge`` (0 before any)."""
        return self.failed.get(judge, 0) / max(self.seen.get(judge, 0), 1)


def judge_triples(judge: Judge, triples: Sequence[Triple], batch_size: int = 64,
                  on_progress: ProgressCallback | None = None,
                  cache: JudgmentCache | None = SHARED_CACHE, budget: FailureBudget | None = None,
                  planned: bool = True) -> list[Verdict]:
    """Verdicts for ``triples`` in order, judged in batches.

    A batch whose backend fails (:func:`is_backend_error`) is not fatal: its verdicts
    become unscored with the exception as the reason. Any other exception propagates.
    ``budget`` (optional) counts failed verdicts and stops the call once they pass its
    limit; ``planned=False`` when these triples are one of many calls of unknown number
    (a training reward), so the budget judges the running fraction instead.
    With a ``cache`` and a cacheable judge, cached verdicts skip the model and
    identical prompts within the call are judged once.
    """
    with run_scope([judge]):
        refused = _unjudgeable(judge, triples)
        if refused:
            return _judge_with_refusals(judge, triples, refused, batch_size, on_progress, cache, budget, planned)
        if judge.multi_reference == "each" and any(t.aliases for t in triples):
            return _judge_each_reference(judge, triples, batch_size, on_progress, cache, budget, planned)
        counted = _Counted(judge.name, budget, len(triples) if planned else None)
        if cache is None or not judge.cacheable:
            return _judge_uncached(judge, triples, batch_size, on_progress, counted)
        return _judge_cached(judge, triples, batch_size, on_progress,
                             shared_cache() if cache is SHARED_CACHE else cache, counted)


def _judge_cached(judge: Judge, triples: Sequence[Triple], batch_size: int, on_progress: ProgressCallback | None,
                  cache: JudgmentCache, counted: _Counted) -> list[Verdict]:
    keys: list[str] = [judge.cache_key(triple) for triple in triples]
    results: dict[str, Verdict] = cache.get_many(keys)
    counted.record(list(results.values()))
    first_index: dict[str, int] = {}  # each distinct prompt is judged once, at its first position
    copies: dict[str, int] = {}
    for index, key in enumerate(keys):
        first_index.setdefault(key, index)
        copies[key] = copies.get(key, 0) + 1
    if on_progress is not None and results:
        on_progress(judge.name, sum(copies[key] for key in results))
    pending = [key for key in first_index if key not in results]
    refused = _preflight(judge, [triples[first_index[key]] for key in pending], counted)
    for index, verdict in refused.items():
        results[pending[index]] = verdict
    if on_progress is not None and refused:
        on_progress(judge.name, sum(copies[pending[index]] for index in refused))
    pending = [key for index, key in enumerate(pending) if index not in refused]
    for start in range(0, len(pending), batch_size):
        batch_keys = pending[start : start + batch_size]
        batch = [triples[first_index[key]] for key in batch_keys]
        fresh = dict(zip(batch_keys, _judge_batches(judge, batch, len(batch), None, counted), strict=True))
        cache.put_many(judge.name, fresh)  # committed now: a SIGKILL loses at most the batch in flight
        results.update(fresh)
        if on_progress is not None:
            on_progress(judge.name, sum(copies[key] for key in batch_keys))
    return [results[key] for key in keys]


#: the longest final step or reference a rule judge reads (characters): rules are superlinear on long number-rich
#: text (``numeric`` on one 300,000-character line took 5 s), and a reward server has one judging thread
RULE_INPUT_MAX_CHARS = 20_000


def _unjudgeable(judge: Judge, triples: Sequence[Triple]) -> dict[int, Verdict]:
    """The triples no judge of this kind may judge, by position, with their verdict: an empty reference (every
    judge kind abstains: a model judge would otherwise pass a response against nothing) and, for rule judges
    (not cacheable), a final step or reference over :data:`RULE_INPUT_MAX_CHARS` (unscored, a failure)."""
    refused: dict[int, Verdict] = {}
    for index, triple in enumerate(triples):
        if not any(reference.strip() for reference in triple.references):
            refused[index] = Verdict.not_applicable("empty reference")
        elif not judge.cacheable and max(len(triple.response), len(triple.reference)) > RULE_INPUT_MAX_CHARS:
            longest = max(len(triple.reference), len(triple.final_step))  # only a long response can hide one
            if longest > RULE_INPUT_MAX_CHARS:
                refused[index] = _unscored(f"input of {longest:,} characters (final step or reference) is over the "
                                           f"rule judges' bound of {RULE_INPUT_MAX_CHARS:,}")
    return refused


def _judge_with_refusals(judge: Judge, triples: Sequence[Triple], refused: dict[int, Verdict], batch_size: int,
                         on_progress: ProgressCallback | None, cache: JudgmentCache | None,
                         budget: FailureBudget | None, planned: bool) -> list[Verdict]:
    _Counted(judge.name, budget, len(refused) if planned else None).record(list(refused.values()))
    if on_progress is not None:
        on_progress(judge.name, len(refused))
    kept = [triple for index, triple in enumerate(triples) if index not in refused]
    judged = iter(judge_triples(judge, kept, batch_size, on_progress, cache, budget, planned) if kept else [])
    return [refused[index] if index in refused else next(judged) for index in range(len(triples))]


def _judge_each_reference(judge: Judge, triples: Sequence[Triple], batch_size: int,
                          on_progress: ProgressCallback | None, cache: JudgmentCache | None,
                          budget: FailureBudget | None, planned: bool) -> list[Verdict]:
    """Triples with several references, judged against each one: correct when any reference passes."""
    flat: list[Triple] = []
    owner: list[int] = []
    for index, triple in enumerate(triples):
        for reference in triple.references:
            flat.append(triple.with_reference(reference))
            owner.append(index)
    verdicts = judge_triples(judge, flat, batch_size, None, cache)
    grouped: list[list[Verdict]] = [[] for _ in triples]
    for index, verdict in zip(owner, verdicts, strict=True):
        grouped[index].append(verdict)
    combined = [best_reference_verdict(group) for group in grouped]
    _Counted(judge.name, budget, len(triples) if planned else None).record(combined)
    if on_progress is not None:
        on_progress(judge.name, len(triples))
    return combined


def best_reference_verdict(verdicts: Sequence[Verdict]) -> Verdict:
    """One verdict from a verdict per acceptable reference: the first that passed, else the highest
    scored (a fail), else the first unscored. ``p_pass`` is the best over references."""
    if len(verdicts) == 1:
        return verdicts[0]
    scored = [(k, v) for k, v in enumerate(verdicts) if v.passed is not None]
    chosen_k, chosen = next(((k, v) for k, v in scored if v.passed), scored[0] if scored else (0, verdicts[0]))
    soft = [v.p_pass for v in verdicts if v.p_pass is not None]
    note = f" [reference {chosen_k + 1} of {len(verdicts)}]"
    from dataclasses import replace

    return replace(chosen, p_pass=max(soft) if soft else chosen.p_pass, raw=chosen.raw + note,
                   latency_s=sum(v.latency_s for v in verdicts))


class _Counted:
    """One call's view of a :class:`FailureBudget` (a no-op without one)."""

    def __init__(self, judge: str, budget: FailureBudget | None, planned: int | None) -> None:
        self.judge, self.budget = judge, budget
        if budget is not None:
            budget.plan(judge, planned)

    def record(self, verdicts: Sequence[Verdict]) -> None:
        if self.budget is not None:
            self.budget.record(self.judge, verdicts)


def _preflight(judge: Judge, triples: Sequence[Triple], counted: _Counted) -> dict[int, Verdict]:
    """Verdicts, by position, of the triples a judge refuses before any model work (a prompt longer than
    its limit: ``preflight`` of :class:`rlvr_bench.judges.hf_backend.HFJudge`), counted at once, so the
    failure budget stops a command that would fail on too many before the first forward pass."""
    check = getattr(judge, "preflight", None)
    if check is None or not triples:
        return {}
    refused: dict[int, Verdict] = check(triples)
    counted.record(list(refused.values()))
    return refused


def _judge_uncached(judge: Judge, triples: Sequence[Triple], batch_size: int,
                    on_progress: ProgressCallback | None, counted: _Counted) -> list[Verdict]:
    """Verdicts for ``triples`` (none from the judgment cache): refused ones first, then the rest in batches."""
    refused = _preflight(judge, triples, counted)
    if not refused:
        return _judge_batches(judge, triples, batch_size, on_progress, counted)
    if on_progress is not None:
        on_progress(judge.name, len(refused))
    rest = [i for i in range(len(triples)) if i not in refused]
    judged = dict(zip(rest, _judge_batches(judge, [triples[i] for i in rest], batch_size, on_progress, counted),
                      strict=True))
    return [refused[i] if i in refused else judged[i] for i in range(len(triples))]


def _judge_batches(judge: Judge, triples: Sequence[Triple], batch_size: int,
                   on_progress: ProgressCallback | None, counted: _Counted) -> list[Verdict]:
    verdicts: list[Verdict] = []
    for start in range(0, len(triples), batch_size):
        batch = triples[start : start + batch_size]
        began = time.perf_counter()
        try:
            batch_verdicts = memoized_batch(judge, batch)
        except Exception as exc:
            if not is_backend_error(exc):
                raise
            batch_verdicts = [_unscored(f"{type(exc).__name__}: {exc}") for _ in batch]
        if len(batch_verdicts) != len(batch):  # a broken judge, not a backend failure
            raise RuntimeError(f"judge {judge.name!r} returned {len(batch_verdicts)} verdicts for {len(batch)} triples")
        counted.record(batch_verdicts)
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
                    cache: JudgmentCache | None = SHARED_CACHE, budget: FailureBudget | None = None
                    ) -> list[Judgment]:
    """Every judge's verdict on every response (judge-major order); ``cache`` and ``budget`` as in
    :func:`judge_triples`."""
    by_id = {item.id: item for item in items}
    triples = [Triple.of(by_id[r.item_id], r) for r in responses]
    judgments: list[Judgment] = []
    with run_scope(judges):  # a judge the run uses twice (alone and inside a composite) computes once
        for judge in judges:
            verdicts = judge_triples(judge, triples, batch_size, on_progress, cache=cache, budget=budget)
            judgments.extend(Judgment(judge.name, r.item_id, r.id, v)
                             for r, v in zip(responses, verdicts, strict=True))
    return judgments
