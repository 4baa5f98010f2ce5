"""`rlvr-bench distill` end to end: run directory, results schema, and a preset every command can use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.pipelines.agreement import agreement
from rlvr_bench.records import read_judgments, read_responses

runner = CliRunner()


@pytest.fixture(scope="module")
def starter_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An agreement run on the bundled starter task: 24 questions x 3 responses, judged by three rule judges."""
    out = tmp_path_factory.mktemp("inputs") / "agreement"
    agreement(task="starter", judges=["contains", "exact", "numeric"], out=out, n_bootstrap=0)
    return out


def _invoke(*args: str) -> Any:
    result = runner.invoke(app, ["distill", *args])
    return result


def _check_run(run: Path, teacher: str) -> dict[str, Any]:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["schema"] == "rlvr-bench/distill/v1"
    assert results["teacher"] == teacher
    head = results["held_out"]["student_vs_teacher"]
    for key in ("cohen_kappa", "accuracy", "false_positive_rate", "false_negative_rate"):
        assert set(head[key]) == {"estimate", "ci_low", "ci_high"}
    # FNR is 1 - recall, interval flipped
    assert head["false_negative_rate"]["estimate"] == pytest.approx(1 - head["recall"]["estimate"])
    confusion = head["confusion"]
    assert sum(confusion.values()) + head["n_unscored"] == head["n"]
    # no question on both sides of the split
    responses = read_responses(run / "responses.jsonl")
    sides: dict[str, set[str]] = {}
    for response in responses:
        sides.setdefault(response.item_id, set()).add(response.metadata["distill_split"])
    assert all(len(s) == 1 for s in sides.values())
    held = [r for r in responses if r.metadata["distill_split"] == "held_out"]
    assert len(held) == head["n"] == results["data"]["held_out"]["n_examples"]
    # the student judged exactly the held-out responses; the teacher's verdicts are kept for all
    judgments = read_judgments(run / "judgments.jsonl")
    student = results["student"]["name"]
    assert {j.response_id for j in judgments if j.judge == student} == {r.id for r in held}
    assert (run / "train_log.jsonl").is_file()
    preset = yaml.safe_load((run / "judge.yaml").read_text(encoding="utf-8"))
    assert preset["name"] == student and Path(results["student"]["artefact"]).is_absolute()
    return results


@pytest.fixture(scope="module")
def minilm_run(starter_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Any]:
    """(run, --preset-out file, CLI result) of a minilm-classifier student of the `contains` judge."""
    folder = tmp_path_factory.mktemp("minilm")
    run, preset_out = folder / "distill-minilm", folder / "presets" / "contains-minilm.yaml"
    result = _invoke("--judgments", str(starter_run), "--teacher", "contains", "--student", "minilm-classifier",
                     "--head", "logistic", "--held-out", "0.25", "--bootstrap", "50", "--out", str(run),
                     "--preset-out", str(preset_out))
    return run, preset_out, result


def test_minilm_classifier_student_end_to_end(minilm_run: tuple[Path, Path, Any]) -> None:
    run, preset_out, result = minilm_run
    assert result.exit_code == 0, result.output
    results = _check_run(run, "contains")
    assert results["student"]["backend"] == "minilm-classifier"
    assert (run / "classifier.npz").is_file()
    data = results["data"]
    # contains scores all 72 starter responses: nothing dropped; 25 % of 24 questions held out
    assert data["n_examples"] == 72 and data["n_teacher_unscored_dropped"] == 0
    assert data["held_out"]["n_questions"] == 6
    # the other judges of the input run are compared with the student on the held-out responses
    assert results["held_out"]["agreement"]["judges"] == [results["student"]["name"], "contains", "exact", "numeric"]
    assert "Cohen's kappa" in result.output and "judge preset:" in result.output
    # --preset-out: the same preset, named after its file
    assert yaml.safe_load(preset_out.read_text(encoding="utf-8"))["name"] == "contains-minilm"
    assert results["student"]["preset_out"] == str(preset_out)


