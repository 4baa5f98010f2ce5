"""Issue 26, defect 7 and the closing load check, at a smaller size: OpenRLHF 0.11.2's own reward client
(``_fetch_rewards_via_http``: a new aiohttp session per request, 5 retries 1 s apart on the same URL)
against two ``serve --reuse-port`` replicas sharing one port and one judgment cache, one of them killed
with SIGKILL mid-load, poisoned samples mixed in, and (slow variant) the shared cache on a full tmpfs.

Expected: 0 client failures, every poisoned sample flagged ``unscored``, every other sample rewarded as
the same judge rewards it without any fault (judged in-process, no server). On the old code one server
was a single point of failure (a kill -9 failed 96 of 2,000 requests through all five retries), a
poisoned sample failed its whole batch, and a full cache turned every POST into 500.

The test runs benchmarks/reward_server_load.py, the script that measures the full size (2,000 requests
at concurrency 32, one poisoned sample in every 100; docs/training.md has the figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load(*args: str) -> dict[str, Any]:
    command = [sys.executable, str(REPO / "benchmarks" / "reward_server_load.py"), "--replicas", "2",
               "--kill-after", "0.3", "--baseline", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    assert done.returncode == 0, done.stdout[-3000:]
    return result


def _check(result: dict[str, Any], poisoned: int) -> None:
    assert result["errors"] == 0, result["error_kinds"]  # 0 client failures
    assert result["killed"]["after_requests"] > 0
    assert result["faults"]["replica_exit_codes"] == [-9, 0]  # killed; the survivor drained and exited 0
    assert result["poisoned"] == poisoned and result["poisoned_flagged"] == poisoned
    assert result["clean_unscored"] == 0 and result["clean_mismatches"] == 0
    assert result["health"]["errors"] == 0 and result["faults"]["tracebacks"] == 0


def test_two_replicas_one_killed_with_poisoned_samples_under_openrlhfs_client() -> None:
    result = _load("--requests", "240", "--concurrency", "16", "--judge", "numeric", "--poison-every", "30")
    _check(result, poisoned=8)  # each kind of poison twice
    assert result["mis_rewarded"] == 0


@pytest.mark.slow  # two model-judge replicas and an in-process baseline: about 100 s on 2 shared cores
def test_the_same_with_a_model_judge_and_the_shared_cache_on_a_full_tmpfs() -> None:
    result = _load("--requests", "300", "--concurrency", "16", "--judge", "tiny", "--mode", "soft",
                   "--poison-every", "75", "--full-cache")
    _check(result, poisoned=4)
    assert result["faults"]["full_cache"] in ("tmpfs", "fsize")
    assert result["health"]["status"] == "degraded" and result["health"]["cache"] == "bypassed"
    assert "full" in result["health"]["problem"] or "disk I/O" in result["health"]["problem"]
    assert not result["faults"]["rollback_message"]
