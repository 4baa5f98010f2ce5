"""`rlvr-bench verify` end to end: imported files, the gold set, the attack suite, and every bad-input path."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.judges import registry
from rlvr_bench.judges.base import BaseJudge, JudgeSpec, Triple
from rlvr_bench.records import Verdict
from rlvr_bench.rundir import load_run

runner = CliRunner()
RUN_FILES = ("config.json", "items.jsonl", "responses.jsonl", "judgments.jsonl", "results.json")


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["verify", "--no-cache", *args])
    return result.exit_code, result.stdout, result.stderr


def _jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def _assert_one_line_error(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _documented_keys() -> str:
    """The verify section of docs/results-schema.md, where every results.json key must be described."""
    text = (Path(__file__).parents[2] / "docs" / "results-schema.md").read_text(encoding="utf-8")
    return text[text.index("## verify"):]


def _is_metric(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"estimate", "ci_low", "ci_high", "n"}


# Four VerifierBench questions. What `contains` (reference inside the final step) says, row by row:
#   r1 correct   "... 18.02 g/mol"        -> yes  (tp)
#   r2 incorrect "About 20 g/mol"         -> no   (tn)
#   r3 correct   "epinephrine"            -> yes  (tp)
#   r4 invalid   "I think"                -> no   (tn; Invalid counts as incorrect)
#   r5 correct   "It is 4."               -> yes  (tp)
#   r6 incorrect "It is 40."              -> yes  (fp: "4" occurs in "40")
#   r7 correct   "The capital is PARIS"   -> yes  (tp, case-folded)
#   r8 correct   "Paris, France's capital"-> yes  (tp)
# contains: tp 5, fp 1, fn 0, tn 2 -> accuracy 7/8, precision 5/6, recall 1, FPR 1/3.
VERIFIERBENCH_ROWS = [
    {"question": "Molar mass of water?", "gold_answer": "18.02 g/mol", "llm_response": "It is 18.02 g/mol",
     "gold_judgment": "Correct", "domain": "chemistry", "answer_type": "quantity"},
    {"question": "Molar mass of water?", "gold_answer": "18.02 g/mol", "llm_response": "About 20 g/mol",
     "gold_judgment": "Incorrect", "domain": "chemistry", "answer_type": "quantity"},
    {"question": "First-line drug for anaphylaxis?", "gold_answer": "epinephrine", "llm_response": "epinephrine",
     "gold_judgment": "Correct", "domain": "medicine"},
    {"question": "First-line drug for anaphylaxis?", "gold_answer": "epinephrine", "llm_response": "I think",
     "gold_judgment": "Invalid", "domain": "medicine"},
    {"question": "2 + 2?", "gold_answer": "4", "llm_response": "It is 4.", "gold_judgment": "Correct",
     "domain": "mathematics", "answer_type": "number"},
    {"question": "2 + 2?", "gold_answer": "4", "llm_response": "It is 40.", "gold_judgment": "Incorrect",
     "domain": "mathematics", "answer_type": "number"},
    {"question": "Capital of France?", "gold_answer": "Paris", "llm_response": "The capital is PARIS",
     "gold_judgment": "Correct", "domain": "history"},
    {"question": "Capital of France?", "gold_answer": "Paris", "llm_response": "Paris, France's capital",
     "gold_judgment": "Correct", "domain": "history"},
]


def test_verifierbench_file_is_imported_and_verified_end_to_end(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "verifierbench.jsonl", VERIFIERBENCH_ROWS)
    out = tmp_path / "run"
    code, stdout, stderr = _run("--data", str(data), "--judges", "contains,exact,jaccard", "--bootstrap", "100",
                                "--out", str(out), "--breakdown", "domain")
    assert code == 0, stderr
    assert "Judges vs gold labels" in stdout and "McNemar" in stdout and "Accuracy by domain" in stdout
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "rlvr-bench/verify/v1"
    assert results["judges"] == ["contains", "exact", "jaccard"] and results["soft_judges"] == ["jaccard"]
    assert (results["n_responses"], results["n_questions"]) == (8, 4)
    assert results["label_counts"] == {"correct": 5, "incorrect": 3}
    contains = results["overall"]["contains"]
    assert contains["counts"] == {"tp": 5, "fp": 1, "fn": 0, "tn": 2, "unscored": 0}
    assert contains["accuracy"]["estimate"] == pytest.approx(7 / 8) and contains["accuracy"]["n"] == 8
    assert contains["precision"]["estimate"] == pytest.approx(5 / 6)
    assert contains["false_positive_rate"]["estimate"] == pytest.approx(1 / 3)
    assert contains["accuracy"]["ci_low"] <= 7 / 8 <= contains["accuracy"]["ci_high"]
    for judge in results["judges"]:
        assert all(_is_metric(results["overall"][judge][m]) for m in results["metric_names"])
    domains = results["breakdowns"]["domain"]
    assert set(domains) == {"chemistry", "medicine", "mathematics", "history"}
    assert domains["mathematics"]["judges"]["contains"]["false_positive_rate"]["estimate"] == 1.0
    assert domains["mathematics"]["judges"]["contains"]["accuracy"]["ci_low"] is None  # 1 question: no CI
    assert set(results["breakdowns"]["variant"]) == {"unspecified"}
    soft = results["soft"]["jaccard"]
    assert soft["n"] == 8 and sum(b["count"] for b in soft["reliability"]["bins"]) == 8
    assert len(results["mcnemar"]) == 3 and results["attacks"] is None
    docs = _documented_keys()
    assert all(f"`{key}`" in docs for key in results), [key for key in results if f"`{key}`" not in docs]
    run = load_run(out)
    assert len(run.judgments) == 3 * 8


MULTI_SUBJECT_ROWS = [
    {"id": "ms-1", "query": [{"role": "system", "content": "You are a helpful assistant."},
                             {"role": "user", "content": "Which enzyme does aspirin irreversibly inhibit?"}],
     "label": "cyclooxygenase", "subject": "medicine"},
    {"id": "ms-2", "query": [{"role": "user", "content": "pH of 0.01 M HCl?"}], "label": "2", "subject": "chemistry"},
    {"id": "ms-3", "query": [{"role": "user", "content": "Opportunity cost is the value of the next best what?"}],
     "label": "alternative", "subject": "economics"},
]


def test_multi_subject_rlvr_file_needs_responses_or_attacks(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "multi.jsonl", MULTI_SUBJECT_ROWS)
    code, _, stderr = _run("--data", str(data), "--judges", "exact", "--out", str(tmp_path / "none"))
    _assert_one_line_error(code, stderr, "no labelled responses", "--responses", "--attacks")
    assert not (tmp_path / "none").exists()


def test_multi_subject_rlvr_file_runs_the_attack_suite_on_items_alone(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "multi.jsonl", MULTI_SUBJECT_ROWS)
    out = tmp_path / "run"
    code, stdout, stderr = _run("--data", str(data), "--judges", "exact,contains", "--attacks", "--bootstrap", "50",
                                "--out", str(out))
    assert code == 0, stderr
    assert "Master keys" in stdout and "Perturbed correct answers" in stdout
    results = json.loads((out / "results.json").read_text())
    assert results["overall"] is None and results["n_responses"] == 0
    attacks = results["attacks"]
    assert attacks["n_items"] == 3
    docs = _documented_keys()
    assert all(f"`{key}`" in docs for key in attacks), [key for key in attacks if f"`{key}`" not in docs]
    assert set(attacks["master_key"]) == {key["name"] for key in attacks["master_keys"]}
    # no master key contains the reference, so neither string rule passes any of them
    for key, row in attacks["master_key"].items():
        assert row["n_responses"] == 3, key
        for judge in ("exact", "contains"):
            assert row["judges"][judge]["false_positive_rate"]["estimate"] == 0.0, (key, judge)
    assert attacks["master_key_any"]["contains"]["items_with_a_passing_key"]["estimate"] == 0.0
    # the unperturbed base states the reference, so exact accepts all three; trailing text breaks exact only
    perturbation = attacks["perturbation"]
    assert perturbation["none"]["judges"]["exact"]["false_negative_rate"]["estimate"] == 0.0
    assert perturbation["trailing_reasoning"]["judges"]["exact"]["false_negative_rate"]["estimate"] == 1.0
    assert perturbation["trailing_reasoning"]["judges"]["contains"]["false_negative_rate"]["estimate"] == 0.0
    assert perturbation["case"]["n_responses"] == 2  # "2" has no letters to change
    responses = load_run(out).responses
    assert {r.source.split(":")[0] for r in responses} == {"attack", "perturb"}


def test_multi_subject_rlvr_file_with_a_responses_file(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "multi.jsonl", MULTI_SUBJECT_ROWS)
    answers = _jsonl(tmp_path / "answers.jsonl", [
        {"id": "a1", "item_id": "ms-1", "text": "Therefore, the answer is cyclooxygenase.", "label": True},
        {"id": "a2", "item_id": "ms-1", "text": "Therefore, the answer is lipoxygenase.", "label": False},
        {"id": "a3", "item_id": "ms-2", "text": "Therefore, the answer is 2.", "label": True},
        {"id": "a4", "item_id": "ms-3", "text": "Therefore, the answer is the next best alternative.",
         "label": True},
        {"id": "a5", "item_id": "ms-3", "text": "Therefore, the answer is money.", "label": None},
    ])
    out = tmp_path / "run"
    code, _, stderr = _run("--data", str(data), "--responses", str(answers), "--judges", "exact,contains",
                           "--bootstrap", "50", "--out", str(out))
    assert code == 0, stderr
    results = json.loads((out / "results.json").read_text())
    assert results["n_responses"] == 4 and results["n_unlabelled_skipped"] == 1
    # exact misses a4 ("the next best alternative" != "alternative"); contains accepts it
    assert results["overall"]["exact"]["counts"] == {"tp": 2, "fp": 0, "fn": 1, "tn": 1, "unscored": 0}
    assert results["overall"]["contains"]["accuracy"]["estimate"] == 1.0
    [pair] = results["mcnemar"]
    assert (pair["a_only_correct"], pair["b_only_correct"], pair["method"]) == (0, 1, "exact")


@pytest.mark.parametrize(("rows", "fragments"), [
    ([VERIFIERBENCH_ROWS[0], {k: v for k, v in VERIFIERBENCH_ROWS[1].items() if k != "gold_answer"}],
     ("bad.jsonl:2", "missing field 'gold_answer'")),
    ([VERIFIERBENCH_ROWS[0], {**VERIFIERBENCH_ROWS[1], "gold_judgment": "Maybe"}],
     ("bad.jsonl:2", "field 'gold_judgment'", "unknown label value 'Maybe'")),
    ([{"question": "q", "answer": "a", "completion": "a", "gold_correct": "sometimes"}],
     ("bad.jsonl:1", "field 'gold_correct'", "unknown label value")),
    ([{"question": "q", "reply": "a"}], ("bad.jsonl:1", "unrecognised columns")),
])
def test_bad_data_files_give_file_line_errors_and_exit_2(tmp_path: Path, rows: list[dict[str, Any]],
                                                         fragments: tuple[str, ...]) -> None:
    data = _jsonl(tmp_path / "bad.jsonl", rows)
    code, _, stderr = _run("--data", str(data), "--judges", "exact", "--out", str(tmp_path / "run"))
    _assert_one_line_error(code, stderr, *fragments)
    assert not (tmp_path / "run").exists()


def test_bad_responses_file_and_options_exit_2(tmp_path: Path) -> None:
    data = _jsonl(tmp_path / "multi.jsonl", MULTI_SUBJECT_ROWS)
    answers = _jsonl(tmp_path / "answers.jsonl", [
        {"id": "a1", "item_id": "ms-1", "text": "x", "label": True},
        {"id": "a2", "item_id": "ms-9", "text": "x", "label": True},
    ])
    code, _, stderr = _run("--data", str(data), "--responses", str(answers), "--judges", "exact")
    _assert_one_line_error(code, stderr, "answers.jsonl:2", "unknown item 'ms-9'")
    _assert_one_line_error(*_run("--judges", "exact", "--attack-items", "3")[::2], "--attack-items needs --attacks")
    _assert_one_line_error(*_run("--judges", "exakt")[::2], "unknown judge 'exakt'", "exact")
    _assert_one_line_error(*_run("--judges", "exact", "--breakdown", "colour")[::2], "--breakdown")
    _assert_one_line_error(*_run("--task", "starter", "--data", str(data))[::2], "either --task or --data")


class AlwaysFailingJudge(BaseJudge):
    """A judge whose every verdict is unscored (a backend that is down)."""

    @classmethod
    def check(cls, spec: JudgeSpec) -> str | None:
        return None

    def judge_batch(self, triples: Sequence[Triple]) -> list[Verdict]:
        return [Verdict(passed=None, error="TimeoutError: backend down") for _ in triples]


def test_a_judge_that_scores_nothing_gives_null_metrics_not_a_crash(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.BACKENDS, "always-failing", f"{__name__}:AlwaysFailingJudge")
    preset = tmp_path / "down.yaml"
    preset.write_text(yaml.safe_dump({"name": "down", "backend": "always-failing"}))
    out = tmp_path / "run"
    # by default the failure budget stops such a run; with the budget lifted the statistics still hold up
    code, _, stderr = _run("--task", "starter", "--judges", f"exact,{preset}", "--bootstrap", "30", "--out", str(out))
    assert code == 2 and "judge 'down' failed on" in stderr and not out.exists()
    code, stdout, stderr = _run("--task", "starter", "--judges", f"exact,{preset}", "--bootstrap", "30",
                                "--attacks", "--attack-items", "2", "--out", str(out), "--max-unscored", "1")
    assert code == 0, stderr
    assert "scored no labelled response" in stdout
    results = json.loads((out / "results.json").read_text())
    down = results["overall"]["down"]
    assert down["accuracy"] == {"estimate": None, "ci_low": None, "ci_high": None, "n": 0}
    assert down["unscored_rate"]["estimate"] == 1.0
    assert any("'down' scored no labelled response" in w for w in results["warnings"])
    # no discordant pair: no test to report (issue 29: never "p = 1.0000" for n = 0)
    assert results["mcnemar"][0]["n"] == 0 and results["mcnemar"][0]["p_value"] is None
    assert results["attacks"]["n_items"] == 2  # --attack-items sampled two of the 24 starter items
    key = results["attacks"]["master_key"]["space"]["judges"]["down"]
    assert key["false_positive_rate"]["estimate"] is None and key["unscored_rate"]["estimate"] == 1.0
    summary = {row["judge"]: row for row in results["judge_summary"]}
    assert summary["down"]["unscored_reasons"] == {"TimeoutError": 72}


def test_gold_set_breakdowns_cover_every_variant(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = _run("--judges", "exact,contains,numeric", "--bootstrap", "50", "--out", str(out))
    assert code == 0, stderr
    assert "Accuracy by variant" in stdout and "near_miss" in stdout
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "rlvr-bench/verify/v1"
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["task"] == "verifier-gold"
    variants = set(results["breakdowns"]["variant"])
    assert variants >= {"exact", "paraphrase", "format", "verbose", "near_miss", "wrong", "hedge", "master_key"}
    for key in results["breakdown_names"]:
        for group in results["breakdowns"][key].values():
            assert group["n_correct"] + group["n_incorrect"] == group["n_responses"]
            for metrics in group["judges"].values():
                assert all(_is_metric(metrics[m]) for m in results["metric_names"])
    assert sum(g["n_responses"] for g in results["breakdowns"]["variant"].values()) == results["n_responses"]


@pytest.mark.slow
def test_verify_with_no_options_runs_every_offline_judge_on_the_gold_set(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default run directory is runs/verify-<time> under the working directory
    result = runner.invoke(app, ["verify", "--no-cache", "--bootstrap", "200"])
    assert result.exit_code == 0, result.stderr
    [run_dir] = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["judges"]) == set(registry.offline_presets())
    assert "Soft scores" in result.stdout and set(results["soft_judges"]) >= {"jaccard", "embed"}


def test_a_task_folder_with_items_only_runs_the_attack_suite(tmp_path: Path) -> None:
    folder = tmp_path / "mytask"
    folder.mkdir()
    (folder / "task.yaml").write_text(yaml.safe_dump({"name": "mytask", "domains": ["chemistry"],
                                                      "items": "items.jsonl"}))
    _jsonl(folder / "items.jsonl", [
        {"id": "c1", "domain": "chemistry", "question": "Molar mass of water?", "reference": "18.02 g/mol",
         "answer_type": "quantity"},
    ])
    code, _, stderr = _run("--task", str(folder), "--judges", "numeric", "--out", str(tmp_path / "x"))
    _assert_one_line_error(code, stderr, "task 'mytask' has no labelled responses")
    _assert_one_line_error(*_run("--task", str(folder), "--split", "train", "--attacks")[::2],
                           "no items in split 'train'")
    out = tmp_path / "run"
    code, _, stderr = _run("--task", str(folder), "--judges", "numeric", "--attacks", "--bootstrap", "20",
                           "--out", str(out))
    assert code == 0, stderr
    perturbation = json.loads((out / "results.json").read_text())["attacks"]["perturbation"]
    # the base is synthesised from the reference; "18.02 g/mol" becomes "0.01802 kg/mol", which numeric accepts
    unit = perturbation["unit_change"]
    assert unit["n_responses"] == 1 and perturbation["none"]["n_responses"] == 1
    responses = {r.source: r for r in load_run(out).responses}
    assert responses["perturb:unit_change"].final_step == "Therefore, the answer is 0.01802 kg/mol."
    assert unit["judges"]["numeric"]["false_negative_rate"]["estimate"] == 0.0
