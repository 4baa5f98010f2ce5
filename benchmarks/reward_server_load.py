"""Load test of the reward server on loopback: N OpenRLHF-shaped requests at concurrency C.

Starts ``rlvr-bench serve`` in a subprocess (a real process, so client and server
do not share the GIL), waits for ``/health``, fires the requests with an asyncio
client, and prints p50 / p99 latency, throughput and error counts; it exits 1 on
any error. Afterwards it sends a malformed body (expects 400) and checks that the
server still answers.

    python benchmarks/reward_server_load.py --requests 1000 --concurrency 64 --judge numeric
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request_body(rng: random.Random, samples: int) -> dict[str, list[str]]:
    """OpenRLHF-shaped: query = prompt + response; half the answers correct, in varied surface forms."""
    prompts, queries, labels = [], [], []
    for _ in range(samples):
        weight, per_kg = rng.randint(10, 99), rng.randint(1, 20)
        prompt = f"<|user|>A patient weighs {weight} kg; the dose is {per_kg} mg/kg. What dose?<|assistant|>"
        dose = weight * per_kg if rng.random() < 0.5 else weight * per_kg + 1
        answer = rng.choice((f"{dose} mg", f"{dose / 1000:g} g", f"{dose} milligrams"))
        prompts.append(prompt)
        queries.append(f"{prompt}{weight} x {per_kg} = {dose}\nTherefore, the answer is {answer}.")
        labels.append(f"{weight * per_kg} mg")
    return {"query": queries, "prompts": prompts, "labels": labels}


async def run_load(url: str, requests: int, concurrency: int, samples: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    bodies = [request_body(rng, samples) for _ in range(requests)]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[dict[str, list[str]]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=180.0) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                began = time.perf_counter()
                try:
                    reply = await client.post(f"{url}/get_reward", json=body)
                    ok = reply.status_code == 200 and len(reply.json()["rewards"]) == samples
                    key = "ok" if ok else f"http {reply.status_code}"
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - began)
                if key != "ok":
                    errors[key] = errors.get(key, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    array = np.array(latencies) * 1000.0
    return {"requests": requests, "concurrency": concurrency, "responses_per_request": samples,
            "errors": sum(errors.values()), "error_kinds": errors, "wall_s": wall,
            "p50_ms": float(np.percentile(array, 50)), "p99_ms": float(np.percentile(array, 99)),
            "max_ms": float(array.max()), "requests_per_s": requests / wall,
            "responses_per_s": requests * samples / wall}


def wait_healthy(url: str, timeout_s: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            reply = httpx.get(f"{url}/health", timeout=2.0)
            if reply.status_code == 200:
                data: dict[str, object] = reply.json()
                return data
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become healthy in {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4, help="responses per request")
    parser.add_argument("--judge", default="numeric")
    parser.add_argument("--mode", default="binary")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    server = subprocess.Popen(
        [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", "--judge", args.judge,
         "--mode", args.mode, "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(url)
        stats = asyncio.run(run_load(url, args.requests, args.concurrency, args.samples, args.seed))
        bad = httpx.post(f"{url}/get_reward", content=b"{not json", headers={"Content-Type": "application/json"})
        after = httpx.post(f"{url}/get_reward", json=request_body(random.Random(1), 2))
        health = httpx.get(f"{url}/health").json()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"judge {args.judge} ({args.mode}); {stats['requests']} requests x {stats['responses_per_request']} "
          f"responses at concurrency {stats['concurrency']} on loopback")
    print(f"errors {stats['errors']} {stats['error_kinds'] or ''}".rstrip())
    print(f"latency p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, max {stats['max_ms']:.1f} ms")
    print(f"throughput {stats['requests_per_s']:.0f} requests/s ({stats['responses_per_s']:.0f} responses/s), "
          f"wall {stats['wall_s']:.2f} s, judge batches {health['batches']}")
    print(f"malformed body -> HTTP {bad.status_code}; next request -> HTTP {after.status_code}")
    print(json.dumps({**stats, "malformed_status": bad.status_code, "after_malformed_status": after.status_code}))
    failed = stats["errors"] or bad.status_code != 400 or after.status_code != 200
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
