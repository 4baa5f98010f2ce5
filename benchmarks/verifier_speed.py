"""Seconds per verdict of local model judges, side by side in one run (default: the trained ``smol-verifier``
against zero-shot ``smollm2``, its base).

Each judge scores the same triples (the bundled verifier-gold task's first ``--triples`` responses) at the
same batch size and threads, through ``judge_batch`` (no judgment cache), after one warm-up batch. The judges
run in turn, ``--repeats`` times, and each keeps its best time, so a load spike on a shared machine hits one
repeat rather than one judge. Load is printed beside the numbers.

    python benchmarks/verifier_speed.py                                  # smol-verifier vs smollm2, batch 16
    python benchmarks/verifier_speed.py --judges smol-verifier,smollm2,tiny --batch 16 --threads 2
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from smollm2_judge import gold_triples  # noqa: E402  (the same triples as the single-judge benchmark)


def make_judge(name: str, batch_size: int) -> Any:
    from dataclasses import replace

    from rlvr_bench.judges.registry import build_judge, resolve_preset

    spec = resolve_preset(name).spec
    if spec.backend != "hf":
        raise SystemExit(f"--judges {name}: backend {spec.backend!r}; this benchmark times local hf judges")
    # float32 on cpu for every judge: the same arithmetic, so the comparison is the model's and not the dtype's
    return build_judge(replace(spec, params={**spec.params, "device": "cpu", "dtype": "float32",
                                             "batch_size": batch_size}))


def best_seconds(judge: Any, triples: list[Any], batch_size: int) -> float:
    began = time.perf_counter()
    for start in range(0, len(triples), batch_size):
        verdicts = judge.judge_batch(triples[start:start + batch_size])
        if any(v.passed is None for v in verdicts):
            raise SystemExit(f"{judge.name}: unscored verdicts in the benchmark ({verdicts[0].error})")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judges", default="smol-verifier,smollm2")
    parser.add_argument("--triples", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    triples = gold_triples(args.triples)
    judges = [make_judge(name, args.batch) for name in args.judges.split(",")]
    for judge in judges:  # warm-up: model load, the shared prefix's keys and values, first-call allocations
        judge.judge_batch(triples[:args.batch])
    best = {judge.name: float("inf") for judge in judges}
    for _ in range(args.repeats):
        for judge in judges:
            best[judge.name] = min(best[judge.name], best_seconds(judge, triples, args.batch))
    print(f"{len(triples)} verifier-gold triples, batch {args.batch}, {torch.get_num_threads()} threads, float32, "
          f"best of {args.repeats}; load average {os.getloadavg()[0]:.2f}")
    baseline = judges[-1].name
    for name, seconds in best.items():
        per = seconds / len(triples)
        print(f"  {name:>16}: {per:.3f} s per verdict ({1 / per:.1f} verdicts/s), "
              f"{best[baseline] / seconds:.2f}x {baseline}'s speed")


if __name__ == "__main__":
    main()
