"""A run killed with SIGKILL and restarted pays for no verdict twice and ends with identical results.

The judge is the openai backend against serve-judge (so every model call is
counted by the server), driven through the real ``rlvr-bench agreement``
command in a subprocess. The API key is a unique string; afterwards it must
appear nowhere in the run directories, the cache or the command output.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BATCH = 8


@pytest.fixture()
def slow_server(tiny_judge_path: Path) -> Iterator[Any]:
    from rlvr_bench.serve_judge import JudgeServer, JudgeService

    # 80 ms per request and 2 requests at a time: a 72-response run takes about 3 s, so the
    # test can kill it part-way through. max_batch=1 scores every request alone: padded
    # batches of varying make-up differ in the 7th digit, and this test wants equality
    service = JudgeService(str(tiny_judge_path), served_name="tiny", device="cpu", added_latency_s=0.08,
                           max_batch=1, threads=1)
    server = JudgeServer(service).start()
    yield server
    server.stop()


def agreement_command(out: Path, preset: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "agreement", "--task", "starter",
            "--judges", f"{preset},exact", "--bootstrap", "20", "--batch-size", str(BATCH), "--out", str(out),
            *extra]


def cached_rows(cache_dir: Path) -> int:
    path = cache_dir / "judgments.sqlite"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])
    except sqlite3.OperationalError:  # table not created yet
        return 0


def verdicts(run: Path) -> list[tuple[Any, ...]]:
    rows = [json.loads(line) for line in (run / "judgments.jsonl").read_text().splitlines()]
    return [(r["judge"], r["response_id"], r["passed"], r["p_pass"], r["raw"], r["error"]) for r in rows]


def without_latencies(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_latencies(v) for k, v in value.items() if "latency" not in k}
    if isinstance(value, list):
        return [without_latencies(v) for v in value]
    return value


@pytest.mark.slow
def test_sigkill_then_resume_makes_no_duplicate_calls(slow_server: Any, tmp_path: Path) -> None:
    secret = f"sk-rlvr-test-{uuid.uuid4().hex}"
    preset = tmp_path / "tiny-http.yaml"
    preset.write_text("name: tiny-http\nbackend: openai\nparams:\n  model: tiny\n  base_url_env: TINY_HTTP_BASE_URL\n"
                      "  api_key_env: TINY_HTTP_KEY\n  concurrency: 2\n  max_retries: 1\n", encoding="utf-8")
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO), "RLVR_BENCH_CACHE": str(cache_dir),
           "TINY_HTTP_BASE_URL": slow_server.base_url, "TINY_HTTP_KEY": secret}
    outputs: list[str] = []

    def run(command: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(command, cwd=REPO, env={**env, **overrides}, capture_output=True, text=True,
                                timeout=300)
        outputs.extend([result.stdout, result.stderr])
        assert result.returncode == 0, result.stderr
        return result

    # 1. reference: an uninterrupted run that neither reads nor writes the cache
    run(agreement_command(tmp_path / "reference", preset, "--no-cache"))
    assert cached_rows(cache_dir) == 0
    calls_before = slow_server.service.stats.to_json()["requests"]
    assert calls_before == 72

    # 2. a run killed with SIGKILL once a few batches are committed
    victim = subprocess.Popen(agreement_command(tmp_path / "killed", preset), cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while cached_rows(cache_dir) < 2 * BATCH and time.monotonic() < deadline and victim.poll() is None:
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    committed = cached_rows(cache_dir)
    assert 2 * BATCH <= committed < 72
    assert not (tmp_path / "killed").exists()  # a run directory appears only for a finished run
    calls_killed = slow_server.service.stats.to_json()["requests"] - calls_before

    # 3. the same command again: only the verdicts that were not committed reach the model
    run(agreement_command(tmp_path / "resumed", preset))
    calls_resumed = slow_server.service.stats.to_json()["requests"] - calls_before - calls_killed
    assert calls_resumed == 72 - committed
    # at most the batch in flight at the kill was paid for twice
    assert calls_killed + calls_resumed - 72 <= BATCH
    assert cached_rows(cache_dir) == 72

    # 4. identical results: verdicts and every statistic (wall-clock latencies aside)
    assert verdicts(tmp_path / "resumed") == verdicts(tmp_path / "reference")
    reference = json.loads((tmp_path / "reference" / "results.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert without_latencies(resumed) == without_latencies(reference)

    # 5. a fully cached re-run calls nothing
    run(agreement_command(tmp_path / "cached", preset))
    assert slow_server.service.stats.to_json()["requests"] == calls_before + calls_killed + calls_resumed

    # 6. the key was sent to the server but is written nowhere
    for folder in (tmp_path / "reference", tmp_path / "resumed", tmp_path / "cached", cache_dir):
        for path in folder.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    assert all(secret not in text for text in outputs)
