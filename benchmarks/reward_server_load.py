"""Load test of the reward server on loopback with OpenRLHF's own reward client: N requests at concurrency C,
optionally with faults: poisoned samples, replicas with one killed mid-load, a cache on a full filesystem.

Starts ``rlvr-bench serve`` in subprocesses (real processes, so client and server do not share the GIL)
with a fresh judgment cache (the model folder linked, so every verdict is computed, not looked up), waits
for ``/health``, and fires the requests. ``--client openrlhf`` (the default) sends each one through
OpenRLHF 0.11.2's ``SingleTurnAgentExecutor._fetch_rewards_via_http`` (a new aiohttp session per
request, 5 retries 1 s apart, then RuntimeError: a client failure), exactly as a rollout does: one
response per request, chat-templated prompt, the query ending in the EOS text ``<|im_end|>``.
``--client httpx`` sends ``--samples`` responses per request with a pooled httpx client.

Faults (all optional):

- ``--poison-every K``: every K-th sample is poisoned, cycling through a lone surrogate in the response
  (for a model judge; a 30,000-character line for a rule judge), an empty label, a null label and a
  query that does not contain its prompt. Each must come back flagged ``unscored``.
- ``--replicas R``: R ``serve --reuse-port`` processes on one port, one URL; ``--kill-after F`` sends
  SIGKILL to one of them once a fraction F of the requests is answered.
- ``--full-cache``: the cache folder is a 1 MiB tmpfs left with ``--free-kib`` KiB free, mounted in a
  private mount namespace (``unshare --user --map-root-user --mount``) that holds every replica; where
  that is not allowed, RLIMIT_FSIZE on the replicas makes writes past ``--free-kib`` KiB fail instead.
- ``--baseline``: the clean samples are also judged in this process (same rows, no server, no faults) and
  every clean reward must match (to 1e-4: float32 sums differ by ~1e-6 between batch shapes).

Prints p50 / p99 latency, throughput, client failures, retries (requests that took over 1 s: the client's
retry pause), poisoned / flagged, clean mismatches and mis-rewards (rule judges: a reward that disagrees
with the generated answer's correctness), then one JSON line; exits 1 when any check fails.

    python benchmarks/reward_server_load.py --requests 2000 --concurrency 32 --judge numeric
    python benchmarks/reward_server_load.py --requests 2000 --concurrency 32 --judge tiny --mode soft \\
        --poison-every 100 --replicas 2 --kill-after 0.3 --full-cache --baseline
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
REPO = Path(__file__).resolve().parent.parent
POISONS = ("bad_text", "empty_label", "null_label", "lost_prompt")
RULE_JUDGES = ("numeric", "contains", "math", "exact")


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


def poison(row: tuple[str, str, Any, bool], kind: str, model_judge: bool) -> tuple[str, str, Any, bool]:
    prompt, query, label, correct = row
    if kind == "bad_text":  # a model judge's tokenizer raises on a lone surrogate; a rule judge is bounded
        bad = "\ud800" if model_judge else "1 " * 15_000
        return prompt, query.replace(".\n<|im_end|>", f" {bad}.\n<|im_end|>"), label, correct  # in the final step
    if kind == "empty_label":
        return prompt, query, "", correct
    if kind == "null_label":
        return prompt, query, None, correct
    return prompt.replace("What dose?", "What is the dose?"), query[len(prompt):], label, correct  # lost_prompt


def request_bodies(requests: int, samples: int, seed: int, poison_every: int, model_judge: bool
                   ) -> list[dict[str, list[Any]]]:
    rng = random.Random(seed)
    bodies, count = [], 0
    for _ in range(requests):
        rows = []
        for _ in range(samples):
            row, kind = sample(rng), ""
            count += 1
            if poison_every and count % poison_every == 0:
                kind = POISONS[(count // poison_every - 1) % len(POISONS)]
                row = poison(row, kind, model_judge)
            rows.append((*row, kind))
        bodies.append({"query": [r[1] for r in rows], "prompts": [r[0] for r in rows], "labels": [r[2] for r in rows],
                       "correct": [r[3] for r in rows], "poison": [r[4] for r in rows]})
    return bodies


def wire(body: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {key: body[key] for key in ("query", "prompts", "labels")}


def _stats(latencies: list[float], wall: float, requests: int, samples: int) -> dict[str, float]:
    array = np.array(latencies) * 1000.0
    return {"wall_s": wall, "p50_ms": float(np.percentile(array, 50)), "p99_ms": float(np.percentile(array, 99)),
            "max_ms": float(array.max()), "requests_per_s": requests / wall,
            "responses_per_s": requests * samples / wall, "retried": int((array > 1000.0).sum())}


async def run_load(url: str, bodies: list[dict[str, list[Any]]], concurrency: int, client: str,
                   kill: tuple[float, int] | None = None) -> dict[str, Any]:
    """Send every body; ``kill`` = (fraction, pid): SIGKILL that replica once the fraction is answered."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    replies: list[dict[str, Any] | None] = [None] * len(bodies)
    pending = list(reversed(range(len(bodies))))
    fetch = None
    if client == "openrlhf":
        from openrlhf.utils.agent import SingleTurnAgentExecutor

        fetch = SingleTurnAgentExecutor([f"{url}/get_reward"])._fetch_rewards_via_http
    killed: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=180.0) as pool:

        async def one(body: dict[str, list[Any]]) -> dict[str, Any]:
            if fetch is not None:
                reply: dict[str, Any] = (await fetch(body["query"], body["prompts"], body["labels"]))[0]
                return reply
            answer = await pool.post(f"{url}/get_reward", json=wire(body))
            answer.raise_for_status()
            data: dict[str, Any] = answer.json()
            return data

        async def worker() -> None:
            while pending:
                index = pending.pop()
                began = time.perf_counter()
                try:
                    replies[index] = await one(bodies[index])
                except Exception as exc:  # the benchmark counts every kind of failure
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - began)
                if kill and not killed and len(latencies) >= kill[0] * len(bodies):
                    os.kill(kill[1], signal.SIGKILL)
                    killed.update(pid=kill[1], after_requests=len(latencies))

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    samples = len(bodies[0]["query"])
    return {"client": client, "requests": len(bodies), "concurrency": concurrency, "responses_per_request": samples,
            "errors": sum(errors.values()), "error_kinds": errors, "killed": killed, "replies": replies,
            **_stats(latencies, wall, len(bodies), samples)}


