"""`dtype: auto` on a CPU measures float32 and bfloat16 at load and keeps the faster whose verdicts agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.judges import dtype_choice
from rlvr_bench.judges.base import JudgeSpec
from rlvr_bench.judges.hf_backend import HFJudge


def tiny(path: Path, **params: Any) -> HFJudge:
    return HFJudge(JudgeSpec("tiny-auto", "hf", params={"model": str(path), "device": "cpu", "threads": 1,
                                                        **params}))


def model_dtype(judge: HFJudge) -> str:
    return str(next(judge.lm.model.parameters()).dtype).removeprefix("torch.")


def test_auto_keeps_the_faster_precision_measured_here_and_records_both_timings(tiny_judge_path: Path) -> None:
    judge = tiny(tiny_judge_path, dtype="auto")
    measured = judge.spec.to_json()["params"]["dtype_measured"]  # what config.json records
    assert measured["float32_s"] > 0 and measured["bfloat16_s"] > 0
    assert measured["probe_tokens"] == dtype_choice.PROBE_TOKENS
    faster = "bfloat16" if measured["bfloat16_s"] < measured["float32_s"] else "float32"
    agreed = measured["max_p_pass_gap"] is None or measured["max_p_pass_gap"] <= dtype_choice.MAX_P_PASS_GAP
    assert measured["chosen"] == (faster if agreed else "float32") == model_dtype(judge)
    assert judge.judge_batch(list(dtype_choice.PROBE_TRIPLES))[0].passed is not None


@pytest.mark.parametrize(("bf16_speedup", "gap_ok", "expected"), [(3.5, True, "bfloat16"), (0.14, True, "float32"),
                                                                  (3.5, False, "float32")])
def test_the_choice_follows_the_timings_and_the_verdicts(tiny_judge_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         bf16_speedup: float, gap_ok: bool, expected: str) -> None:
    """The two machines of the issue: bfloat16 3.5x faster (AMX) or 0.14x (emulated); and a faster bfloat16
    whose verdicts moved is refused."""
    import torch

    def timer(model: Any, ids: Any) -> float:
        return 1.0 if next(model.parameters()).dtype == torch.float32 else 1.0 / bf16_speedup

    monkeypatch.setattr(dtype_choice, "forward_seconds", timer)
    monkeypatch.setattr(dtype_choice, "MAX_P_PASS_GAP", 1.0 if gap_ok else -1.0)  # any gap passes / none does
    judge = tiny(tiny_judge_path)  # no dtype in the preset: auto
    assert judge.dtype_choice is not None and judge.dtype_choice.chosen == expected == model_dtype(judge)
    assert judge.spec.params["dtype_measured"]["bfloat16_s"] == pytest.approx(1.0 / bf16_speedup)
    assert expected in judge.model_revision()  # the cache identity names the measured dtype


def test_a_pinned_dtype_is_not_measured(tiny_judge_path: Path) -> None:
    judge = tiny(tiny_judge_path, dtype="float32")
    assert judge.dtype_choice is None and "dtype_measured" not in judge.spec.params
    assert model_dtype(judge) == "float32"