def test_minilm_classifier_preset_in_agreement(minilm_run: tuple[Path, Path, Any], tmp_path: Path) -> None:
    run, _, result = minilm_run
    assert result.exit_code == 0, result.output
    name = yaml.safe_load((run / "judge.yaml").read_text(encoding="utf-8"))["name"]
    agreed = runner.invoke(app, ["agreement", "--task", "starter", "--judges", f"{run / 'judge.yaml'},exact",
                                 "--bootstrap", "20", "--out", str(tmp_path / "check")])
    assert agreed.exit_code == 0, agreed.output
    check = json.loads((tmp_path / "check" / "results.json").read_text(encoding="utf-8"))
    summary = {row["judge"]: row for row in check["judge_summary"]}
    assert summary[name]["n_scored"] == 72


def test_tiny_student_end_to_end_and_preset_in_agreement(tmp_path: Path) -> None:
    """A few SFT steps on generated data: mechanics only (quality is measured by the benchmark, not here)."""
    run = tmp_path / "distill-tiny"
    result = _invoke("--generate", "30", "--responses-per-question", "3", "--teacher", "numeric", "--student",
                     "tiny", "--steps", "4", "--batch-size", "8", "--also", "exact", "--bootstrap", "20",
                     "--compare", "minilm-classifier", "--out", str(run))
    assert result.exit_code == 0, result.output
    results = _check_run(run, "numeric")
    # --compare: a MiniLM-classifier student trained on the same questions, judged on the same held-out ones
    (compared,) = results["held_out"]["compared_students"]
    assert compared["kind"] == "minilm-classifier" and compared["name"] == "numeric-distilled-minilm-classifier"
    assert compared["student_vs_teacher"]["n"] == results["held_out"]["student_vs_teacher"]["n"]
    compared_preset = yaml.safe_load((run / "compare" / "minilm-classifier" / "judge.yaml").read_text("utf-8"))
    assert Path(compared_preset["params"]["weights"]).is_file()  # where the committed run put it
    assert compared["name"] in results["held_out"]["agreement"]["judges"]
    assert compared["name"] in result.output  # beside the student in the printed table
    assert results["student"]["backend"] == "hf"
    assert results["training"]["steps"] == 4 and results["training"]["shared_prefix_tokens"] > 100
    assert (run / "checkpoint" / "config.json").is_file()
    # the generated data are judged by the teacher; `--also` judges join the held-out comparison
    assert results["held_out"]["agreement"]["judges"] == [results["student"]["name"], "numeric", compared["name"],
                                                          "exact"]
    agreed = runner.invoke(app, ["agreement", "--task", "starter", "--judges", f"{run / 'judge.yaml'},exact",
                                 "--bootstrap", "0", "--out", str(tmp_path / "check")])
    assert agreed.exit_code == 0, agreed.output

    # a saved checkpoint as the student (the path a hub model takes): trl loads it by name and fine-tunes it,
    # and the input is the first run's directory, whose teacher verdicts and --also verdicts are re-read
    again = tmp_path / "distill-again"
    result = _invoke("--judgments", str(run), "--teacher", "numeric", "--student", str(run / "checkpoint"),
                     "--steps", "2", "--batch-size", "4", "--grad-accum", "1", "--bootstrap", "0", "--out", str(again))
    assert result.exit_code == 0, result.output
    second = _check_run(again, "numeric")
    assert second["student"]["kind"] == "checkpoint"
    assert second["student"]["name"] == "numeric-distilled-checkpoint"
    # the first student's verdicts are in the input run: it is compared with the new one on shared responses
    assert results["student"]["name"] in second["held_out"]["agreement"]["judges"]


@pytest.mark.parametrize(("args", "message"), [
    (["--teacher", "numeric"], "give --judgments RUN"),
    (["--teacher", "numeric", "--judgments", "/nonexistent/run"], "run directory not found"),
    (["--teacher", "numeric", "--generate", "5", "--balance", "sideways"], "balance must be"),
    (["--teacher", "numeric", "--generate", "5", "--student", "/nonexistent/checkpoint"], "no config.json there"),
    (["--teacher", "numeric", "--generate", "5", "--student", "/nonexistent/model.gguf"], "no such GGUF file"),
    (["--teacher", "numeric", "--generate", "5", "--compare", "smollm2"], "--compare smollm2: give one of"),
])
def test_user_errors_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = _invoke(*args, "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "run").exists()


def test_unknown_teacher_in_runs(starter_run: Path, tmp_path: Path) -> None:
    result = _invoke("--judgments", str(starter_run), "--teacher", "gpt4o", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert "teacher 'gpt4o' has no verdicts in the inputs (judges present: contains, exact, numeric)" in result.output