def check_replies(bodies: list[dict[str, list[Any]]], replies: list[dict[str, Any] | None], numeric: bool,
                  expected: list[float] | None) -> dict[str, int]:
    """Poisoned samples flagged; clean ones unflagged, equal to the fault-free ``expected`` rewards (when given)
    and, for rule judges, to the generated answer's correctness."""
    counts = {"poisoned": 0, "poisoned_flagged": 0, "clean_unscored": 0, "clean_mismatches": 0, "mis_rewarded": 0}
    clean = 0
    for body, reply in zip(bodies, replies, strict=True):
        if reply is None:
            continue
        for k, kind in enumerate(body["poison"]):
            flag, reward = reply["extra_logs"]["unscored"][k], reply["rewards"][k]
            if kind:
                counts["poisoned"] += 1
                counts["poisoned_flagged"] += int(flag == 1.0)
                continue
            counts["clean_unscored"] += int(flag == 1.0)
            if expected is not None and abs(reward - expected[clean]) > 1e-4:
                counts["clean_mismatches"] += 1
            if numeric and flag == 0.0 and reward != float(body["correct"][k]):
                counts["mis_rewarded"] += 1
            clean += 1
    return counts


def fault_free_rewards(judge_name: str, mode: str, bodies: list[dict[str, list[Any]]]) -> list[float]:
    """The clean samples' rewards judged in this process: the same rows, no server, no cache, no faults."""
    from rlvr_bench.judges.registry import judge
    from rlvr_bench.judging import judge_triples
    from rlvr_bench.reward_server import parse_rows
    from rlvr_bench.training.rewards import protocol_rewards

    triples = []
    for body in bodies:
        rows, _ = parse_rows(json.dumps(wire(body)).encode())
        triples += [row.triples[0] for row, kind in zip(rows, body["poison"], strict=True) if not kind]
    verdicts = judge_triples(judge(judge_name), triples, batch_size=64, cache=None)
    return protocol_rewards(verdicts, mode)[0]


