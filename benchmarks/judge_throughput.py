"""How fast are the model judges, and do the design choices pay off? Three measurements in one run.

1. **One pass vs generation.** The hf backend scores a verdict with ONE forward
   pass over the prompt (the first token's distribution is the verdict). The
   usual alternative generates a few tokens and parses the text. Same model
   (the tiny judge), same triples, same batching, same threads.
2. **Concurrency.** The openai backend, 32 concurrent requests against 1, on
   servers (separate processes) that add 50 ms to every response, like a
   network round trip: a stub that answers at once after the delay (the
   client's own concurrency) and ``rlvr-bench serve-judge`` running the tiny
   model (end to end: the model's forward passes share the machine's CPUs).
3. **The judgment cache.** A run over N triples, then the same run again with
   every verdict cached, both through ``judging.judge_triples`` (the loop every
   command uses): for the hf tiny judge (the fastest model there is, so the
   least flattering case) and for the openai backend against the 50 ms server.

    python benchmarks/judge_throughput.py                 # 192 triples
    python benchmarks/judge_throughput.py --triples 96 --threads 2
    python benchmarks/judge_throughput.py --judge smollm2      # any hf preset in place of the tiny judge

The tiny judge is built on first use (about 30 s of CPU); caches live in a
temporary folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic_triples(n: int, seed: int = 0) -> list[Any]:
    from rlvr_bench.judges.tiny_judge import synthetic_example

    rng = random.Random(seed)
    return [synthetic_example(rng)[0] for _ in range(n)]


def timed(action: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def parse_generated(text: str) -> bool | None:
    """The usual parse of a generated verdict: does the text start with YES or NO (any case)?

    The tiny judge never learned to stop after its verdict ("YESYESYES..."), so
    the parse looks at how the text starts rather than at a whole first word.
    """
    match = re.match(r"\W*(yes|no)", text, flags=re.IGNORECASE)
    return None if match is None else match.group(1).lower() == "yes"


def one_pass_vs_generate(judge: Any, triples: list[Any], batch_size: int) -> dict[str, float]:
    """Seconds for one-pass scoring and for generate(max_new_tokens=8) + parse, with the same batches."""
    import torch

    lm = judge.lm
    judge.batch_size = batch_size

    def generate_and_parse() -> list[Any]:
        # the same steps as one-pass scoring: render, chat template, tokenize, length buckets
        prompts = [lm.encode(judge.render(t)) for t in triples]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # the same length bucketing
        texts: dict[int, str] = {}
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                width = max(len(prompts[i]) for i in rows)
                ids = torch.tensor([[lm.pad_id] * (width - len(prompts[i])) + prompts[i] for i in rows])
                mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in rows])
                out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=8, do_sample=False,
                                        pad_token_id=lm.pad_id)
                for row, index in enumerate(rows):
                    texts[index] = lm.tokenizer.decode(out[row, width:], skip_special_tokens=True)
        return [parse_generated(texts[i]) for i in range(len(prompts))]

    def one_pass() -> list[Any]:
        return judge.judge_batch(triples)

    one_pass()  # warm-up (allocations, kernels)
    generate_and_parse()
    threads = torch.get_num_threads()
    if judge.lm.threads:
        torch.set_num_threads(judge.lm.threads)  # generation runs under the same thread setting as scoring
    try:
        generate_s, generated = min((timed(generate_and_parse) for _ in range(2)), key=lambda r: r[0])
    finally:
        torch.set_num_threads(threads)
    one_pass_s, scored = min((timed(one_pass) for _ in range(2)), key=lambda r: r[0])
    same = sum(a.passed == b for a, b in zip(scored, generated, strict=True)) / len(triples)
    return {"one_pass_s": one_pass_s, "generate_s": generate_s, "verdict_agreement": same}


def start_server(model: str, latency_ms: float, threads: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-c", "from rlvr_bench.cli import main; main()", "serve-judge", "--model", model,
               "--port", "0", "--served-name", "tiny", "--device", "cpu", "--added-latency-ms", str(latency_ms),
               "--threads", str(threads), "--max-batch", "64"]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("serving "):
        process.kill()
        raise SystemExit(f"serve-judge did not start: {line!r}")
    return process, line.split(" at ")[1].strip()


def serve_stub(latency_ms: float) -> None:
    """An OpenAI-compatible stub: a fixed YES verdict with logprobs after ``latency_ms``; prints its URL."""
    import json
    import math
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    top = [{"token": "YES", "logprob": math.log(0.7), "bytes": None},
           {"token": "NO", "logprob": math.log(0.3), "bytes": None}]
    body = json.dumps({"id": "stub", "object": "chat.completion", "created": 0, "model": "stub",
                       "choices": [{"index": 0, "finish_reason": "length",
                                    "message": {"role": "assistant", "content": "YES"},
                                    "logprobs": {"content": [{**top[0], "top_logprobs": top}]}}],
                       "usage": {"prompt_tokens": 200, "completion_tokens": 1, "total_tokens": 201}}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(latency_ms / 1000.0)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Listener(ThreadingHTTPServer):
        request_queue_size = 256  # the default backlog of 5 drops SYNs when 32 connections open at once
        daemon_threads = True

    server = Listener(("127.0.0.1", 0), Handler)
    print(f"serving stub at http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


def start_stub(latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, __file__, "--stub-server", str(latency_ms)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().split(" at ")[1].strip()


def concurrency_speedup(base_url: str, triples: list[Any]) -> tuple[float, float]:
    """Seconds for the triples at concurrency 1 and at concurrency 32."""
    http_judge(base_url, 4).judge_batch(triples[:8])  # warm-up: connections, server threads
    serial_s, _ = timed(lambda: http_judge(base_url, 1).judge_batch(triples))
    parallel_s, parallel = timed(lambda: http_judge(base_url, 32).judge_batch(triples))
    assert all(v.passed is not None for v in parallel)
    return serial_s, parallel_s


def http_judge(base_url: str, concurrency: int) -> Any:
    from rlvr_bench.judges.base import JudgeSpec
    from rlvr_bench.judges.openai_backend import OpenAIJudge

    return OpenAIJudge(JudgeSpec("tiny-http", "openai", params={
        "model": "tiny", "base_url": base_url, "api_key_required": False, "concurrency": concurrency,
        "timeout_s": 60}))


def cached_rerun(judge: Any, triples: list[Any], folder: Path, batch_size: int) -> dict[str, float]:
    from rlvr_bench.judges.cache import JudgmentCache
    from rlvr_bench.judging import judge_triples

    with JudgmentCache(folder / f"{judge.name}-{judge.spec.backend}.sqlite") as cache:
        first_s, first = timed(lambda: judge_triples(judge, triples, batch_size=batch_size, cache=cache))
        again_s, again = timed(lambda: judge_triples(judge, triples, batch_size=batch_size, cache=cache))
    assert [v.p_pass for v in first] == [v.p_pass for v in again]
    return {"first_s": first_s, "cached_s": again_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--triples", type=int, default=192, help="synthetic verifier triples per measurement")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts per forward pass (hf)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per forward pass")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="latency the local server adds")
    parser.add_argument("--stub-server", type=float, metavar="MS", help=argparse.SUPPRESS)
    parser.add_argument("--judge", default="tiny", help="an hf judge preset (name or YAML file) to measure in "
                        "place of the tiny judge; its checkpoint is also what serve-judge serves")
    args = parser.parse_args()
    if args.stub_server is not None:
        serve_stub(args.stub_server)
        return

    from rlvr_bench.judges.base import JudgeSpec
    from rlvr_bench.judges.hf_backend import HFJudge
    from rlvr_bench.judges.tiny_judge import ensure_tiny_judge

    triples = synthetic_triples(args.triples)
    if args.judge == "tiny":
        model = str(ensure_tiny_judge())
        judge = HFJudge(JudgeSpec("tiny", "hf", params={"model": model, "device": "cpu", "dtype": "float32",
                                                        "batch_size": args.batch_size, "threads": args.threads}))
    else:
        from dataclasses import replace

        from rlvr_bench.judges.registry import resolve_preset

        spec = resolve_preset(args.judge).spec
        if spec.backend != "hf":
            raise SystemExit(f"--judge {args.judge}: backend {spec.backend!r}; this benchmark runs hf judges")
        judge = HFJudge(replace(spec, params={**spec.params, "device": "cpu", "dtype": "float32",
                                              "batch_size": args.batch_size, "threads": args.threads}))
        model = str(judge.lm.path)
    print(f"model: {args.judge} judge ({model}), {len(triples)} triples, batch {args.batch_size}, "
          f"{args.threads} thread(s), {os.cpu_count()} CPUs")

    print("\n1. one forward pass vs generate(max_new_tokens=8) + parse (hf backend, same triples and batches)")
    for batch_size in (args.batch_size, 1):
        scoring = one_pass_vs_generate(judge, triples, batch_size)
        print(f"   batch {batch_size:>3}: one pass {scoring['one_pass_s']:7.3f} s "
              f"({len(triples) / scoring['one_pass_s']:7.1f} verdicts/s), generate + parse "
              f"{scoring['generate_s']:7.3f} s ({len(triples) / scoring['generate_s']:7.1f} verdicts/s): "
              f"{scoring['generate_s'] / scoring['one_pass_s']:4.1f}x faster (target >= 3x); "
              f"same pass/fail on {scoring['verdict_agreement']:.0%}")

    print(f"\n2. openai backend, concurrency 32 vs 1, server adding {args.latency_ms:.0f} ms per response")
    stub, stub_url = start_stub(args.latency_ms)
    try:
        serial_s, parallel_s = concurrency_speedup(stub_url, triples)
    finally:
        stub.terminate()
        stub.wait(timeout=30)
    print(f"   stub server:         c=1 {serial_s:7.3f} s ({len(triples) / serial_s:6.1f} verdicts/s), c=32 "
          f"{parallel_s:7.3f} s ({len(triples) / parallel_s:6.1f} verdicts/s): {serial_s / parallel_s:5.1f}x "
          f"(target >= 15x)")
    process, base_url = start_server(model, args.latency_ms, args.threads)
    try:
        serial_s, parallel_s = concurrency_speedup(base_url, triples)
        print(f"   serve-judge ({args.judge}):  c=1 {serial_s:7.3f} s "
              f"({len(triples) / serial_s:6.1f} verdicts/s), c=32 "
              f"{parallel_s:7.3f} s ({len(triples) / parallel_s:6.1f} verdicts/s): {serial_s / parallel_s:5.1f}x")

        with tempfile.TemporaryDirectory() as folder:
            local = cached_rerun(judge, triples, Path(folder), batch_size=64)
            remote = cached_rerun(http_judge(base_url, 32), triples, Path(folder), batch_size=64)
        print("\n3. fully cached re-run vs first run (judging.judge_triples with the SQLite cache)")
        for label, figures in ((f"hf {args.judge} judge", local), ("openai to serve-judge", remote)):
            print(f"   {label:<21} first {figures['first_s']:7.3f} s, cached {figures['cached_s']:7.3f} s = "
                  f"{figures['cached_s'] / figures['first_s']:6.1%} of the first run   (target < 5%)")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
