"""The SQLite judgment cache and how judging.py uses it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import pytest

from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.judges.cache import JudgmentCache, is_cacheable_verdict
from rlvr_bench.judging import judge_triples
from rlvr_bench.records import Verdict


def test_round_trip_and_first_writer_wins(tmp_path: Path) -> None:
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        first = Verdict(passed=True, p_pass=0.8, raw="YES", latency_s=0.5, prompt_tokens=10, completion_tokens=1)
        assert cache.put_many("tiny", {"k1": first}) == 1
        # a second writer with the same key changes nothing: every reader keeps seeing the first verdict
        assert cache.put_many("tiny", {"k1": Verdict(passed=False, p_pass=0.1, raw="NO")}) == 0
        assert cache.get_many(["k1", "missing"]) == {"k1": first}


def test_transport_failures_are_not_cached(tmp_path: Path) -> None:
    timeout = Verdict(passed=None, error="timeout: no response in time (gave up after 5 attempts)")
    unparseable = Verdict(passed=None, raw="The", error="unparseable verdict: output 'The' is neither YES nor NO")
    assert not is_cacheable_verdict(timeout) and is_cacheable_verdict(unparseable)
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        assert cache.put_many("j", {"a": timeout, "b": unparseable}) == 1
        assert set(cache.get_many(["a", "b"])) == {"b"}


def test_stats_and_clear(tmp_path: Path) -> None:
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        cache.put_many("a", {f"a{i}": Verdict(passed=True, raw="YES") for i in range(3)})
        cache.put_many("b", {"b0": Verdict(passed=False, raw="NO")})
        stats = cache.stats()
        assert stats.per_judge == {"a": 3, "b": 1} and stats.total == 4 and stats.size_bytes > 0
        assert cache.clear(["b"]) == 1 and cache.stats().per_judge == {"a": 3}
        assert cache.clear() == 3 and cache.stats().total == 0


def _writer(path: str, worker: int, n_keys: int) -> None:
    with JudgmentCache(Path(path), busy_timeout_s=30) as cache:
        for start in range(0, n_keys, 10):
            # every worker writes every key, in a different order: maximal contention
            keys = [f"key{(k + worker * 37) % n_keys}" for k in range(start, start + 10)]
            cache.put_many(f"w{worker}", {k: Verdict(passed=True, p_pass=0.5, raw="YES") for k in keys})


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    JudgmentCache(path).close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(path), w, 200)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    with JudgmentCache(path) as cache:
        assert cache.stats().total == 200  # each key stored once, whoever won
        assert len(cache.get_many(f"key{k}" for k in range(200))) == 200


class CountingJudge(BaseJudge):
    """A cacheable fake model judge that records every triple it is asked about."""

    soft = True
    cacheable = True

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__(JudgeSpec("fake", "fake"))
        self.calls: list[str] = []
        self.fail_on = fail_on

    def cache_key(self, triple: Triple) -> str:
        return f"fake|{triple.question}|{triple.final_step}"

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        if any(t.question == self.fail_on for t in triples):
            raise ConnectionError("backend down")
        self.calls.extend(t.question for t in triples)
        return [Verdict(passed=t.reference == t.final_step, p_pass=0.9, raw="YES") for t in triples]


def triples(names: str) -> list[Triple]:
    return [Triple(question=q, reference="1", response="1") for q in names]


def test_cached_verdicts_skip_the_model_and_duplicates_are_judged_once(tmp_path: Path) -> None:
    progress: list[int] = []
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        judge = CountingJudge()
        first = judge_triples(judge, triples("abcab"), batch_size=2, cache=cache,
                              on_progress=lambda _name, n: progress.append(n))
        assert judge.calls == ["a", "b", "c"]  # "a" and "b" appear twice but are judged once
        assert sum(progress) == 5  # progress still counts every triple
        again = judge_triples(judge, triples("cbaad"), batch_size=2, cache=cache)
        assert judge.calls == ["a", "b", "c", "d"]  # only the new one reaches the model
        assert again[:4] == [first[2], first[1], first[0], first[0]]


def test_a_failed_batch_is_unscored_and_retried_next_time(tmp_path: Path) -> None:
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        broken = CountingJudge(fail_on="b")
        verdicts = judge_triples(broken, triples("abcd"), batch_size=2, cache=cache)
        assert [v.passed for v in verdicts] == [None, None, True, True]
        assert verdicts[0].error == "ConnectionError: backend down"
        healed = CountingJudge()
        judge_triples(healed, triples("abcd"), batch_size=2, cache=cache)
        assert healed.calls == ["a", "b"]


def test_rule_judges_never_touch_the_cache(tmp_path: Path) -> None:
    judge = CountingJudge()
    judge.cacheable = False
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        judge_triples(judge, triples("aa"), cache=cache)
        judge_triples(judge, triples("aa"), cache=cache)
        assert judge.calls == ["a", "a", "a", "a"] and cache.stats().total == 0


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_cache_does_not_change_the_verdicts(tmp_path: Path, batch_size: int) -> None:
    plain = judge_triples(CountingJudge(), triples("xyzxw"), batch_size=batch_size)
    with JudgmentCache(tmp_path / "c.sqlite") as cache:
        cached = judge_triples(CountingJudge(), triples("xyzxw"), batch_size=batch_size, cache=cache)
    assert [(v.passed, v.p_pass, v.raw) for v in plain] == [(v.passed, v.p_pass, v.raw) for v in cached]
