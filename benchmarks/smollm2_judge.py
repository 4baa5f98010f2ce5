"""A local model judge (default SmolLM2-135M-Instruct, ``--judge NAME`` for any hf preset): what the hf
backend's design buys on a real model, every ratio measured in one run.

1. **Prefix reuse vs whole prompts vs generation.** The hf backend scores a verdict with ONE
   forward pass (prompt plus the inner nodes of the verdict tree, "Y" and " Y"), and runs the
   prompt prefix every triple shares (system turn and instructions, ~2/3 of the tokens) once
   per run (``prefix_reuse``). Compared: that scorer; the same one pass over whole, padded
   prompts (the scorer before prefix reuse); and the usual alternative, 8 greedily generated
   tokens parsed as text. Same model, same triples (the bundled verifier-gold task), same
   threads, float32. The variants run in turn, ``--repeats`` times, and each keeps its best
   time, so a load spike on a shared machine hits one repeat, not one variant.
2. **Verdicts per second against the prefill ceiling.** One whole-prompt verdict costs at
   least one prefill: 2 x parameters x prompt tokens FLOPs. The ceiling is what a float32
   matmul of the model's largest shape (batch tokens x hidden @ hidden x intermediate)
   reaches here, measured in the same run. With prefix reuse a verdict costs less than
   that prefill, so its fraction can pass 100%.
3. **float32 vs bfloat16**, prefix reuse at batch 16, and what ``dtype: auto`` chose here.

    python benchmarks/smollm2_judge.py                      # smollm2, 16 triples, batch 16
    python benchmarks/smollm2_judge.py --judge smol-verifier --threads 1 --batches 1,16

Needs the converted model (``make install``). Timings on a shared machine vary with its load;
the script prints the load average next to the numbers.
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


def gold_triples(n: int) -> list[Any]:
    """The first ``n`` labelled responses of the bundled verifier-gold task, as every command judges them."""
    from rlvr_bench.judges.base import Triple
    from rlvr_bench.tasks import load_task

    task = load_task("verifier-gold")
    by_id = {item.id: item for item in task.items}
    return [Triple.of(by_id[r.item_id], r) for r in task.responses[:n]]


def make_judge(name: str, dtype: str, batch_size: int, threads: int | None = None) -> Any:
    """The hf preset ``name`` on cpu with ``dtype`` ("auto" measures) and ``batch_size``."""
    from dataclasses import replace

    from rlvr_bench.judges.hf_backend import HFJudge
    from rlvr_bench.judges.registry import resolve_preset

    spec = resolve_preset(name).spec
    if spec.backend != "hf":
        raise SystemExit(f"--judge {name}: backend {spec.backend!r}; this benchmark runs hf judges")
    params = {**spec.params, "device": "cpu", "dtype": dtype, "batch_size": batch_size}
    if threads:
        params["threads"] = threads
    return HFJudge(replace(spec, name=f"{name}-{dtype}", params=params))


def timed(action: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def one_pass(judge: Any, triples: list[Any], batch_size: int, reuse: bool = True) -> tuple[float, list[Any]]:
    """Time the hf scorer over ``triples`` in batches of ``batch_size``, with or without prefix reuse."""
    kept = judge.prefix_ids
    judge.batch_size = batch_size
    judge.prefix_ids = kept if reuse else ()
    try:
        return timed(lambda: [v for i in range(0, len(triples), batch_size)
                              for v in judge.judge_batch(triples[i:i + batch_size])])
    finally:
        judge.prefix_ids = kept


def generate_and_parse(judge: Any, triples: list[Any], batch_size: int, new_tokens: int = 8) -> tuple[float, list]:
    """Greedy generation of ``new_tokens`` tokens per triple (left-padded batches), then the text parse."""
    import torch

    from rlvr_bench.judges.verdict_parsing import verdict_from_text

    lm = judge.lm
    prompts = [lm.encode(judge.render(t)) for t in triples]

    def run() -> list[Any]:
        verdicts = []
        with torch.inference_mode(), lm.thread_scope():
            for start in range(0, len(prompts), batch_size):
                chunk = prompts[start:start + batch_size]
                width = max(len(p) for p in chunk)
                ids = torch.full((len(chunk), width), lm.pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, prompt in enumerate(chunk):
                    ids[row, width - len(prompt):] = torch.tensor(prompt)
                    mask[row, width - len(prompt):] = 1
                out = lm.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens,
                                        do_sample=False, pad_token_id=lm.pad_id)
                verdicts += [verdict_from_text(lm.decode(row[width:].tolist()), judge.words) for row in out]
        return verdicts

    return timed(run)


def matmul_flops_per_s(tokens: int, hidden: int, intermediate: int, threads: int | None, repeats: int = 5) -> float:
    """FLOP/s of a float32 (tokens x hidden) @ (hidden x intermediate) matmul here: the best of ``repeats``."""
    import torch

    a, b = torch.randn(tokens, hidden), torch.randn(hidden, intermediate)
    if threads:
        torch.set_num_threads(threads)
    a @ b  # warm-up
    best = min(timed(lambda: a @ b)[0] for _ in range(repeats))
    return 2.0 * tokens * hidden * intermediate / best


def best_of(repeats: int, variants: dict[str, Any]) -> dict[str, tuple[float, list[Any]]]:
    """Each variant run ``repeats`` times in turn; per variant the best time and its verdicts."""
    best: dict[str, tuple[float, list[Any]]] = {}
    for _ in range(repeats):
        for name, action in variants.items():
            seconds, verdicts = action()
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, verdicts)
    return best


def same_verdicts(a: list[Any], b: list[Any]) -> str:
    gap = max(abs(x.p_pass - y.p_pass) for x, y in zip(a, b, strict=True) if x.p_pass is not None)
    same = sum(x.passed == y.passed for x, y in zip(a, b, strict=True))
    return f"same verdict on {same}/{len(a)}, largest p_pass difference {gap:.1e}"


def compare_scorers(args: argparse.Namespace, judge: Any, triples: list[Any]) -> dict[str, float]:
    n = len(triples)
    seconds: dict[str, float] = {}
    for batch in args.batches:
        variants = {"prefix reuse": lambda b=batch: one_pass(judge, triples, b, reuse=True),
                    "whole prompts": lambda b=batch: one_pass(judge, triples, b, reuse=False),
                    "generate(8)+parse": lambda b=batch: generate_and_parse(judge, triples, b)}
        best = best_of(args.repeats, variants)
        for name, (t, _) in best.items():
            seconds[f"{name}, batch {batch}"] = t
        reuse, whole, gen = (best[k][0] for k in variants)
        scored = [(a, b) for a, b in zip(best["prefix reuse"][1], best["generate(8)+parse"][1], strict=True)
                  if b.passed is not None]
        print(f"batch {batch:2d} (best of {args.repeats}): prefix reuse {n / reuse:5.2f} verdicts/s, whole prompts "
              f"{n / whole:5.2f}, generate(8)+parse {n / gen:5.2f}: prefix reuse is {whole / reuse:.2f}x the "
              f"whole-prompt scorer and {gen / reuse:.1f}x generation")
        print(f"   prefix reuse vs whole prompts: {same_verdicts(best['prefix reuse'][1], best['whole prompts'][1])}; "
              f"generation left {n - len(scored)}/{n} unscored, same verdict on "
              f"{sum(a.passed == b.passed for a, b in scored)}/{len(scored)} it scored")
    return seconds


def report(args: argparse.Namespace) -> None:
    triples = gold_triples(args.triples)
    judge = make_judge(args.judge, "float32", 16, args.threads)
    config = judge.lm.model.config
    params = sum(p.numel() for p in judge.lm.model.parameters())
    prompt_tokens = [len(judge.lm.encode(judge.render(t))) for t in triples]
    mean_tokens = sum(prompt_tokens) / len(prompt_tokens)
    print(f"judge {args.judge}: {params / 1e6:.1f}M parameters, {len(triples)} verifier-gold triples, "
          f"{mean_tokens:.0f} prompt tokens on average, {len(judge.prefix_ids)} of them the shared prefix; "
          f"torch threads {args.threads or 'default'}; load average before: {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    one_pass(judge, triples[:2], 2)  # warm-up (and the prefix's keys and values, once)
    seconds = compare_scorers(args, judge, triples)
    t_whole = seconds[f"whole prompts, batch {args.batches[-1]}"]
    t_reuse = seconds[f"prefix reuse, batch {args.batches[-1]}"]
    tokens = args.batches[-1] * int(mean_tokens)
    ceiling = matmul_flops_per_s(tokens, config.hidden_size, config.intermediate_size, args.threads)
    per_verdict = 2.0 * params * mean_tokens
    for name, t in (("whole prompts", t_whole), ("prefix reuse", t_reuse)):
        achieved = len(triples) / t * per_verdict
        print(f"prefill ceiling, {name} (batch {args.batches[-1]}): {len(triples) / t:.2f} verdicts/s = "
              f"{achieved / 1e9:.1f} GFLOP/s of whole-prompt prefill (2 x {params / 1e6:.0f}M x {mean_tokens:.0f} "
              f"tokens per verdict) = {achieved / ceiling:.0%} of the ceiling")
    print(f"   the ceiling: a {tokens}x{config.hidden_size} @ {config.hidden_size}x{config.intermediate_size} float32 "
          f"matmul reaches {ceiling / 1e9:.1f} GFLOP/s here ({ceiling / per_verdict:.2f} whole-prompt verdicts/s)")
    compare_dtypes(args, judge, triples[:args.bf16_triples])
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def compare_dtypes(args: argparse.Namespace, judge: Any, triples: list[Any]) -> None:
    judge16 = make_judge(args.judge, "bfloat16", 16, args.threads)
    one_pass(judge16, triples[:1], 1)  # warm-up
    best = best_of(args.repeats, {"float32": lambda: one_pass(judge, triples, 16),
                                  "bfloat16": lambda: one_pass(judge16, triples, 16)})
    (t32, v32), (t16, v16) = best["float32"], best["bfloat16"]
    print(f"float32 vs bfloat16 ({len(triples)} triples, prefix reuse, batch 16, best of {args.repeats}): "
          f"{len(triples) / t32:.2f} vs {len(triples) / t16:.2f} verdicts/s: bfloat16 is {t32 / t16:.2f}x the speed "
          f"of float32; {same_verdicts(v32, v16)}")
    auto = make_judge(args.judge, "auto", 16, args.threads)
    measured = auto.spec.params["dtype_measured"]
    print(f"dtype auto chose {measured['chosen']}: a {measured['probe_tokens']}-token forward pass took "
          f"{measured['float32_s'] * 1e3:.0f} ms in float32, {measured['bfloat16_s'] * 1e3:.0f} ms in bfloat16 "
          f"({measured['reason']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="smollm2", help="an hf judge preset (name or YAML file)")
    parser.add_argument("--triples", type=int, default=16)
    parser.add_argument("--bf16-triples", type=int, default=8)
    parser.add_argument("--batches", default="16", help="comma-separated batch sizes, e.g. 1,16")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant, in turn; the best is kept")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    args.batches = [int(b) for b in args.batches.split(",")]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    report(args)


if __name__ == "__main__":
    main()
