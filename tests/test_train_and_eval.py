"""`rlvr-bench train-and-eval --quick`: the whole experiment end to end, then resumed without re-running cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.prompting import POLICY_SETTINGS_FILE
from rlvr_bench.training.matrix import REWARD_KINDS, MatrixRequest, plan_cells

runner = CliRunner()


def test_rule_cells_run_before_model_cells() -> None:
    # the model reward is distilled from the rule runs' exploration logs, so those must exist first
    cells = plan_cells(MatrixRequest(recipe="mini", out=Path("x"), algorithms=("grpo", "rloo")))
    kinds = [cell.reward_kind for cell in cells]
    assert kinds.index("model-binary") > max(i for i, k in enumerate(kinds) if k.startswith("rule"))
    assert len(cells) == len(REWARD_KINDS) * 2


def test_teacher_rows_need_no_distillation_and_run_before_model_cells() -> None:
    cells = plan_cells(MatrixRequest(recipe="mini", out=Path("x"), algorithms=("grpo",),
                                     rewards=("model-binary", "teacher-binary", "rule-binary")))
    assert [cell.reward_kind for cell in cells] == ["teacher-binary", "rule-binary", "model-binary"]
    assert not any(cell.uses_model for cell in cells[:2])


def test_unknown_reward_kind_is_a_one_line_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train-and-eval", "--quick", "--rewards", "rule-binary,magic",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "unknown reward kind 'magic'" in result.stderr


def test_quick_matrix_end_to_end_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["train-and-eval", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "rlvr-bench/train-and-eval/v1"
    rows = results["table"]["rows"]
    assert set(rows) == {"sft", *(f"{kind}-grpo" for kind in REWARD_KINDS)}
    for row in rows.values():  # every policy judged on the same held-out items
        assert row["all"]["accuracy"]["n"] == results["n_eval_items"]
    assert set(results["table"]["versus_sft"]) == set(rows) - {"sft"}
    # the model rewards used the distilled student, whose preset is usable by every command
    assert results["model_judge"].endswith("distill/judge.yaml")
    assert results["distillation"]["student_vs_teacher"]["n"] > 0
    # the study's findings are tested on every matrix, each with the comparisons behind its status
    findings = results["findings"]
    assert {"model_beats_rule", "rule_soft_worst", "distilled_matches_teacher"} <= set(findings)
    assert len(findings["model_beats_rule"]["comparisons"]) == 2  # binary vs binary, soft vs soft
    assert len(findings["rule_soft_worst"]["comparisons"]) == 3
    assert all(f["status"] in {"reproduced", "not reproduced", "inconclusive", "partly", "no signal"}
               for f in findings.values() if isinstance(f, dict))
    assert findings["start"] == "sft"
    for name in results["cells"]:
        assert (out / "cells" / name / "policy").is_dir()
        assert list((out / "cells" / name).glob("exploration_judgments*.jsonl"))
    assert (out / "report.html").is_file()
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == "train-and-eval" and {"created", "versions", "git_revision", "request"} <= set(config)
    judgments = (out / "judgments.jsonl").read_text().splitlines()
    assert len(judgments) == len(rows) * results["n_eval_items"]
    _assert_eval_reproduces_a_row(out, "rule-binary-grpo", results["reference_judge"], tmp_path)

    # resume: finished cells, the distillation and the evaluations are reused, not re-run
    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").glob("*/results.json")}
    result = runner.invoke(app, ["train-and-eval", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "finished earlier, skipped" in result.stderr
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    resumed = json.loads((out / "results.json").read_text())
    assert json.loads((out / "config.json").read_text())["created"] == config["created"]  # when the run began
    assert resumed["table"] == results["table"]
    # what the experiment cost is read from the stages' records, so a resume reports the same figure
    stages = results["stage_wall_time_s"]
    assert {"sft", "distillation", "evaluation", *(f"cells/{name}" for name in results["cells"])} == set(stages)
    assert resumed["stage_wall_time_s"] == stages
    assert resumed["compute_wall_time_s"] == pytest.approx(sum(stages.values()), abs=0.2)
    assert resumed["wall_time_s"] < results["compute_wall_time_s"]

    # an imported baseline joins the table on resume: judged by the same judge on the same items, nothing retrained
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    answered = items[: len(items) // 2]
    baseline = tmp_path / "big-model.jsonl"
    baseline.write_text("".join(json.dumps({"item_id": item["id"], "text": f"So the answer is {item['reference']}."})
                                + "\n" for item in answered)
                        + "".join(json.dumps({"item_id": item["id"], "text": "I cannot tell."}) + "\n"
                                  for item in items[len(answered):]))
    result = runner.invoke(app, ["train-and-eval", "--quick", "--out", str(out),
                                 "--baseline", f"responses:{baseline}:big-model"])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    with_baseline = json.loads((out / "results.json").read_text())
    row = with_baseline["table"]["rows"]["big-model"]["all"]["accuracy"]
    assert row["estimate"] == pytest.approx(len(answered) / len(items)) and row["n"] == len(items)
    assert "big-model" in with_baseline["table"]["versus_sft"]
    assert with_baseline["baselines"][0]["name"] == "big-model"
    assert with_baseline["findings"] == results["findings"]  # baselines are not rows of the study's findings

    # a second evaluation judge on resume judges the cached responses: its own Table 1 and findings, nothing
    # retrained or regenerated, the reference judge's table unchanged
    responses = (out / "evaluation" / "sft" / "responses.jsonl").read_text()
    result = runner.invoke(app, ["train-and-eval", "--quick", "--out", str(out), "--eval-judges", "numeric"])
    assert result.exit_code == 0, result.stderr + str(result.exception)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (out / "evaluation" / "sft" / "responses.jsonl").read_text() == responses
    two = json.loads((out / "results.json").read_text())
    assert two["evaluation_judges"] == ["contains", "numeric"]
    assert two["by_judge"]["contains"]["table"] == two["table"] == results["table"]  # no --baseline this time
    assert set(two["by_judge"]["numeric"]["table"]["rows"]) == set(rows)
    # rule cells against the rule judge of their family; the distilled student does not evaluate, so the model
    # cells have no own-family judge here and are left out
    gaps = two["judge_family_gaps"]
    assert set(gaps) == {name for name in results["cells"] if name.startswith("rule")}
    assert all(entry["own_judge"] == "contains" and set(entry["versus"]) == {"numeric"} for entry in gaps.values())
    assert "Held-out accuracy % judged by numeric" in result.stdout
    report = (out / "report.html").read_text(encoding="utf-8")
    assert 'id="train-and-eval-judge2-table"' in report and "judged by <code>numeric</code>" in report


def _assert_eval_reproduces_a_row(out: Path, row: str, judge: str, tmp_path: Path) -> None:
    """Every saved policy carries its prompt and settings: `eval --policy` on a cell's checkpoint, given the
    matrix's held-out items as a data file, gives that Table 1 row's responses text for text."""
    for policy in (out / "sft" / "policy", out / "cells" / row / "policy"):
        assert (policy / POLICY_SETTINGS_FILE).is_file(), policy
    items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    data = tmp_path / "held-out.jsonl"
    data.write_text("".join(json.dumps({"item_id": i["id"], "question": i["question"], "reference": i["reference"],
                                        "domain": i["domain"], "answer_type": i["answer_type"], "response": ""})
                            + "\n" for i in items))
    result = runner.invoke(app, ["eval", "--policy", f"{row}={out / 'cells' / row / 'policy'}", "--data", str(data),
                                 "--judges", judge, "--bootstrap", "100", "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.stderr + str(result.exception)

    def texts(path: Path) -> dict[str, str]:
        return {r["item_id"]: r["text"] for r in map(json.loads, path.read_text().splitlines()) if r["source"] == row}

    assert texts(tmp_path / "eval" / "responses.jsonl") == texts(out / "responses.jsonl")
    evaluated = json.loads((tmp_path / "eval" / "results.json").read_text())["per_policy"][row]["by_judge"][judge]
    table = json.loads((out / "results.json").read_text())["table"]["rows"][row]["all"]["accuracy"]
    assert evaluated["accuracy"]["estimate"] == table["estimate"]


def test_bad_baseline_fails_before_any_work(tmp_path: Path) -> None:
    bad = tmp_path / "answers.jsonl"
    bad.write_text(json.dumps({"item_id": "no-such-item", "text": "4"}) + "\n")
    result = runner.invoke(app, ["train-and-eval", "--quick", "--out", str(tmp_path / "run"),
                                 "--baseline", f"responses:{bad}"])
    assert result.exit_code == 2
    assert f"{bad}:1: field 'item_id': unknown item 'no-such-item'" in result.stderr
    assert not (tmp_path / "run").exists()
    clash = runner.invoke(app, ["train-and-eval", "--quick", "--out", str(tmp_path / "run"),
                                "--baseline", f"sft={bad}"])
    assert clash.exit_code == 2 and "is a row of the matrix" in clash.stderr


@pytest.mark.parametrize("recipe", ["mini"])
def test_full_recipe_has_a_quick_variant(recipe: str) -> None:
    assert MatrixRequest(recipe=recipe, out=Path("x"), quick=True).recipe_name() == f"{recipe}-quick"


def _log_rows(step: int, response: str, verdicts: dict[str, bool]) -> list[dict[str, object]]:
    from rlvr_bench.records import Judgment, Verdict
    from rlvr_bench.training.exploration import ExplorationRow

    judges = {"reward": "contains", "reference": "numeric"}
    return [ExplorationRow(Judgment(judges[role], "i", response, Verdict(passed)), role, step, "p", "4", "q", "4"
                           ).to_json() for role, passed in verdicts.items()]


def test_hacking_gap_compares_reward_and_reference_per_quarter(tmp_path: Path) -> None:
    from rlvr_bench.training.matrix import hacking_gap

    rows = []
    for step in range(8):  # early steps: the reward agrees; late steps: it accepts what the reference rejects
        for n in range(4):
            late = step >= 6
            rows += _log_rows(step, f"c{step}-{n}", {"reward": n < (3 if late else 1), "reference": n < 1})
    (tmp_path / "exploration_judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    gap = hacking_gap({"reward": "contains:binary", "reference_judge": "numeric"}, tmp_path)
    assert gap["first_quarter"]["gap"] == 0.0 and gap["first_quarter"]["agreement"] == 1.0
    assert gap["last_quarter"]["gap"] == 0.5 and gap["last_quarter"]["reward_pass_rate"] == 0.75


def test_hacking_gap_of_the_teacher_row_is_zero_by_construction(tmp_path: Path) -> None:
    from rlvr_bench.training.matrix import hacking_gap

    # the teacher is both reward and reference: its verdicts are logged once, in the reward role
    rows = [r for step in range(4) for r in _log_rows(step, f"c{step}", {"reward": step % 2 == 0})]
    (tmp_path / "exploration_judgments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    gap = hacking_gap({"reward": "numeric:binary", "reference_judge": "numeric"}, tmp_path)
    assert gap["all"]["n"] == 4 and gap["all"]["gap"] == 0.0 and gap["all"]["agreement"] == 1.0
