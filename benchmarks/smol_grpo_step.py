"""Where a GRPO step of the `smol` recipe spends its time on this CPU, and what bfloat16 changes, in one run.

One step of ``training/smol.yaml`` is: sample ``prompts x num_generations`` completions (generation), then a
forward and backward pass over prompt + completion tokens and an AdamW update (the policy update). This
script times both parts on SmolLM2-135M-Instruct with expert-qa-shaped chat prompts, in float32 and in
bfloat16 autocast (what ``runtime.bf16: true`` does on CPU), and prints each ratio:

- update / generation: which part to shrink (completion length, group size, LoRA);
- bfloat16 / float32 for each part: bfloat16 pays only on CPUs with bfloat16 matrix instructions
  (avx512_bf16, AMX); elsewhere it is emulated and slower, so the recipe trains in float32 there.

    python benchmarks/smol_grpo_step.py                   # 16 completions x 48 tokens, like the recipe
    python benchmarks/smol_grpo_step.py --judge smol-verifier   # the checkpoint of another hf preset
    python benchmarks/smol_grpo_step.py --completions 8 --tokens 32

Needs the converted model (``make install``). Timings on a shared machine vary with its load; the
script prints the load average next to the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SYSTEM = "Answer the question in a few words. Put the final answer alone on the last line."
QUESTIONS = ["Which organelle is the site of aerobic respiration in eukaryotic cells?",
             "What is the SI unit of electric resistance?", "Which gas do plants absorb for photosynthesis?",
             "What term describes a rise in the general price level over time?"]


def cpu_flags() -> str:
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return "unknown"
    found = sorted({f for f in flags if f.startswith(("avx512_bf16", "amx_bf16", "avx512f"))})
    return ", ".join(found) or "none of avx512f / avx512_bf16 / amx_bf16"


def autocast(bf16: bool) -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def time_generation(model: Any, tokenizer: Any, completions: int, tokens: int, bf16: bool) -> tuple[float, Any]:
    """Seconds to sample ``completions`` completions of exactly ``tokens`` tokens; the sequences."""
    import torch

    prompts = [tokenizer.apply_chat_template([{"role": "system", "content": SYSTEM},
                                              {"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
                                             tokenize=False, add_generation_prompt=True)
               for i in range(completions)]
    tokenizer.padding_side = "left"
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    began = time.perf_counter()
    with torch.no_grad(), autocast(bf16):
        output = model.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=True,
                                temperature=1.0, top_p=1.0, top_k=0, pad_token_id=tokenizer.pad_token_id)
    return time.perf_counter() - began, output


def time_update(model: Any, sequences: Any, bf16: bool) -> float:
    """Seconds for one forward + backward over ``sequences`` and one AdamW step (a GRPO policy update)."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    model.train()
    began = time.perf_counter()
    with autocast(bf16):
        logits = model(input_ids=sequences).logits[:, :-1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(-1, sequences[:, 1:, None]).squeeze(-1)
    (-logps.mean()).backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    elapsed = time.perf_counter() - began
    model.eval()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--completions", type=int, default=16, help="completions per step (prompts x group)")
    parser.add_argument("--tokens", type=int, default=48, help="tokens per completion (max_completion_length)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--judge", default="smollm2",
                        help="the hf judge preset whose checkpoint is the policy stepped here (e.g. smol-verifier)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from rlvr_bench.checkpoints import load_causal_lm

    torch.set_num_threads(args.threads)
    from rlvr_bench.judges.registry import resolve_preset

    checkpoint = "smollm2" if args.judge == "smollm2" else str(resolve_preset(args.judge).spec.params["model"])
    model, tokenizer = load_causal_lm(checkpoint, dtype="float32")
    print(f"SmolLM2-135M-Instruct, {args.completions} completions x {args.tokens} tokens, {args.threads} threads; "
          f"CPU: {cpu_flags()}; load average {os.getloadavg()[0]:.1f}")
    seconds: dict[str, dict[str, float]] = {}
    for label, bf16 in (("float32", False), ("bfloat16", True)):
        generation, sequences = time_generation(model, tokenizer, args.completions, args.tokens, bf16)
        update = time_update(model, sequences, bf16)
        seconds[label] = {"generation": generation, "update": update}
        print(f"{label:>9}: generation {generation:6.1f} s, update (forward + backward + AdamW) {update:6.1f} s, "
              f"step {generation + update:6.1f} s")
    fp32, bf16 = seconds["float32"], seconds["bfloat16"]
    print(f"update / generation (float32): {fp32['update'] / fp32['generation']:.2f}x")
    for part in ("generation", "update"):
        print(f"bfloat16 speed vs float32, {part}: {fp32[part] / bf16[part]:.2f}x")
    total = (fp32["generation"] + fp32["update"]) / (bf16["generation"] + bf16["update"])
    print(f"bfloat16 speed vs float32, whole step: {total:.2f}x (load average now {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
