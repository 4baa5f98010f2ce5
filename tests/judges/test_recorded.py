"""Recorded verdicts as judges (``column:NAME``): values, unscored cells, kappa as scikit-learn computes it,
the human label as gold, and bad cells named by file, line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.judges.recorded import parse_recorded
from rlvr_bench.pipelines.agreement import agreement
from rlvr_bench.pipelines.verify import verify

runner = CliRunner()
# 12 rows: two GPT-4o passes (one with an empty cell), a human label, VerifierBench letters
ROWS = [
    ("What is 2+2?", "4", "The answer is 4.", "Correct", "yes", "1", "A"),
    ("Capital of France?", "Paris", "It is Lyon.", "Incorrect", "no", "0", "B"),
    ("Boiling point of water in C?", "100", "The answer is 100.", "Correct", "", "1", "A"),
    ("Largest planet?", "Jupiter", "Saturn", "Correct", "no", "0", "C"),
    ("3*3?", "9", "9", "correct", "yes", "1", "A"),
    ("Square root of 16?", "4", "It is 8.", "incorrect", "yes", "0", "B"),
    ("Chemical symbol of gold?", "Au", "Au", "TRUE", "true", "1", "A"),
    ("Author of Hamlet?", "Shakespeare", "Marlowe", "false", "false", "0", "B"),
    ("Freezing point of water in F?", "32", "32 F", "1", "1", "1", "A"),
    ("Speed of light (km/s)?", "300000", "150000", "0", "1", "0", "C"),
    ("Number of continents?", "7", "7", "Correct", "no", "1", "B"),
    ("Smallest prime?", "2", "1", "Incorrect", "", "0", "B"),
]
HEADER = "question,correct_answer,llm_output,gpt4o_1,gpt4o_2,human,letter"


def _csv(tmp_path: Path, rows: list[tuple[str, ...]] = ROWS) -> Path:
    path = tmp_path / "xverify.csv"
    path.write_text(HEADER + "\n" + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "xverify.jsonl"
    names = HEADER.split(",")
    path.write_text("".join(json.dumps(dict(zip(names, row, strict=True))) + "\n" for row in ROWS), encoding="utf-8")
    return path


@pytest.mark.parametrize(("value", "verdict"), [
    ("Correct", True), ("incorrect", False), ("yes", True), ("NO", False), ("1", True), ("0", False), (1, True),
    (0.0, False), (True, True), ("A", True), ("B", False), ("C", False), ("", None), (None, None), ("  ", None)])
def test_recorded_values(value: object, verdict: bool | None) -> None:
    assert parse_recorded(value) is verdict


@pytest.mark.parametrize("make", [_csv, _jsonl])
def test_kappa_over_recorded_columns_equals_scikit_learn(tmp_path: Path, make: object) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    result = agreement(data=path, judges=["column:gpt4o_1", "column:gpt4o_2", "column:human", "contains"],
                       n_bootstrap=0, write=False)
    kappa = result.results["overall"]["pairwise"]["cohen_kappa"]["estimate"]
    columns = {name: [parse_recorded(row[i]) for row in ROWS] for i, name in ((3, "gpt4o_1"), (4, "gpt4o_2"),
                                                                             (5, "human"))}
    for (i, a), (j, b) in [((0, "gpt4o_1"), (1, "gpt4o_2")), ((0, "gpt4o_1"), (2, "human")),
                           ((1, "gpt4o_2"), (2, "human"))]:
        pairs = [(x, y) for x, y in zip(columns[a], columns[b], strict=True) if x is not None and y is not None]
        expected = cohen_kappa_score([x for x, _ in pairs], [y for _, y in pairs])
        assert kappa[i][j] == pytest.approx(expected), (a, b)
    summary = {row["judge"]: row for row in result.results["judge_summary"]}
    assert summary["column:gpt4o_2"]["n_unscored"] == 2  # the two empty cells: unscored, not "incorrect"


def test_the_cli_mixes_recorded_and_live_judges_and_takes_the_human_label_as_gold(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    result = runner.invoke(app, ["agreement", "--data", str(path), "--judges", "column:gpt4o_1,column:letter,contains",
                                 "--bootstrap", "0", "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["verify", "--data", str(path), "--gold", "column:human", "--judges",
                                 "column:gpt4o_1,contains", "--bootstrap", "0", "--out", str(tmp_path / "v")])
    assert result.exit_code == 0, result.stderr
    overall = json.loads((tmp_path / "v" / "results.json").read_text())["overall"]
    human = [parse_recorded(row[5]) for row in ROWS]
    gpt = [parse_recorded(row[3]) for row in ROWS]
    assert overall["column:gpt4o_1"]["accuracy"]["estimate"] == pytest.approx(
        sum(g == h for g, h in zip(gpt, human, strict=True)) / len(ROWS))


def test_a_bad_cell_is_named_by_file_line_and_column(tmp_path: Path) -> None:
    rows = [*ROWS[:4], (*ROWS[4][:3], "maybe", *ROWS[4][4:]), *ROWS[5:]]
    path = _csv(tmp_path, rows)
    result = runner.invoke(app, ["agreement", "--data", str(path), "--judges", "column:gpt4o_1,contains",
                                 "--bootstrap", "0", "--out", str(tmp_path / "a")])
    assert result.exit_code == 2
    assert f"{path}:6: field 'gpt4o_1': 'maybe' is not a verdict" in result.stderr
    assert not (tmp_path / "a").exists()
    result = runner.invoke(app, ["agreement", "--data", str(path), "--judges", "column:nope,contains",
                                 "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "no response has a column 'nope'" in result.stderr


def test_verifybench_style_annotator_columns_are_raters(tmp_path: Path) -> None:
    """VerifyBench layout (question, answer, completion, gold_correct) plus two annotator columns."""
    rows = [{"question": "2+2?", "answer": "4", "completion": "4", "gold_correct": True, "annotator_a": "1",
             "annotator_b": "1"},
            {"question": "3+3?", "answer": "6", "completion": "7", "gold_correct": False, "annotator_a": "0",
             "annotator_b": "1"},
            {"question": "5+5?", "answer": "10", "completion": "ten", "gold_correct": True, "annotator_a": "1",
             "annotator_b": ""}]
    path = tmp_path / "verifybench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = agreement(data=path, judges=["column:annotator_a", "column:annotator_b", "exact"], n_bootstrap=0,
                       write=False)
    summary = {row["judge"]: row for row in result.results["judge_summary"]}
    assert summary["column:annotator_a"]["n_scored"] == 3 and summary["column:annotator_b"]["n_unscored"] == 1
    assert result.results["has_gold"]  # gold_correct is the label beside the raters


def test_open_qa_rows_per_system_with_alias_golds(tmp_path: Path) -> None:
    """One row per system answer, the gold an alias list, a human correctness column (open-QA human eval)."""
    rows = [{"id": f"{system}-1", "item_id": "q1", "question": "Who recorded 'Hey Ya!'?",
             "reference": ["Outkast", "OutKast", "André 3000 and Big Boi"], "response": answer, "human": human}
            for system, answer, human in [("s1", "OutKast", "correct"), ("s2", "Outkast.", "correct"),
                                          ("s3", "Kanye West", "incorrect")]]
    path = tmp_path / "open_qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = verify(data=path, gold="column:human", judges=["exact", "contains"], n_bootstrap=0, write=False)
    assert result.results["overall"]["exact"]["accuracy"]["estimate"] == 1.0


def test_lettered_multiple_choice_rows(tmp_path: Path) -> None:
    rows = [{"question": "Which is a prime? (A) 4 (B) 6 (C) 7 (D) 9", "reference": "C", "answer_type": "choice",
             "response": text, "label": label}
            for text, label in [("The answer is (C)", True), ("CCCC", True), ("7", True), ("The answer is (A)", False),
                                ("(B) 6", False)]]
    path = tmp_path / "mc.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    results = verify(data=path, judges=["choice", "auto", "contains"], n_bootstrap=0, write=False).results
    assert results["overall"]["choice"]["accuracy"]["estimate"] == 1.0
    assert results["overall"]["auto"]["accuracy"]["estimate"] == 1.0
    assert results["overall"]["contains"]["accuracy"]["estimate"] < 1.0  # it misses "7", the option text of C
