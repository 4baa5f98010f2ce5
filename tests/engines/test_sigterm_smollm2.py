"""Issue 26, defect 4: SIGTERM with the real ``smollm2`` judge and 64 requests in flight.

A 64-response batch of SmolLM2-135M on a CPU outlasts a short drain. On the old code none of the 64 was
answered and the process died with SIGABRT ("terminate called without an active exception"); now every
request is answered within the drain (judged, or the fallback flagged ``unscored`` with the reason
"shutting down") and the process exits 0.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlvr_bench.paths import models_home

REPO = Path(__file__).resolve().parents[2]
IN_FLIGHT = 64
DRAIN_S = 10.0
PROMPT = "<|im_start|>user\nA patient weighs 70 kg; the dose is 5 mg/kg. What dose?<|im_end|>\n<|im_start|>assistant\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post(url: str, k: int, outcomes: list[Any], lock: threading.Lock) -> None:
    body = {"query": [f"{PROMPT}70 x 5 = {350 + k}\nThe answer is {350 + k} mg<|im_end|>"], "prompts": [PROMPT],
            "labels": ["350 mg"]}
    try:
        with httpx.Client(timeout=120) as client:  # one attempt, a new connection: no retry hides a reset
            reply = client.post(url, json=body)
            outcome: Any = (reply.status_code, reply.json()) if reply.status_code == 200 else (reply.status_code, None)
    except httpx.HTTPError as exc:
        outcome = (type(exc).__name__, None)
    with lock:
        outcomes.append(outcome)


def _wait_healthy(url: str, process: subprocess.Popen[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)


@pytest.mark.skipif(not (models_home() / "smollm2" / "model.safetensors").is_file(),
                    reason="the smollm2 checkpoint is prepared by `make install`")
def test_sigterm_answers_64_in_flight_smollm2_requests_and_exits_0(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "models").symlink_to(models_home(), target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "RLVR_BENCH_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", "--judge", "smollm2",
               "--port", str(port), "--drain-s", str(DRAIN_S), "--max-wait-ms", "500"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _wait_healthy(url, process, 300)
        outcomes: list[Any] = []
        lock = threading.Lock()
        threads = [threading.Thread(target=_post, args=(f"{url}/get_reward", k, outcomes, lock))
                   for k in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        waited = time.monotonic() + 30
        while httpx.get(f"{url}/health", timeout=10).json()["in_flight"] < IN_FLIGHT + 1:  # + this health check
            assert time.monotonic() < waited, "the requests did not all reach the server"
            time.sleep(0.05)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=DRAIN_S + 30)
        stopped_after = time.monotonic() - signalled
        for thread in threads:
            thread.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.communicate()[1]
    assert code == 0, stderr[-2000:]
    assert stopped_after < DRAIN_S + 5, stopped_after
    assert len(outcomes) == IN_FLIGHT and all(status == 200 for status, _ in outcomes), outcomes
    flagged = [data for _, data in outcomes if data["extra_logs"]["unscored"] == [1.0]]
    assert all("shutting down" in data["reasons"][0] for data in flagged)
    assert "Traceback" not in stderr and "terminate called" not in stderr
    print(f"SIGTERM with {IN_FLIGHT} smollm2 requests in flight: exit {code} after {stopped_after:.1f} s, "
          f"{IN_FLIGHT - len(flagged)} judged, {len(flagged)} answered with the flagged fallback")
