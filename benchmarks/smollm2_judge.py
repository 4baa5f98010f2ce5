"""SmolLM2-135M-Instruct as a judge: what the hf backend's design buys on a real model, in one run.

1. **One pass vs generation.** The hf backend scores a verdict with ONE forward
   pass (prompt plus the two inner nodes of the verdict tree, "Y" and " Y"). The
   usual alternative generates 8 tokens greedily and parses the text. Same
   model, same triples (the bundled verifier-gold task), same threads; at batch
   1 and batch 16.
2. **Verdicts per second against the prefill ceiling.** One verdict costs at
   least one prefill: 2 x parameters x prompt tokens FLOPs. The ceiling is what
   a plain float32 matmul of the model's largest shape (batch tokens x hidden @
   hidden x intermediate) reaches on this machine, measured in the same run;
   the fraction says how much of it the judge turns into verdicts.
3. **float32 vs bfloat16**, one pass at batch 16 (bfloat16 pays only on CPUs
   with avx512_bf16 / AMX; elsewhere it is emulated and slower).

    python benchmarks/smollm2_judge.py                      # 16 triples
    python benchmarks/smollm2_judge.py --triples 8 --bf16-triples 4

Needs the converted model (``make install``). Timings on a shared machine vary
with its load; the script prints the load average next to the numbers.
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


def make_judge(dtype: str, batch_size: int) -> Any:
    from rlvr_bench.judges.base import JudgeSpec
    from rlvr_bench.judges.hf_backend import HFJudge

    return HFJudge(JudgeSpec(f"smollm2-{dtype}", "hf", params={"model": "smollm2", "prompt": "verifier",
                                                               "device": "cpu", "dtype": dtype,
                                                               "batch_size": batch_size}))


def timed(action: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def one_pass(judge: Any, triples: list[Any], batch_size: int) -> tuple[float, list[Any]]:
    judge.batch_size = batch_size
    return timed(lambda: [v for i in range(0, len(triples), batch_size)
                          for v in judge.judge_batch(triples[i:i + batch_size])])


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


def report(args: argparse.Namespace) -> None:
    triples = gold_triples(args.triples)
    judge = make_judge("float32", 16)
    judge.lm.threads = args.threads
    config = judge.lm.model.config
    params = sum(p.numel() for p in judge.lm.model.parameters())
    prompt_tokens = [len(judge.lm.encode(judge.render(t))) for t in triples]
    mean_tokens = sum(prompt_tokens) / len(prompt_tokens)
    print(f"SmolLM2-135M-Instruct: {params / 1e6:.1f}M parameters, {len(triples)} verifier-gold triples, "
          f"{mean_tokens:.0f} prompt tokens on average; torch threads {args.threads or 'default'}; "
          f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    one_pass(judge, triples[:2], 2)  # warm-up
    rows: dict[str, float] = {}
    agree: dict[int, float] = {}
    for batch in (1, 16):
        t_one, fast = one_pass(judge, triples, batch)
        t_gen, slow = generate_and_parse(judge, triples, batch)
        rows[f"one pass, batch {batch}"] = t_one
        rows[f"generate(8) + parse, batch {batch}"] = t_gen
        scored = [(a, b) for a, b in zip(fast, slow, strict=True) if b.passed is not None]
        agree[batch] = sum(a.passed == b.passed for a, b in scored) / max(len(scored), 1)
        unscored = len(triples) - len(scored)
        print(f"batch {batch:2d}: one pass {len(triples) / t_one:5.2f} verdicts/s, generate(8)+parse "
              f"{len(triples) / t_gen:5.2f} verdicts/s: one pass {t_gen / t_one:.1f}x faster; "
              f"generation left {unscored}/{len(triples)} unscored; same verdict on {agree[batch]:.0%} of the "
              f"{len(scored)} it scored")
    t_one16 = rows["one pass, batch 16"]
    ceiling = matmul_flops_per_s(16 * int(mean_tokens), config.hidden_size, config.intermediate_size, args.threads)
    achieved = len(triples) / t_one16 * 2.0 * params * mean_tokens
    print(f"prefill ceiling: a {16 * int(mean_tokens)}x{config.hidden_size} @ {config.hidden_size}x"
          f"{config.intermediate_size} float32 matmul reaches {ceiling / 1e9:.1f} GFLOP/s here; the judge at batch "
          f"16 turns {achieved / 1e9:.1f} GFLOP/s (2 x {params / 1e6:.0f}M x {mean_tokens:.0f} tokens per "
          f"verdict) into verdicts: {achieved / ceiling:.0%} of the ceiling "
          f"({ceiling / (2.0 * params * mean_tokens):.2f} verdicts/s at the ceiling)")
    bf16_triples = triples[:args.bf16_triples]
    t32, v32 = one_pass(judge, bf16_triples, 16)
    del judge
    judge16 = make_judge("bfloat16", 16)
    judge16.lm.threads = args.threads
    one_pass(judge16, bf16_triples[:1], 1)  # warm-up
    t16, v16 = one_pass(judge16, bf16_triples, 16)
    gap = max(abs(a.p_pass - b.p_pass) for a, b in zip(v32, v16, strict=True))
    print(f"float32 vs bfloat16 ({len(bf16_triples)} triples, batch 16): {len(bf16_triples) / t32:.2f} vs "
          f"{len(bf16_triples) / t16:.2f} verdicts/s: bfloat16 is {t32 / t16:.2f}x the speed of float32; "
          f"largest p_pass difference {gap:.4f}; same verdicts on "
          f"{sum(a.passed == b.passed for a, b in zip(v32, v16, strict=True))}/{len(bf16_triples)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triples", type=int, default=16)
    parser.add_argument("--bf16-triples", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    report(args)


if __name__ == "__main__":
    main()