def wait_healthy(url: str, replicas: int = 1, timeout_s: float = 60.0) -> None:
    """Until ``replicas`` different processes have answered ``/health`` (each poll is a new connection, which
    the kernel hands to any replica listening on the port)."""
    seen: set[object] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            reply = httpx.get(f"{url}/health", timeout=2.0)
            if reply.status_code == 200:
                seen.add(reply.json().get("pid"))
                if len(seen) >= replicas:
                    return
        time.sleep(0.1)
    raise SystemExit(f"{replicas} server(s) at {url} did not become healthy in {timeout_s} s ({len(seen)} did)")


def serve_command(args: argparse.Namespace, port: int) -> list[str]:
    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve", "--judge", args.judge,
               "--mode", args.mode, "--port", str(port)]
    return command + (["--reuse-port"] if args.replicas > 1 else [])


def launch_replicas(cache: Path, logs: Path, replicas: int, command: list[str], free_kib: int, full: str) -> None:
    """Inside the private mount namespace (``--_launch``): the nearly full tmpfs, then the replicas; prints their
    pids as one JSON line and waits for them (SIGTERM is passed on)."""
    if full == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(cache)], check=True)
    link_models(cache)
    if full == "tmpfs":
        with contextlib.suppress(OSError), (cache / "filler").open("wb") as filler:
            filler.write(b"\0" * (1024 - free_kib) * 1024)
    processes = [subprocess.Popen(command, env={**os.environ, "RLVR_BENCH_CACHE": str(cache)},
                                  stderr=(logs / f"replica{k}.log").open("w"), preexec_fn=_file_limit(full, free_kib))
                 for k in range(replicas)]
    signal.signal(signal.SIGTERM, lambda *_: [p.send_signal(signal.SIGTERM) for p in processes if p.poll() is None])
    print(json.dumps({"pids": [p.pid for p in processes]}), flush=True)
    parent = os.getppid()
    while any(p.poll() is None for p in processes):
        if os.getppid() != parent:  # the benchmark is gone: take the replicas down with this launcher
            for p in processes:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
        time.sleep(0.5)
    print(json.dumps({"exit_codes": [p.returncode for p in processes]}), flush=True)


def _file_limit(full: str, free_kib: int) -> Any:
    if full != "fsize":
        return None

    def limit() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (free_kib * 1024, free_kib * 1024))
    return limit


def link_models(cache: Path) -> None:
    from rlvr_bench.paths import cache_home

    if (cache_home() / "models").is_dir() and not (cache / "models").exists():
        (cache / "models").symlink_to(cache_home() / "models", target_is_directory=True)


