"""The reward server under hostile or unlucky input (issue 16, items 6 and 7): deeply nested JSON, a body
shorter than its Content-Length, and SIGTERM while requests are in flight."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from probe_judges import SlowJudge

from rlvr_bench.reward_server import RewardService, RunningServer, start_server

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def server() -> Iterator[RunningServer]:
    running = start_server(RewardService(SlowJudge()))
    yield running
    running.stop()


@pytest.fixture()
def impatient_server() -> Iterator[RunningServer]:
    running = start_server(RewardService(SlowJudge()), socket_timeout_s=0.5)
    yield running
    running.stop()


def _serves(server: RunningServer) -> bool:
    body = {"query": ["p 7"], "prompts": ["p "], "labels": ["7"]}
    return httpx.post(f"{server.url}/get_reward", json=body).json()["rewards"] == [1.0]


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_gets_400(server: RunningServer, depth: int) -> None:
    body = b'{"query": ["p 7"], "prompts": ["p "], "labels": [' + b"[" * depth + b"]" * depth + b"]}"
    reply = httpx.post(f"{server.url}/get_reward", content=body)
    assert reply.status_code == 400 and "nested too deeply" in reply.json()["error"]
    assert _serves(server)


def test_a_body_shorter_than_its_content_length_times_out_with_408(impatient_server: RunningServer) -> None:
    server = impatient_server
    host, port = server.server.server_address[:2]
    began = time.monotonic()
    with socket.create_connection((str(host), port), timeout=10) as sock:
        sock.sendall(b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"query\": [")
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 408") and "Content-Length" in reply
    assert time.monotonic() - began < 5
    assert _serves(server) and server.service.health()["bad_requests"] == 1


def test_a_silent_connection_is_closed_after_the_socket_timeout(impatient_server: RunningServer) -> None:
    host, port = impatient_server.server.server_address[:2]
    with socket.create_connection((str(host), port), timeout=10) as sock:
        sock.sendall(b"POST /get_reward HTTP/1.1\r\n")  # headers never finished
        assert sock.recv(4096) == b""  # closed by the server, not held open forever


def _post(url: str, outcomes: list[str], lock: threading.Lock) -> None:
    body = {"query": ["p 7"], "prompts": ["p "], "labels": ["7"]}
    try:
        with httpx.Client(timeout=30) as client:  # a new connection per request, as OpenRLHF's client makes
            reply = client.post(url, json=body)
            outcome = "ok" if reply.status_code == 200 and reply.json()["rewards"] == [1.0] else str(reply.status_code)
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    with lock:
        outcomes.append(outcome)


def test_sigterm_drains_the_requests_in_flight_then_exits_0(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "RLVR_BENCH_CACHE": str(tmp_path / "cache")}
    # a 4 s batching window keeps every request in flight when the signal comes
    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", "--judge", "contains",
               "--port", str(port), "--max-wait-ms", "4000", "--drain-s", "20"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        outcomes: list[str] = []
        lock = threading.Lock()
        threads = [threading.Thread(target=_post, args=(f"{url}/get_reward", outcomes, lock)) for _ in range(24)]
        for thread in threads:
            thread.start()
        waited = time.monotonic() + 3
        while httpx.get(f"{url}/health", timeout=5).json()["in_flight"] < 25:  # 24 posts + this health check
            assert time.monotonic() < waited, "the requests did not all reach the server"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=30)
        assert outcomes == ["ok"] * 24  # every request accepted before the signal answered: no reset
        assert process.wait(timeout=30) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/health", timeout=2)  # no longer accepting
    finally:
        if process.poll() is None:
            process.kill()
        stderr = process.communicate()[1]
    assert "SIGTERM" in stderr and "Traceback" not in stderr
