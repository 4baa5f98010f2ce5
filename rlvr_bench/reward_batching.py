"""The judging side of the reward server and the verl adapter: one worker thread, batches, and isolation.

:class:`BatchingJudge` merges concurrent callers' triples into judge batches on a single worker thread
(local model judges are not thread-safe). What can go wrong there stays with the sample it belongs to:

- **a sample the judge raises on** (a lone surrogate a tokenizer or the cache key cannot encode, an input a
  rule trips over): the batch is split in halves until the sample is alone; that sample gets an unscored
  verdict with the exception as its reason, every other sample its real verdict. Counted in
  ``sample_errors`` and logged with the traceback (the first few; then counted only).
- **the judgment cache** (:class:`DegradingCache`): a cache that cannot be opened, read or written
  (read-only, a full disk, a locked or broken file) is bypassed with one loud warning; verdicts are then
  computed, not cached, and ``degraded`` says why until a write succeeds again (retried every
  :data:`CACHE_RETRY_S`).
- **the worker thread itself** dying (a bug outside the judge): every waiting caller gets
  :class:`WorkerDied` at once, ``failure`` says why, and ``on_death`` is called (the server then fails
  ``/health`` and stops, so a supervisor restarts it).
- **a caller that gives up** (its timeout, a shutdown): its job is cancelled and never judged;
  :meth:`BatchingJudge.abandon` answers every waiting caller at once (the SIGTERM drain).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from rlvr_bench.errors import ConfigError
from rlvr_bench.judges.base import Judge, Triple
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Verdict
from rlvr_bench.secrets import printable, redact

log = logging.getLogger("rlvr_bench.reward_server")

#: after a cache failure, how long the cache is bypassed before a write is tried again (s)
CACHE_RETRY_S = 300.0
#: sample errors logged with their traceback; later ones are counted (``sample_errors``) and summarised
LOGGED_SAMPLE_ERRORS = 5
#: the longest a batch waits for more requests (s): more is a typo that would stall every request
MAX_WAIT_LIMIT_S = 60.0


class QueueFull(Exception):
    """More responses are waiting than the service's ``max_queue``, and no room came in time."""


class WorkerDied(RuntimeError):
    """The judging thread is gone: nothing queued will ever be judged."""


class Abandoned(Exception):
    """The caller's request was answered without a verdict (the server is shutting down); the message says why."""


def open_judgment_cache() -> Any:
    """The shared judgment cache file (``RLVR_BENCH_CACHE``), opened with a short busy timeout: the only judging
    thread must not wait a minute on another process's lock (a replica, a verl worker)."""
    from rlvr_bench.judges.cache import JudgmentCache, default_cache_path

    return JudgmentCache(default_cache_path(), busy_timeout_s=10.0)


class DegradingCache:
    """The judgment cache as the server uses it: any failure bypasses it instead of failing a request.

    ``opener`` builds the real :class:`~rlvr_bench.judges.cache.JudgmentCache` (lazily, on the first
    cacheable judge's batch). Reads that fail return nothing; writes that fail are dropped. The first
    failure is one WARNING naming the file and the cause; while ``degraded`` is set the cache is skipped,
    and a write is tried again after :data:`CACHE_RETRY_S` (success clears ``degraded``, with one INFO line).
    """

    def __init__(self, opener: Callable[[], Any], retry_s: float = CACHE_RETRY_S) -> None:
        self._opener = opener
        self._cache: Any = None
        self._retry_s = retry_s
        self._retry_at = 0.0
        self.degraded: str | None = None
        self.failures = 0

    def _failed(self, doing: str, exc: BaseException) -> None:
        self.failures += 1
        self._retry_at = time.monotonic() + self._retry_s
        if self.degraded is None:
            self.degraded = f"cannot {doing} the judgment cache ({type(exc).__name__}: {exc})"
            log.warning("%s; serving WITHOUT the cache (verdicts are computed, not stored) and retrying in %g s. "
                        "Free the disk / fix the permissions, or start with --no-cache to silence this.",
                        self.degraded, self._retry_s)

    def _usable(self) -> bool:
        if self.degraded is not None and time.monotonic() < self._retry_at:
            return False
        if self._cache is None:
            try:
                self._cache = self._opener()
            except (ConfigError, sqlite3.Error, OSError) as exc:
                self._failed("open", exc)
                return False
        return True

    def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
        if self.degraded is not None or not self._usable():
            return {}  # while degraded, reads are skipped too: a broken file may fail slowly
        try:
            found: dict[str, Verdict] = self._cache.get_many(keys)
            return found
        except (ConfigError, sqlite3.Error, OSError, ValueError) as exc:
            self._failed("read", exc)
            return {}

    def put_many(self, judge: str, verdicts: Mapping[str, Verdict]) -> int:
        if not self._usable():
            return 0
        try:
            written: int = self._cache.put_many(judge, verdicts)
        except (ConfigError, sqlite3.Error, OSError) as exc:
            self._failed("write", exc)
            return 0
        if self.degraded is not None:
            log.info("the judgment cache is writable again; caching resumed")
            self.degraded = None
        return written