def start_servers(args: argparse.Namespace, port: int, cache: Path, logs: Path) -> tuple[subprocess.Popen[str],
                                                                                          list[int], str]:
    """The launcher process (in a private mount namespace when the cache must be a full tmpfs), the replica
    pids, and which full-disk fault is in use ("tmpfs", "fsize" or "none")."""
    full = "none"
    prefix: list[str] = []
    if args.full_cache:
        allowed = subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0
        full, prefix = ("tmpfs", ["unshare", "-rm"]) if allowed else ("fsize", [])
    launcher = subprocess.Popen(
        [*prefix, sys.executable, __file__, "--_launch", str(cache), "--_logs", str(logs), "--replicas",
         str(args.replicas), "--free-kib", str(args.free_kib), "--_full", full, "--",
         *serve_command(args, port)], stdout=subprocess.PIPE, stderr=(logs / "launcher.log").open("w"), text=True,
        start_new_session=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert launcher.stdout is not None
    pids = json.loads(launcher.stdout.readline())["pids"]
    return launcher, pids, full


def stop_servers(launcher: subprocess.Popen[str]) -> None:
    """SIGTERM to the launcher's session (the replicas drain and exit); SIGKILL to it when it has not ended
    within 90 s (``unshare`` may run the launcher as its child, so its pid alone is not enough)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(launcher.pid, signal.SIGTERM)  # the launcher's session: unshare, the launcher, the replicas
    try:
        launcher.wait(timeout=90)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", choices=("openrlhf", "httpx"), default="openrlhf")
    parser.add_argument("--samples", type=int, default=4, help="responses per request (--client httpx)")
    parser.add_argument("--judge", default="numeric")
    parser.add_argument("--mode", default="binary")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--poison-every", type=int, default=0)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--kill-after", type=float, default=None, help="SIGKILL one replica after this fraction")
    parser.add_argument("--full-cache", action="store_true")
    parser.add_argument("--free-kib", type=int, default=48)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--_launch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_logs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_full", default="none", help=argparse.SUPPRESS)
    parser.add_argument("serve", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._launch is not None:
        launch_replicas(args._launch, args._logs, args.replicas, args.serve, args.free_kib, args._full)
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cache, logs = Path(tempfile.mkdtemp(prefix="reward-load-cache-")), Path(tempfile.mkdtemp(prefix="reward-logs-"))
    samples = 1 if args.client == "openrlhf" else args.samples
    bodies = request_bodies(args.requests, samples, args.seed, args.poison_every, args.judge not in RULE_JUDGES)
    launcher, pids, full = start_servers(args, port, cache, logs)
    try:
        expected = fault_free_rewards(args.judge, args.mode, bodies) if args.baseline else None  # while they start
        wait_healthy(url, args.replicas, timeout_s=600.0)
        warm = request_bodies(1, 1, 2, 0, False)[0]  # the judge's first call loads its rules or weights: not timed
        httpx.post(f"{url}/get_reward", json=wire(warm), timeout=600.0)
        kill = (args.kill_after, pids[0]) if args.kill_after is not None and len(pids) > 1 else None
        stats = asyncio.run(run_load(url, bodies, args.concurrency, args.client, kill))
        bad = httpx.post(f"{url}/get_reward", content=b"{not json", headers={"Content-Type": "application/json"})
        after = httpx.post(f"{url}/get_reward", json=wire(request_bodies(1, 2, 1, 0, False)[0]))
        health = httpx.get(f"{url}/health").json()
    finally:
        stop_servers(launcher)
    assert launcher.stdout is not None
    ended = json.loads(launcher.stdout.readline() or "{}").get("exit_codes")
    stats["replica_exit_codes"] = ended
    logged = "".join(p.read_text(errors="replace") for p in sorted(logs.glob("replica*.log")))
    report(args, stats, check_replies(bodies, stats.pop("replies"), args.judge in RULE_JUDGES, expected), health,
           bad.status_code, after.status_code, full, logged)


def report(args: argparse.Namespace, stats: dict[str, Any], counts: dict[str, int], health: dict[str, Any],
           bad: int, after: int, full: str, logged: str) -> None:
    faults = {"poison_every": args.poison_every, "replicas": args.replicas, "killed": stats["killed"],
              "full_cache": full, "cache_status": health.get("cache"), "status": health.get("status"),
              "rollback_message": "cannot rollback" in logged, "tracebacks": logged.count("Traceback"),
              "replica_exit_codes": stats.pop("replica_exit_codes")}
    print(f"judge {args.judge} ({args.mode}), client {stats['client']}; {stats['requests']} requests x "
          f"{stats['responses_per_request']} responses at concurrency {stats['concurrency']} on loopback; "
          f"{args.replicas} replica(s)" + (f", one killed after {stats['killed'].get('after_requests')} requests"
                                          if stats["killed"] else "") + (f", cache on a full disk ({full})"
                                                                         if full != "none" else ""))
    print(f"client failures {stats['errors']} {stats['error_kinds'] or ''}".rstrip() + f", retried {stats['retried']}"
          f", poisoned {counts['poisoned']} (flagged {counts['poisoned_flagged']}), clean unscored "
          f"{counts['clean_unscored']}, clean mismatches {counts['clean_mismatches']}"
          + (f", mis-rewarded {counts['mis_rewarded']}" if args.judge in RULE_JUDGES else ""))
    print(f"latency p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, max {stats['max_ms']:.1f} ms")
    print(f"throughput {stats['requests_per_s']:.0f} requests/s ({stats['responses_per_s']:.0f} responses/s), "
          f"wall {stats['wall_s']:.2f} s; surviving replica: status {health['status']}, cache {health['cache']}, "
          f"server errors {health['errors']}, sample errors {health['sample_errors']}")
    print(f"malformed body -> HTTP {bad}; next request -> HTTP {after}")
    print(json.dumps({**stats, **counts, "faults": faults, "malformed_status": bad, "after_malformed_status": after,
                      "health": health}))
    failed = (stats["errors"] or health["errors"] or bad != 400 or after != 200 or counts["mis_rewarded"]
              or counts["poisoned_flagged"] != counts["poisoned"] or counts["clean_unscored"]
              or counts["clean_mismatches"] or faults["rollback_message"]
              or any(code not in (0, -signal.SIGKILL) for code in faults["replica_exit_codes"] or [1]))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
