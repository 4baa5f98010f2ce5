"""`rlvr-bench distill --student smollm2` end to end on the real SmolLM2-135M-Instruct (make test-slow).

Two SFT steps on a handful of generated examples (about a minute on 2 CPU cores): the mechanics,
not the quality (docs/training.md has the measured kappa). The written preset must load through
the hf judge and give soft scores over the multi-token verdict sequences.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app

pytestmark = pytest.mark.slow


def _tensor(folder: Path, name: str) -> object:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), framework="pt") as handle:
        return handle.get_tensor(name)


def test_smollm2_student_trains_and_its_preset_judges(tmp_path: Path) -> None:
    import torch

    from rlvr_bench.checkpoints import resolve_checkpoint
    from rlvr_bench.judges.base import Triple
    from rlvr_bench.judges.registry import judge
    from rlvr_bench.tasks import load_task

    run = tmp_path / "distill-smol"
    result = CliRunner().invoke(app, ["distill", "--generate", "8", "--responses-per-question", "2", "--teacher",
                                      "contains", "--student", "smollm2", "--steps", "2", "--batch-size", "4",
                                      "--held-out", "0.25", "--bootstrap", "0", "--out", str(run)])
    assert result.exit_code == 0, result.output
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["student"]["kind"] == "checkpoint" and results["student"]["name"] == "contains-distilled-smollm2"
    assert results["training"]["steps"] == 2 and results["training"]["shared_prefix_tokens"] > 100
    head = results["held_out"]["student_vs_teacher"]
    assert head["n_unscored"] == 0 and head["n"] == results["data"]["held_out"]["n_examples"] > 0

    # the fine-tune changed the weights (a full fine-tune: a middle layer's projection)
    name = "model.layers.15.mlp.down_proj.weight"
    base, tuned = _tensor(Path(resolve_checkpoint("smollm2")), name), _tensor(run / "checkpoint", name)
    assert isinstance(base, torch.Tensor) and isinstance(tuned, torch.Tensor)
    assert not torch.equal(base, tuned)

    # the preset judges like any hf judge: soft scores over "Y"+"ES" and "NO", every verdict scored
    student = judge(str(run / "judge.yaml"))
    task = load_task("verifier-gold")
    items = {item.id: item for item in task.items}
    verdicts = student.judge_batch([Triple.of(items[r.item_id], r) for r in task.responses[:3]])
    for verdict in verdicts:
        assert verdict.passed is not None and verdict.p_pass is not None and 0.0 < verdict.p_pass < 1.0
        assert verdict.passed == (verdict.p_pass > 0.5)
