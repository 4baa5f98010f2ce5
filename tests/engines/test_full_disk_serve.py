"""Issue 26, defect 3, end to end: a real `rlvr-bench serve` whose judgment cache cannot be written (the disk is
full: every write past a few KiB fails, as RLIMIT_FSIZE makes it) keeps answering every request with correct
verdicts, and says so on /health, instead of turning every POST into HTTP 500 while /health says ok."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROMPT = "<|im_start|>user\nWhat is {k} + 4?<|im_end|>\n<|im_start|>assistant\n"
#: the cache's SQLite file and its WAL may grow to this before every write fails (EFBIG)
FILE_LIMIT_BYTES = 48 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _full_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing the server
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_BYTES, FILE_LIMIT_BYTES))


def _body(first: int, n: int) -> dict[str, list[str]]:
    prompts = [PROMPT.format(k=k) for k in range(first, first + n)]
    return {"query": [p + f"{k + 4}<|im_end|>" for p, k in zip(prompts, range(first, first + n), strict=True)],
            "prompts": prompts, "labels": [str(k + 4) for k in range(first, first + n)]}


def test_a_full_disk_under_the_cache_fails_no_request(tmp_path: Path) -> None:
    from rlvr_bench.judges.tiny_judge import ensure_tiny_judge
    from rlvr_bench.paths import cache_home

    ensure_tiny_judge()  # built once here, before the limit: a fresh clone has not built it yet
    port = _free_port()
    # the judge's model as installed (linked, not rebuilt under the limit); only the judgment cache is new
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(cache_home() / "models", target_is_directory=True)
    env = {**os.environ, "RLVR_BENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", "--judge", "tiny",
               "--port", str(port)]
    # output to pipes that nobody fills past the limit: a log file would be cut by the same limit
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=_full_disk)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        # 40 requests of 32 new triples each: far more verdicts than 48 KiB of cache holds
        replies = [httpx.post(f"{url}/get_reward", json=_body(32 * r, 32), timeout=60) for r in range(40)]
        assert [r.status_code for r in replies] == [200] * len(replies)
        # every sample judged (the rule judges are not cached, so the model judge `tiny` stands for any cached judge)
        assert all(r.json()["extra_logs"]["unscored"] == [0.0] * 32 for r in replies)
        health = httpx.get(f"{url}/health", timeout=5).json()
        assert health["status"] == "degraded" and health["cache"] == "bypassed", health
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