@dataclass(eq=False)  # hashed by identity: kept in a set while waiting
class _Job:
    triples: list[Triple]
    future: Future[list[Verdict]] = field(default_factory=Future)


def _settle(job: _Job, verdicts: list[Verdict] | None = None, error: BaseException | None = None) -> None:
    """Answer a job unless it was answered already (abandoned or cancelled meanwhile)."""
    try:
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(verdicts or [])
    except InvalidStateError:
        pass


class BatchingJudge:
    """Merges concurrent judge requests into batches, in a single worker thread.

    A single worker keeps the judge single-threaded while the calling threads (HTTP handlers, verl's
    reward thread pool) only wait on futures. ``submit`` waits while ``max_queue`` responses are queued
    (back-pressure by waiting, never by refusing at once). ``cache`` is passed to
    :func:`~rlvr_bench.judging.judge_triples` (a :class:`DegradingCache`, or None for no cache).
    """

    def __init__(self, judge: Judge, max_batch: int = 256, max_wait_s: float = 0.005, max_queue: int = 8192,
                 cache: Any = None, on_death: Callable[[], None] | None = None) -> None:
        if max_batch < 1 or max_queue < 1 or not 0 <= max_wait_s <= MAX_WAIT_LIMIT_S:
            raise ValueError(f"max_batch and max_queue must be positive and max_wait_s in [0, {MAX_WAIT_LIMIT_S:g}] s")
        self.judge = judge
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.cache = cache
        self.on_death = on_death
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._live: set[_Job] = set()  # submitted and not yet answered: what abandon() answers
        self._pending = 0
        self._room = threading.Condition()
        self.batches = 0
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # the latest batches' sizes (bounded: runs last days)
        self.sample_errors = 0
        self.failure: str | None = None
        self._worker = threading.Thread(target=self._run, name="reward-judge", daemon=True)
        self._worker.start()

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def alive(self) -> bool:
        return self.failure is None and self._worker.is_alive()

    @property
    def busy(self) -> bool:
        """True while the worker thread still runs (judging, or waiting for work)."""
        return self._worker.is_alive()

    def submit(self, triples: Sequence[Triple], wait_s: float = 0.0) -> Future[list[Verdict]]:
        """Queue ``triples``; waits up to ``wait_s`` for room, then raises QueueFull."""
        if self.failure is not None:
            raise WorkerDied(f"the judging thread died: {self.failure}")
        deadline = time.monotonic() + wait_s
        with self._room:
            while self._pending + len(triples) > self.max_queue and self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueueFull(f"{self._pending} responses already waiting (max_queue {self.max_queue})")
                self._room.wait(left)
            self._pending += len(triples)
            job = _Job(list(triples))
            self._live.add(job)
        job.future.add_done_callback(lambda _: self._forget(job))
        self._jobs.put(job)
        return job.future

    def _forget(self, job: _Job) -> None:
        with self._room:
            self._live.discard(job)

    def judge_now(self, triples: Sequence[Triple], timeout_s: float) -> list[Verdict]:
        """Verdicts for ``triples`` from the worker (batched with other callers'), waiting at most ``timeout_s``;
        TimeoutError / QueueFull / Abandoned / WorkerDied otherwise (a timed-out job is never judged later)."""
        began = time.monotonic()
        future = self.submit(triples, timeout_s)
        try:
            return future.result(timeout=max(0.0, timeout_s - (time.monotonic() - began)))
        except FutureTimeout:  # the builtin TimeoutError from Python 3.11 on, a class of its own in 3.10
            future.cancel()
            raise TimeoutError(f"no verdict within {timeout_s:g} s") from None

    def abandon(self, reason: str) -> int:
        """Answer every waiting caller with :class:`Abandoned` (``reason``) now; returns how many."""
        with self._room:
            jobs = list(self._live)
        for job in jobs:
            _settle(job, error=Abandoned(reason))
        return len(jobs)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Stop the worker after the batch in hand; True when it stopped within ``timeout_s``."""
        self._jobs.put(None)
        self._worker.join(timeout=timeout_s)
        return not self._worker.is_alive()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # a bug outside the judge (the judge's own errors are isolated per sample)
            self.failure = f"{type(exc).__name__}: {exc}"
            log.critical("the judging thread died: %s", self.failure, exc_info=True)
            self.abandon_all(WorkerDied(f"the judging thread died: {self.failure}"))
            if self.on_death is not None:
                self.on_death()

    def abandon_all(self, error: BaseException) -> None:
        with self._room:
            jobs = list(self._live)
        for job in jobs:
            _settle(job, error=error)

    def _loop(self) -> None:
        carry: _Job | None = None
        while True:
            first = carry if carry is not None else self._jobs.get()
            carry = None
            if first is None:
                return
            batch, size = [first], len(first.triples)
            deadline = time.monotonic() + self.max_wait_s
            while size < self.max_batch:
                try:
                    job = self._jobs.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if job is None:
                    self._jobs.put(None)  # stop after this batch
                    break
                if size + len(job.triples) > self.max_batch:
                    carry = job  # judged first in the next batch
                    break
                batch.append(job)
                size += len(job.triples)
            self._judge(batch)

    def _judge(self, batch: list[_Job]) -> None:
        # a job whose caller gave up (timeout, shutdown) is skipped: its verdicts would go nowhere
        wanted = []
        for job in batch:
            try:
                if not job.future.done() and job.future.set_running_or_notify_cancel():
                    wanted.append(job)
            except RuntimeError:  # answered (abandoned) between the two calls
                pass
        triples = [t for job in wanted for t in job.triples]
        try:
            verdicts = self._isolated(triples) if triples else []
            start = 0
            for job in wanted:
                _settle(job, verdicts[start : start + len(job.triples)])
                start += len(job.triples)
        finally:
            self.batches += 1
            self.batch_sizes.append(len(triples))
            with self._room:
                self._pending -= sum(len(job.triples) for job in batch)
                self._room.notify_all()

    def _isolated(self, triples: list[Triple]) -> list[Verdict]:
        """Verdicts for ``triples``; when the judge raises, halves are judged apart until the samples it
        raises on are alone, and those get an unscored verdict with the reason."""
        try:
            # backend failures are already unscored verdicts inside judge_triples; this catches the rest
            return judge_triples(self.judge, triples, batch_size=max(len(triples), 1), cache=self.cache)
        except Exception as exc:
            if len(triples) > 1:
                half = len(triples) // 2
                return self._isolated(triples[:half]) + self._isolated(triples[half:])
            self.sample_errors += 1
            reason = printable(redact(f"the judge raised on this sample: {type(exc).__name__}: {exc}"[:500]))
            if self.sample_errors <= LOGGED_SAMPLE_ERRORS:
                # one line: a bad sample is the data's fault, flagged and answered; a traceback per poisoned sample
                # would bury a real fault in the log (its stack is at debug level)
                log.error("%s (sample error %d; later ones are counted in /health sample_errors)", reason,
                          self.sample_errors)
                log.debug("the judge's stack on sample error %d", self.sample_errors, exc_info=True)
            return [Verdict(passed=None, error=reason)]
