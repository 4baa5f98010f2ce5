"""verl calls ``compute_score`` from a thread pool, one task per sample: a lock around the judge, or micro-batching?

Runs N samples through the verl adapter from W threads (verl's reward loop uses the event loop's default
thread pool) twice: (a) the adapter as shipped (one worker thread per judge merges concurrent calls into
batches), (b) the alternative it replaced, one judge call per sample under a lock. Prints samples/s and
batch sizes; both are thread-safe, the question is throughput.

    python benchmarks/verl_reward_threads.py --judge tiny --samples 256 --threads 32
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from rlvr_bench.judges.registry import judge as build_judge
from rlvr_bench.judging import judge_triples
from rlvr_bench.reward_rows import label_row
from rlvr_bench.verl_reward import _batcher, compute_score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", default="tiny")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args()
    rng = random.Random(0)
    cases = [(f"{w} x {k} = {w * k + rng.choice((0, 1))}\nThe dose is {w * k + rng.choice((0, 1))} mg", f"{w * k} mg")
             for w, k in ((rng.randint(10, 99), rng.randint(1, 20)) for _ in range(args.samples))]
    info = {"question": "What dose?"}
    compute_score("s", "warm-up\n1", "1", info, judge=args.judge)  # load the judge once, outside the timing

    began = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(lambda case: compute_score("s", case[0], case[1], info, judge=args.judge), cases))
    batched = time.perf_counter() - began
    sizes = list(_batcher(args.judge).batch_sizes)[1:]

    judge, lock = build_judge(args.judge), threading.Lock()

    def locked(case: tuple[str, str]) -> None:
        row = label_row(case[0], "What dose?", case[1], "sample")
        with lock:
            judge_triples(judge, list(row.triples), cache=None)

    began = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(locked, cases))
    serial = time.perf_counter() - began
    print(f"judge {args.judge}, {args.samples} samples from {args.threads} threads")
    print(f"micro-batching (the adapter): {batched:.2f} s, {args.samples / batched:.1f} samples/s, "
          f"{len(sizes)} judge calls, mean batch {sum(sizes) / max(len(sizes), 1):.1f}")
    print(f"a lock, one call per sample:  {serial:.2f} s, {args.samples / serial:.1f} samples/s")


if __name__ == "__main__":
    main()
