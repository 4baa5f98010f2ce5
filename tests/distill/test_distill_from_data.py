"""`distill --data FILE --teacher column:label`: human-labelled files in their published layouts as the teacher,
LoRA students, resumable training and the learning curve over saved checkpoints."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.judges.base import Triple
from rlvr_bench.judges.registry import judge
from rlvr_bench.training.distill_data import load_data_files
from rlvr_bench.training.distill_evaluation import curve_points, verdict_quality
from rlvr_bench.training.distill_lora import last_trainer_checkpoint, lora_config
from rlvr_bench.training.distill_students import DistillSettings

SYSTEMS = ("fid", "gpt35", "chatgpt", "gpt4", "newbing")
CAPITALS = [("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Japan", "Tokyo"), ("Peru", "Lima"),
            ("Kenya", "Nairobi"), ("Chile", "Santiago"), ("Egypt", "Cairo"), ("Cuba", "Havana"), ("Iran", "Tehran"),
            ("Iraq", "Baghdad"), ("Mali", "Bamako")]


def evouna_file(path: Path, n_questions: int = 12) -> Path:
    """A file in EVOUNA's published layout: a JSON array, one object per question, each system's answer and the
    human verdict (a bool; null where nobody judged it)."""
    rng = random.Random(0)
    rows = []
    for country, capital in CAPITALS[:n_questions]:
        row: dict[str, Any] = {"question": f"what is the capital of {country}", "golden_answer": capital}
        for index, system in enumerate(SYSTEMS):
            right = rng.random() < 0.6
            wrong = rng.choice([c for _, c in CAPITALS if c != capital])
            row[f"answer_{system}"] = f"The capital of {country} is {capital if right else wrong}."
            row[f"judge_{system}"] = None if index == 4 and country == "Peru" else right
        row["improper"] = False
        rows.append(row)
    path.write_text(json.dumps(rows, indent=4), encoding="utf-8")
    return path


def test_human_labels_are_the_teacher(tmp_path: Path) -> None:
    data = load_data_files([evouna_file(tmp_path / "NQ.json")], judge("column:label"))
    assert data.sources[0]["format"] == "evouna" and data.sources[0]["judge"] == "column:label"
    labels = {r.id: r.label for r in data.responses}
    taught = {j.response_id: j.verdict.passed for j in data.judgments}
    # every imported label, and nothing else, is the teacher's verdict (the unjudged answer is not imported)
    assert taught == labels and None not in taught.values() and len(taught) == 12 * 5 - 1


def test_several_files_keep_their_ids_apart(tmp_path: Path) -> None:
    first, second = evouna_file(tmp_path / "NQ.json"), evouna_file(tmp_path / "TQ.json", 6)
    data = load_data_files([first, second], judge("column:label"))
    ids = [r.id for r in data.responses]
    assert len(ids) == len(set(ids)) == 59 + 29  # Peru (in both) has one unjudged answer
    assert {i.split("/")[0] for i in ids} == {"d0", "d1"}


def test_lora_config_targets_the_top_blocks_only() -> None:
    class Config:
        num_hidden_layers = 30

    class Model:
        config = Config()

    assert lora_config(DistillSettings(), Model()) is None
    config = lora_config(DistillSettings(lora_rank=8, lora_layers=12), Model())
    assert config.r == 8 and config.lora_alpha == 16 and list(config.layers_to_transform) == list(range(18, 30))
    assert lora_config(DistillSettings(lora_rank=8), Model()).layers_to_transform is None


@pytest.mark.parametrize("field", ["lora_rank", "lora_layers", "save_steps"])
def test_lora_and_checkpoint_settings_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DistillSettings(**{field: 0})


def test_curve_points_double_and_end_with_the_last_checkpoint(tmp_path: Path) -> None:
    saved = [(step, tmp_path / f"checkpoint-{step}") for step in range(25, 501, 25)]
    chosen = [step for step, _ in curve_points(saved, 8)]
    # 8 rows a step: the first checkpoints past 1,000 / 2,000 rows, then the last one (4,000 rows)
    assert chosen == [125, 250, 500]
    assert curve_points([], 8) == []


def test_verdict_quality_matches_sklearn_and_counts_unscored() -> None:
    from sklearn.metrics import roc_auc_score

    p_yes = [0.9, 0.2, 0.7, None, 0.4]
    passed = [True, False, True, None, False]
    teacher = [True, False, False, True, True]
    quality = verdict_quality(p_yes, passed, teacher)
    assert quality["n"] == 5 and quality["n_unscored"] == 1
    assert quality["accuracy"] == pytest.approx(2 / 4)
    assert quality["auroc"] == pytest.approx(roc_auc_score([True, False, False, True], [0.9, 0.2, 0.7, 0.4]))


def test_distill_a_tiny_lora_student_from_human_labels(tmp_path: Path) -> None:
    """The CLI end to end on an EVOUNA-layout file: LoRA adapter saved and merged, the curve judged, no work left."""
    data = evouna_file(tmp_path / "NQ.json")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "distill", "--data", str(data), "--teacher", "column:label", "--student", "tiny", "--lora-rank", "4",
        "--steps", "2", "--batch-size", "8", "--save-steps", "1", "--held-out", "0.25", "--bootstrap", "20",
        "--curve", "10", "--out", str(out)])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["training"]["lora"]["rank"] == 4 and results["training"]["steps"] == 2
    assert results["training"]["resumed_from"] is None
    head = results["held_out"]["student_vs_teacher"]
    assert set(head["auroc"]) == {"estimate", "ci_low", "ci_high"}
    assert results["data"]["train"]["n_examples"] + results["data"]["held_out"]["n_examples"] == 59
    curve = results["held_out"]["learning_curve"]
    held = results["data"]["held_out"]["n_examples"]
    assert [row["step"] for row in curve] == [2] and curve[0]["n"] == min(10, held)
    assert (out / "checkpoint" / "adapter" / "adapter_config.json").is_file()
    assert (out / "checkpoint" / "config.json").is_file()  # the merged model the preset loads
    assert not (tmp_path / ".run.distill-work").exists()  # a finished run leaves no work folder
    # the held-out questions as a file that verify reads: the same rows, the teacher's verdicts as labels
    held_rows = [json.loads(line) for line in (out / "held_out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(held_rows) == held and {r["system"] for r in held_rows} <= set(SYSTEMS)
    verified = CliRunner().invoke(app, ["verify", "--data", str(out / "held_out.jsonl"), "--judges", "contains",
                                        "--bootstrap", "0", "--out", str(tmp_path / "verify")])
    assert verified.exit_code == 0, verified.output
    verify_results = json.loads((tmp_path / "verify" / "results.json").read_text(encoding="utf-8"))
    assert verify_results["n_responses"] == held
    held_ids = {r.id for r in load_data_files([data], judge("column:label")).responses}
    assert {r["id"] for r in held_rows} <= held_ids


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import TrainerCallback

    from rlvr_bench.training import distill_students

    data = evouna_file(tmp_path / "NQ.json")
    out = tmp_path / "run"
    args = ["distill", "--data", str(data), "--teacher", "column:label", "--student", "tiny", "--lora-rank", "4",
            "--steps", "3", "--batch-size", "8", "--save-steps", "1", "--held-out", "0.25", "--bootstrap", "0",
            "--out", str(out)]

    class Killed(Exception):
        pass

    class KillAfterStep2(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step == 2:
                raise Killed

    original = distill_students._progress_callback
    monkeypatch.setattr(distill_students, "_progress_callback", lambda say, steps: KillAfterStep2())
    with pytest.raises(Killed):
        CliRunner().invoke(app, args, catch_exceptions=False)
    work = tmp_path / ".run.distill-work" / "trainer"
    assert last_trainer_checkpoint(work) == work / "checkpoint-2"
    assert not (out / "results.json").exists()
    monkeypatch.setattr(distill_students, "_progress_callback", original)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["training"]["resumed_from"] == "checkpoint-2" and results["training"]["steps"] == 3
    assert "resuming from checkpoint-2" in result.output


def test_a_failing_learning_curve_keeps_the_checkpoints_to_resume_from(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever fails after training (here the curve), the saved checkpoints stay: a rerun resumes, not retrains."""
    from rlvr_bench.training import distill

    def broken_curve(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise RuntimeError("the base model vanished")

    monkeypatch.setattr(distill, "checkpoint_curve", broken_curve)
    data = evouna_file(tmp_path / "NQ.json")
    args = ["distill", "--data", str(data), "--teacher", "column:label", "--student", "tiny", "--lora-rank", "4",
            "--steps", "2", "--batch-size", "8", "--save-steps", "1", "--held-out", "0.25", "--bootstrap", "0",
            "--curve", "5", "--out", str(tmp_path / "run")]
    with pytest.raises(RuntimeError, match="vanished"):
        CliRunner().invoke(app, args, catch_exceptions=False)
    work = tmp_path / ".run.distill-work" / "trainer"
    assert last_trainer_checkpoint(work) == work / "checkpoint-2"


def test_a_file_that_yields_no_responses_is_one_line_naming_it(tmp_path: Path) -> None:
    data = tmp_path / "NQ.json"
    data.write_text(json.dumps([{"question": "q", "golden_answer": "a", "answer_fid": "a", "judge_fid": None}]),
                    encoding="utf-8")
    result = CliRunner().invoke(app, ["distill", "--data", str(data), "--teacher", "column:label", "--student",
                                      "tiny", "--out", str(tmp_path / "run")])
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(lines) == 1 and str(data) in lines[0] and "no responses" in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_documented_smol_verifier_command_trains_a_few_steps(tmp_path: Path) -> None:
    """docs/training.md's smol-verifier command (LoRA on SmolLM2's top blocks, EVOUNA layout), 2 steps."""
    data = evouna_file(tmp_path / "NQ.json")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "distill", "--data", str(data), "--teacher", "column:label", "--student", "smollm2", "--name", "smol-verifier",
        "--lora-rank", "32", "--lora-layers", "12", "--batch-size", "4", "--lr", "2e-4", "--lr-scheduler",
        "constant_with_warmup", "--steps", "2", "--save-steps", "1", "--held-out", "0.25", "--max-length", "512",
        "--threads", "2", "--curve", "4", "--bootstrap", "0", "--out", str(run)])
    assert result.exit_code == 0, result.output
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["training"]["lora"]["rank"] == 32 and results["training"]["steps"] == 2
    adapter = json.loads((run / "checkpoint" / "adapter" / "adapter_config.json").read_text(encoding="utf-8"))
    assert adapter["r"] == 32 and sorted(adapter["layers_to_transform"]) == list(range(18, 30))
    assert [point["step"] for point in results["held_out"]["learning_curve"]] == [2]
    loaded = load_data_files([data], judge("column:label"))
    items = {item.id: item for item in loaded.items}
    student = judge(str(run / "judge.yaml"))
    verdicts = student.judge_batch([Triple.of(items[r.item_id], r) for r in loaded.responses[:2]])
    assert all(v.passed is not None and v.p_pass is not None for v in verdicts)
