"""How a distilled student is judged: against its teacher on held-out questions, and its learning curve.

A generative student trained in one pass over its data has seen ``step x examples per step``
training rows at checkpoint ``step``: judging every saved checkpoint on the same seeded subset
of held-out examples measures what more data buys (the issue's "2k, 8k, all" question) from one
run, instead of one run per size. Each checkpoint is judged exactly as the final student is:
its adapter merged into the base weights, loaded through the ``hf`` judge with the student's
preset, verdicts compared with the teacher's.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rlvr_bench.judges.base import JudgeSpec
from rlvr_bench.judges.registry import build_judge
from rlvr_bench.judging import judge_triples
from rlvr_bench.pipelines.agreement import agreement_results
from rlvr_bench.pipelines.inputs import verdict_matrix
from rlvr_bench.records import Judgment
from rlvr_bench.stats import gold_agreement
from rlvr_bench.stats.verifier_metrics import soft_metrics
from rlvr_bench.training.distill_data import Example, capped

Say = Callable[[str], None]


def saved_checkpoints(trainer_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every ``checkpoint-N`` the trainer saved, in step order."""
    found = []
    for folder in trainer_dir.glob("checkpoint-*"):
        suffix = folder.name.rpartition("-")[2]
        if suffix.isdigit() and (folder / "adapter_config.json").is_file():
            found.append((int(suffix), folder))
    return sorted(found)


#: the first learning-curve point (training rows seen); later points double it, and the last checkpoint ends it
FIRST_CURVE_ROWS = 1000


def curve_points(saved: Sequence[tuple[int, Path]], examples_per_step: int) -> list[tuple[int, Path]]:
    """The checkpoints judged for the curve: the first past 1k, 2k, 4k, ... training rows, and the last one."""
    chosen: list[tuple[int, Path]] = []
    threshold = FIRST_CURVE_ROWS
    for step, folder in saved:
        if step * examples_per_step >= threshold:
            chosen.append((step, folder))
            while threshold <= step * examples_per_step:
                threshold *= 2
    if saved and (not chosen or chosen[-1] != saved[-1]):
        chosen.append(saved[-1])
    return chosen


def verdict_quality(p_yes: Sequence[float | None], passed: Sequence[bool | None],
                    teacher_yes: Sequence[bool]) -> dict[str, Any]:
    """Accuracy and AUROC (sklearn) of scored verdicts against the teacher; unscored ones counted apart."""
    from sklearn.metrics import roc_auc_score

    keep = [i for i, v in enumerate(passed) if v is not None]
    gold = np.array([teacher_yes[i] for i in keep], dtype=bool)
    said = np.array([passed[i] for i in keep], dtype=bool)
    scores = [p_yes[i] for i in keep]
    auroc = None
    if len(set(gold.tolist())) == 2 and all(s is not None for s in scores):
        auroc = float(roc_auc_score(gold, np.array(scores, dtype=float)))
    return {"n": len(passed), "n_unscored": len(passed) - len(keep),
            "accuracy": float((said == gold).mean()) if keep else None, "auroc": auroc}


