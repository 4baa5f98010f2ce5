"""``dtype: auto`` on a CPU: the faster precision, measured on this machine at load, if its verdicts agree.

Which precision is faster depends on the CPU, not on a rule: without bfloat16 matrix
instructions bfloat16 is emulated (0.14x the speed of float32 measured on this
project's 2-core AMD machine); with AMX / avx512_bf16 it was 3.5x faster than float32
for a 0.5B model. So an hf judge whose preset says ``dtype: auto`` loads in float32,
times the same short forward pass (:data:`PROBE_TOKENS` tokens of a real prompt, the
best of :data:`REPEATS`) in float32 and in a bfloat16 copy, and keeps bfloat16 only if
it is faster *and* its verdicts on :data:`PROBE_TRIPLES` agree with float32's (both
scored, p_pass within :data:`MAX_P_PASS_GAP`). Both timings and the choice go into the
judge's spec as ``dtype_measured``, so every run's ``config.json`` records them; the
chosen dtype is part of the judgment-cache identity (bfloat16 verdicts differ in the
third decimal). A preset that names a dtype is never measured. On cuda, ``auto`` stays
bfloat16 (float16 without bf16 support): GPUs have bfloat16 matrix units.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rlvr_bench.judges.base import Triple

#: tokens of the timed forward pass: long enough for the matrix kernels to dominate, short enough that an
#: emulated bfloat16 pass costs about a second on a slow CPU
PROBE_TOKENS = 32
REPEATS = 2
#: largest |p_pass(bfloat16) - p_pass(float32)| on the probes for the two to agree
MAX_P_PASS_GAP = 0.05
PROBE_TRIPLES = (
    Triple("What is 12 x 12?", "144", "12 x 12 = 144.\nThe answer is 144.", answer_type="number"),
    Triple("What is the capital of Australia?", "Canberra", "The largest city is Sydney.\nThe answer is Sydney."),
)


@dataclass(frozen=True)
class DtypeChoice:
    """What ``dtype: auto`` measured and chose (recorded in the judge's spec as ``dtype_measured``)."""

    chosen: str
    #: best forward-pass time of each candidate, seconds
    float32_s: float
    bfloat16_s: float
    probe_tokens: int
    #: largest p_pass gap on the probes; None when bfloat16 was slower (its verdicts were not needed)
    max_p_pass_gap: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def forward_seconds(model: Any, ids: Sequence[int], repeats: int = REPEATS) -> float:
    """Best wall time of one forward pass over ``ids`` (one row, the last position's logits only)."""
    import torch

    batch = torch.tensor([list(ids)], dtype=torch.long, device=next(model.parameters()).device)
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            began = time.perf_counter()
            model(input_ids=batch, logits_to_keep=1)
            best = min(best, time.perf_counter() - began)
    return best


def choose_dtype(lm: Any, probe_ids: Sequence[int], p_pass: Callable[[], list[float | None]],
                 timer: Callable[[Any, Sequence[int]], float] | None = None) -> DtypeChoice:
    """Time ``lm.model`` (float32) and a bfloat16 copy on ``probe_ids``; keep the faster whose verdicts agree.

    ``p_pass()`` scores the probe triples with whatever ``lm.model`` is at the call. ``lm.model`` is left as
    the chosen model (the other copy is dropped).
    """
    import torch

    timer = timer or forward_seconds
    ids = list(probe_ids)[:PROBE_TOKENS]
    full = lm.model
    with lm.thread_scope():
        seconds32 = timer(full, ids)
        low = copy.deepcopy(full).to(torch.bfloat16)
        seconds16 = timer(low, ids)
        if seconds16 >= seconds32:
            return DtypeChoice("float32", seconds32, seconds16, len(ids), None,
                               f"bfloat16 is {seconds32 / seconds16:.2f}x the speed of float32 here")
        reference = p_pass()
        lm.model = low
        candidate = p_pass()
    gaps = [abs(a - b) if a is not None and b is not None else float("inf")
            for a, b in zip(reference, candidate, strict=True)]
    gap = max(gaps)
    if gap > MAX_P_PASS_GAP:
        lm.model = full
        return DtypeChoice("float32", seconds32, seconds16, len(ids), gap,
                           f"bfloat16 is {seconds32 / seconds16:.2f}x faster but its verdicts differ "
                           f"(p_pass gap {gap:.3g} > {MAX_P_PASS_GAP:g})")
    return DtypeChoice("bfloat16", seconds32, seconds16, len(ids), gap,
                       f"bfloat16 is {seconds32 / seconds16:.2f}x the speed of float32 here, same verdicts")
