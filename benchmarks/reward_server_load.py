"""Load test of the reward server on loopback with OpenRLHF's own reward client: N requests at concurrency C.

Starts ``rlvr-bench serve`` in a subprocess (a real process, so client and server
do not share the GIL) with a fresh judgment cache (the model folder linked, so
every verdict is computed, not looked up), waits for ``/health``, and fires the
requests. ``--client openrlhf`` (the default) sends each one through OpenRLHF
0.11.2's ``SingleTurnAgentExecutor._fetch_rewards_via_http`` (a new aiohttp session
per request, 5 retries 1 s apart), exactly as a rollout does: one response per
request, chat-templated prompt, the query ending in the EOS text ``<|im_end|>``.
``--client httpx`` sends ``--samples`` responses per request with a pooled
httpx client. Prints p50 / p99 latency, throughput, errors, retries (requests that
took over 1 s: the client's retry pause) and mis-rewards (numeric judges: a reward
that disagrees with the generated answer's correctness); exits 1 on any error.
Afterwards it sends a malformed body (expects 400) and checks the server still answers.

    python benchmarks/reward_server_load.py --requests 2000 --concurrency 32 --judge numeric
    python benchmarks/reward_server_load.py --requests 2000 --concurrency 32 --judge tiny

Measured (2 CPU cores shared with other jobs, `rlvr-bench serve` defaults, OpenRLHF client):
numeric 0 errors, p50 76 ms, p99 184 ms, 394 requests/s; tiny 0 errors, p50 167 ms, p99 345 ms,
183 requests/s (docs/training.md).
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
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

SYSTEM = "<|im_start|>system\nAnswer with the dose.<|im_end|>\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sample(rng: random.Random) -> tuple[str, str, str, bool]:
    """(prompt, query, label, correct): a ChatML prompt, the response ending in <|im_end|>, half correct."""
    weight, per_kg = rng.randint(10, 99), rng.randint(1, 20)
    prompt = (f"{SYSTEM}<|im_start|>user\nA patient weighs {weight} kg; the dose is {per_kg} mg/kg. "
              "What dose?<|im_end|>\n<|im_start|>assistant\n")
    correct = rng.random() < 0.5
    dose = weight * per_kg if correct else weight * per_kg + 1
    answer = rng.choice((f"{dose} mg", f"{dose / 1000:g} g", f"{dose} milligrams"))
    query = f"{prompt}{weight} x {per_kg} = {dose}\nTherefore, the answer is {answer}.\n<|im_end|>"
    return prompt, query, f"{weight * per_kg} mg", correct


def request_body(rng: random.Random, samples: int) -> dict[str, list[Any]]:
    rows = [sample(rng) for _ in range(samples)]
    return {"query": [r[1] for r in rows], "prompts": [r[0] for r in rows], "labels": [r[2] for r in rows],
            "correct": [r[3] for r in rows]}


def _stats(latencies: list[float], wall: float, requests: int, samples: int) -> dict[str, float]:
    array = np.array(latencies) * 1000.0
    return {"wall_s": wall, "p50_ms": float(np.percentile(array, 50)), "p99_ms": float(np.percentile(array, 99)),
            "max_ms": float(array.max()), "requests_per_s": requests / wall,
            "responses_per_s": requests * samples / wall, "retried": int((array > 1000.0).sum())}


async def run_load(url: str, requests: int, concurrency: int, samples: int, seed: int, client: str
                   ) -> dict[str, Any]:
    rng = random.Random(seed)
    bodies = [request_body(rng, 1 if client == "openrlhf" else samples) for _ in range(requests)]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counts = {"mis_rewarded": 0, "unscored": 0}
    pending = list(reversed(bodies))
    fetch = None
    if client == "openrlhf":
        from openrlhf.utils.agent import SingleTurnAgentExecutor

        fetch = SingleTurnAgentExecutor(f"{url}/get_reward")._fetch_rewards_via_http
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=180.0) as pool:

        async def one(body: dict[str, list[Any]]) -> dict[str, Any]:
            wire = {key: body[key] for key in ("query", "prompts", "labels")}
            if fetch is not None:
                reply: dict[str, Any] = (await fetch(wire["query"], wire["prompts"], wire["labels"]))[0]
                return reply
            answer = await pool.post(f"{url}/get_reward", json=wire)
            answer.raise_for_status()
            data: dict[str, Any] = answer.json()
            return data

        async def worker() -> None:
            while pending:
                body = pending.pop()
                began = time.perf_counter()
                try:
                    data = await one(body)
                    flags = data["extra_logs"]["unscored"]
                    counts["unscored"] += int(sum(flags))
                    counts["mis_rewarded"] += sum(flag == 0 and reward != float(correct) for reward, flag, correct
                                                  in zip(data["rewards"], flags, body["correct"], strict=True))
                except Exception as exc:  # the benchmark counts every kind of failure
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - began)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return {"client": client, "requests": requests, "concurrency": concurrency,
            "responses_per_request": 1 if client == "openrlhf" else samples, "errors": sum(errors.values()),
            "error_kinds": errors, **counts,
            **_stats(latencies, wall, requests, 1 if client == "openrlhf" else samples)}


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
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", choices=("openrlhf", "httpx"), default="openrlhf")
    parser.add_argument("--samples", type=int, default=4, help="responses per request (--client httpx)")
    parser.add_argument("--judge", default="numeric")
    parser.add_argument("--mode", default="binary")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    repo = Path(__file__).resolve().parent.parent
    from rlvr_bench.paths import cache_home

    cache = Path(tempfile.mkdtemp(prefix="reward-load-cache-"))
    if (cache_home() / "models").is_dir():
        (cache / "models").symlink_to(cache_home() / "models", target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": f"{repo}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "RLVR_BENCH_CACHE": str(cache)}
    server = subprocess.Popen(
        [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", "--judge", args.judge,
         "--mode", args.mode, "--port", str(port)], env=env, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_healthy(url, timeout_s=600.0)
        warm = request_body(random.Random(2), 1)  # the judge's first call loads its rules or weights: not timed
        httpx.post(f"{url}/get_reward", json={k: warm[k] for k in ("query", "prompts", "labels")}, timeout=600.0)
        stats = asyncio.run(run_load(url, args.requests, args.concurrency, args.samples, args.seed, args.client))
        bad = httpx.post(f"{url}/get_reward", content=b"{not json", headers={"Content-Type": "application/json"})
        body = request_body(random.Random(1), 2)
        after = httpx.post(f"{url}/get_reward", json={k: body[k] for k in ("query", "prompts", "labels")})
        health = httpx.get(f"{url}/health").json()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    numeric = args.judge in ("numeric", "contains", "math", "exact")
    print(f"judge {args.judge} ({args.mode}), client {stats['client']}; {stats['requests']} requests x "
          f"{stats['responses_per_request']} responses at concurrency {stats['concurrency']} on loopback")
    print(f"errors {stats['errors']} {stats['error_kinds'] or ''}".rstrip() + f", retried {stats['retried']}, "
          f"unscored {stats['unscored']}" + (f", mis-rewarded {stats['mis_rewarded']}" if numeric else ""))
    print(f"latency p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, max {stats['max_ms']:.1f} ms")
    print(f"throughput {stats['requests_per_s']:.0f} requests/s ({stats['responses_per_s']:.0f} responses/s), "
          f"wall {stats['wall_s']:.2f} s, judge batches {health['batches']}, server errors {health['errors']}")
    print(f"malformed body -> HTTP {bad.status_code}; next request -> HTTP {after.status_code}")
    print(json.dumps({**stats, "malformed_status": bad.status_code, "after_malformed_status": after.status_code,
                      "health": health}))
    failed = (stats["errors"] or health["errors"] or bad.status_code != 400 or after.status_code != 200
              or (numeric and stats["mis_rewarded"]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