def checkpoint_curve(base: str, preset: Callable[[Path], dict[str, Any]], trainer_dir: Path,
                     held_out: Sequence[Example], max_examples: int, examples_per_step: int, seed: int,
                     say: Say) -> list[dict[str, Any]]:
    """Accuracy and AUROC against the teacher of every saved LoRA checkpoint, on at most ``max_examples``
    held-out examples (a seeded sample); ``preset(folder)`` is the student's preset for a checkpoint folder."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlvr_bench.checkpoints import resolve_checkpoint

    subset = capped(held_out, max_examples, seed)
    triples = [e.triple for e in subset]
    teacher = [e.teacher_yes for e in subset]
    base_path = resolve_checkpoint(base)
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    rows: list[dict[str, Any]] = []
    for step, folder in curve_points(saved_checkpoints(trainer_dir), examples_per_step):
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        merged = PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
        with tempfile.TemporaryDirectory(prefix="rlvr-bench-curve-") as tmp:
            merged.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            spec = preset(Path(tmp))
            judge = build_judge(JudgeSpec(name=spec["name"], backend=spec["backend"], params=spec["params"]))
            verdicts = judge_triples(judge, triples, cache=None)
        quality = verdict_quality([v.p_pass for v in verdicts], [v.passed for v in verdicts], teacher)
        rows.append({"step": step, "training_rows_seen": step * examples_per_step, **quality})
        say(f"learning curve: step {step} ({step * examples_per_step} rows seen): accuracy "
            f"{quality['accuracy']}, AUROC {quality['auroc']} on {len(subset)} held-out examples")
    return rows


def _estimate(block: dict[str, Any]) -> dict[str, Any]:
    return {"estimate": block["estimate"], "ci_low": block["ci_low"], "ci_high": block["ci_high"]}


def _complement(block: dict[str, Any]) -> dict[str, Any]:
    """1 - x for an estimate block (the percentile interval flips with the map)."""
    def flip(value: float | None) -> float | None:
        return None if value is None else 1.0 - value

    return {"estimate": flip(block["estimate"]), "ci_low": flip(block["ci_high"]), "ci_high": flip(block["ci_low"])}


def student_vs_teacher(student: str, held_out: Sequence[Example], student_verdicts: dict[str, Any],
                       n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The student's verdicts against the teacher's on held-out examples (teacher = gold), with CIs.

    Rates are fractions in [0, 1]: ``false_positive_rate`` = student YES among teacher NO,
    ``false_negative_rate`` = student NO among teacher YES; ``cohen_kappa`` in [-1, 1].
    """
    passed = np.array([[np.nan if (v := student_verdicts[e.response.id]).passed is None else float(v.passed)]
                       for e in held_out])
    teacher = np.array([float(e.teacher_yes) for e in held_out])
    codes = {g: i for i, g in enumerate(dict.fromkeys(e.group for e in held_out))}
    clusters = np.array([codes[e.group] for e in held_out], dtype=np.int64)
    row = gold_agreement(passed, teacher, [student], clusters, n_bootstrap, seed).to_json()[0]
    keys = ("accuracy", "cohen_kappa", "gwet_ac1", "precision", "recall", "specificity", "false_positive_rate", "f1")
    out: dict[str, Any] = {
        "n": len(held_out), "n_questions": len(codes), "n_scored": row["n_scored"], "n_unscored": row["n_unscored"],
        "confusion": {"tp": row["true_positive"], "fp": row["false_positive"], "fn": row["false_negative"],
                      "tn": row["true_negative"]},
        "teacher_yes_rate": _estimate(row["gold_pass_rate"]),
    }
    out.update({key: _estimate(row[key]) for key in keys})
    out["false_negative_rate"] = _complement(row["recall"])
    scores = np.array([np.nan if (p := student_verdicts[e.response.id].p_pass) is None else float(p)
                       for e in held_out])
    if not np.isnan(scores).all():
        # the soft score against the teacher: AUROC and Brier with the same clustered bootstrap (as verify)
        soft = soft_metrics(scores, teacher, clusters, n_bootstrap, seed)
        out["auroc"], out["brier"] = _estimate(soft["auroc"]), _estimate(soft["brier"])
    return out


def held_out_agreement(names: list[str], held_out: Sequence[Example], judgments: list[Judgment],
                       n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The agreement harness (results as in `rlvr-bench agreement`) over the held-out responses."""
    responses = [replace(e.response, metadata={**e.response.metadata, "domain": e.item.domain}) for e in held_out]
    wanted = {r.id for r in responses}
    mine = [j for j in judgments if j.response_id in wanted and j.judge in names]
    matrix = verdict_matrix(mine, responses, names)
    return agreement_results(matrix, mine, n_bootstrap, seed)


def write_curve(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.write_text(json.dumps(list(rows), indent=1) + "\n", encoding="utf-8")
