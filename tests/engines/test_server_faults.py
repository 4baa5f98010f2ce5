"""Issue 26, defects 3, 5 and 6: faults degrade instead of failing every request, timeouts fit the engine,
and a server that cannot judge says so.

- a judgment cache that cannot be written is bypassed with one warning and ``/health`` "degraded" (it
  turned every POST into 500 while ``/health`` said ok); ``serve --no-cache`` exists;
- a disk-full write reports SQLite's own error, not "cannot rollback - no transaction is active";
- the default judge timeout is under OpenRLHF's 180 s client timeout (it was 600 s), and an unscored
  sample's ``scores`` can be set apart from its reward (OpenRLHF's dynamic filtering reads ``scores``);
- a dead judging thread fails ``/health`` and answers 503 at once (it answered every request with a
  fallback after the judge timeout while ``/health`` said ok); ``--max-wait-ms 1e300`` is refused at start.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_templates import FAMILIES, openrlhf_rollout_on
from engine_clients import openrlhf_experience
from probe_judges import SlowJudge

from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.cache import JudgmentCache
from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.records import Verdict
from rlvr_bench.reward_server import RewardService, start_server

REPO = Path(__file__).resolve().parents[2]
PROMPT = "<|im_start|>user\nWhat is 3 + 4?<|im_end|>\n<|im_start|>assistant\n"


def _serve(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", *args]
    merged = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(command, env=merged, capture_output=True, text=True, timeout=timeout)


def _read_only(path: Path) -> JudgmentCache:
    cache = JudgmentCache(path)
    cache._conn.execute("PRAGMA query_only = ON")  # SQLite refuses every write: "attempt to write a readonly database"
    return cache


def test_a_cache_that_cannot_be_written_is_bypassed_and_health_says_degraded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import rlvr_bench.reward_server as reward_server

    monkeypatch.setattr(reward_server, "_open_cache", lambda: _read_only(tmp_path / "judgments.sqlite"))
    running = start_server(RewardService(build_judge("tiny")))
    try:
        body = {"query": [PROMPT + f"{k} + 4 = {k + 4}<|im_end|>" for k in range(3)], "prompts": [PROMPT] * 3,
                "labels": ["7"] * 3}
        with caplog.at_level(logging.WARNING, logger="rlvr_bench.reward_server"):
            replies = [httpx.post(f"{running.url}/get_reward", json=body) for _ in range(3)]
        assert [r.status_code for r in replies] == [200] * 3
        assert all(r.json()["extra_logs"]["unscored"] == [0.0] * 3 for r in replies)
        health = httpx.get(f"{running.url}/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert "readonly" in health.json()["problem"] and health.json()["cache"] == "bypassed"
        warnings = [r.getMessage() for r in caplog.records if "WITHOUT the cache" in r.getMessage()]
        assert len(warnings) == 1 and "--no-cache" in warnings[0]  # one loud warning, not one per request
    finally:
        running.stop()


def test_a_failed_commit_reports_its_own_error(tmp_path: Path) -> None:
    cache = _read_only(tmp_path / "judgments.sqlite")
    with pytest.raises(Exception, match="readonly") as raised:
        cache.put_many("j", {"k": Verdict(passed=True)})
    assert "cannot rollback" not in str(raised.value)


def test_a_degraded_cache_recovers_when_writes_succeed_again(tmp_path: Path) -> None:
    from rlvr_bench.reward_batching import DegradingCache

    writable = {"now": False}

    def opener() -> JudgmentCache:
        return JudgmentCache(tmp_path / "c.sqlite") if writable["now"] else _read_only(tmp_path / "c.sqlite")

    cache = DegradingCache(opener, retry_s=0.0)
    assert cache.put_many("j", {"k": Verdict(passed=True)}) == 0 and cache.degraded is not None
    cache._cache, writable["now"] = None, True
    assert cache.put_many("j", {"k": Verdict(passed=True)}) == 1 and cache.degraded is None
    assert list(cache.get_many(["k"])) == ["k"]


def test_serve_accepts_no_cache_and_refuses_values_that_would_break_it_later(tmp_path: Path) -> None:
    env = {"RLVR_BENCH_CACHE": str(tmp_path)}
    for args, problem in [(["--max-wait-ms", "1e300"], "--max-wait-ms"), (["--max-wait-ms", "nan"], "--max-wait-ms"),
                          (["--judge-timeout-s", "600"], "--judge-timeout-s"), (["--drain-s", "inf"], "--drain-s"),
                          (["--no-cache", "--max-batch", "9", "--max-queue", "4"], "--max-batch")]:
        done = _serve("--judge", "numeric", "--port", "0", *args, env=env, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert problem in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_default_judge_timeout_is_under_openrlhfs_and_documented() -> None:
    service = RewardService(build_judge("numeric"))
    try:
        assert service.timeout_s < 180  # OpenRLHF 0.11.2: aiohttp.ClientTimeout(total=180)
    finally:
        service.close()
    docs = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    assert "--judge-timeout-s" in docs and "180 s" in docs


def test_an_unscored_samples_score_can_leave_its_group_out_of_openrlhfs_step() -> None:
    running = start_server(RewardService(build_judge("numeric"), unscored_score=-1000.0))
    try:
        output = openrlhf_rollout_on(FAMILIES[1], f"{running.url}/get_reward", "What is 3 + 4?", "7\n", None)
        experience = openrlhf_experience(output)
        assert experience.rewards.flatten().tolist() == [0.0]  # what OpenRLHF trains on: the fallback reward
        assert experience.scores.flatten().tolist() == [-1000.0]  # what its dynamic filtering reads
        # OpenRLHF keeps a prompt's group when min_r < mean(scores) < max_r (default range 0..1): out it goes
        assert not 0 < (1.0 + 0.0 + 1.0 - 1000.0) / 4 < 1
    finally:
        running.stop()


class _DyingJudge(SlowJudge):
    """Kills the judging thread (a BaseException no per-sample isolation may swallow) on a response "DIE"."""

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        if any("DIE" in t.response for t in triples):
            raise SystemExit("simulated crash of the judging thread")
        return super().judge_batch(triples)


def test_a_dead_judging_thread_fails_health_and_answers_503_at_once() -> None:
    running = start_server(RewardService(_DyingJudge(), timeout_s=30.0))
    try:
        body: dict[str, Any] = {"query": ["p DIE"], "prompts": ["p "], "labels": ["7"]}
        began = time.monotonic()
        first = httpx.post(f"{running.url}/get_reward", json=body, timeout=60)
        body["query"] = ["p 7"]
        second = httpx.post(f"{running.url}/get_reward", json=body, timeout=60)
        assert time.monotonic() - began < 10  # not the 30 s judge timeout
        assert (first.status_code, second.status_code) == (503, 503)
        health = httpx.get(f"{running.url}/health")
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert "simulated crash" in health.json()["problem"]
    finally:
        running.stop()


def test_sqlite_full_disk_is_a_cache_failure_not_a_request_failure(tmp_path: Path) -> None:
    from rlvr_bench.reward_batching import DegradingCache

    class FullCache:
        def get_many(self, keys: Sequence[str]) -> dict[str, Verdict]:
            return {}

        def put_many(self, judge: str, verdicts: Any) -> int:
            raise sqlite3.OperationalError("database or disk is full")

    cache = DegradingCache(lambda: FullCache())
    assert cache.put_many("j", {"k": Verdict(passed=True)}) == 0
    assert cache.degraded is not None and "disk is full" in cache.degraded


def test_verls_adapter_moves_to_the_next_replica_url_when_one_is_dead() -> None:
    import socket

    import rlvr_bench.verl_reward as verl_reward

    with socket.socket() as probe:  # a port nobody listens on: a killed replica
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/get_reward"
    running = start_server(RewardService(build_judge("numeric")))
    try:
        url = f"{dead},{running.url}/get_reward"
        began = time.monotonic()
        scores = [verl_reward.compute_score("s", "x\n7", "7", {"question": "Q"}, url=url) for _ in range(4)]
        assert [s["score"] for s in scores] == [1.0] * 4 and all(s["unscored"] == 0.0 for s in scores)
        assert time.monotonic() - began < verl_reward.SERVER_BACKOFF_FIRST_S * 4  # no backoff pause was needed
    finally:
        running.stop()
