"""JudgeBench, RewardMATH and MMLU-Pro eval_results read as published.

Layouts, from the sources' own files:
- JudgeBench: ScalerLab/JudgeBench @ 12a499c5, ``data/dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl``
  (arXiv 2410.12784): JSONL; pair_id (uuid text), original_id (int), source ("mmlu-pro-law", ...),
  question, response_model, response_A, response_B, label ("A>B" / "B>A").
- RewardMATH: kimsh0507/RewardMATH_official @ cd599e82, ``dataset/benchmark/RewardMATH_direct.json``: a
  JSON array; problem, answer, eval_solution (list of steps), solution_reference, solution_type
  ("chosen" / "rejected"), subject, level (int), problem_id (int), id (int).
- MMLU-Pro: TIGER-AI-Lab/MMLU-Pro @ f418b116, ``eval_results/model_outputs_*_5shots.zip``: a zip with one
  JSON array member; question_id (int), question, options (list), answer (letter), answer_index (int),
  cot_content, category, src, pred (letter or null), model_outputs.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.errors import InputError
from rlvr_bench.importers import import_data

MMLU_QUESTION = ("A contract says 2,000 sets at $5 each. Is trade-usage evidence admissible?\n"
                 "(A) No, it varies an unambiguous term.\n(B) No, merger clause.\n(C) Yes, it gives meaning to the "
                 "contract.\nOnce you have your answer, please duplicate that letter five times.")
JUDGEBENCH_ROWS: list[dict[str, Any]] = [
    {"pair_id": "e302b0a0-28d5-5a3c-b1af-fedcf5543e72", "original_id": 1420, "source": "mmlu-pro-law",
     "question": MMLU_QUESTION, "response_model": "gpt-4o-2024-05-13",
     "response_A": "Usage of trade explains the term.\nHence my answer is:\nCCCCC",
     "response_B": "The merger clause bars it.\nSo, the correct and best-supported answer is:\nBBBBB", "label": "A>B"},
    {"pair_id": "2d989dfb-7cf0-549e-945c-3dd060d1fad5", "original_id": 77, "source": "livebench-math",
     "question": "What is 2+2?", "response_model": "gpt-4o-2024-05-13",
     "response_A": "It is 5.", "response_B": "It is 4.", "label": "B>A"},
]
MMLU_PRO_ROWS: list[dict[str, Any]] = [
    {"question_id": 1420, "question": "Is trade-usage evidence admissible?", "options": ["No", "Maybe", "Yes"],
     "answer": "C", "answer_index": 2, "cot_content": "", "category": "law", "src": "ori_mmlu-law",
     "pred": "C", "model_outputs": "Trade usage gives meaning. The answer is (C)."},
    {"question_id": 11285, "question": "How many 300-lumen lamps give 50 lux on 4 m x 3 m?",
     "options": ["6", "1", "2"], "answer": "C", "answer_index": 2, "cot_content": "", "category": "engineering",
     "src": "ori_mmlu-electrical_engineering", "pred": "A", "model_outputs": "The answer is (A)."},
    {"question_id": 3, "question": "Pick one.", "options": ["x", "y"], "answer": "A", "answer_index": 0,
     "cot_content": "", "category": "other", "src": "stemez", "pred": None, "model_outputs": "I am unsure."},
]
REWARDMATH_ROWS: list[dict[str, Any]] = [
    {"problem": "$441+2(21)(19)+361=x$. Solve for $x$.", "answer": "1600",
     "eval_solution": ["I can simplify: $2(21)(19)=798$.", "Therefore, the solution for x is $\\boxed{1600}$."],
     "solution_reference": "human_to_GPT-4", "solution_type": "chosen", "subject": "Algebra", "level": 1,
     "problem_id": 0, "id": 0},
    {"problem": "$441+2(21)(19)+361=x$. Solve for $x$.", "answer": "1600",
     "eval_solution": ["$2(21)(19)=800$.", "Therefore, the value of $x$ is $\\boxed{1602}$."],
     "solution_reference": "modified_with_GPT-4", "solution_type": "rejected", "subject": "Algebra", "level": 1,
     "problem_id": 0, "id": 1},
]


def _mmlu_zip(path: Path, rows: list[dict[str, Any]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(path.stem + ".json", json.dumps(rows, indent=2))
    return path


def test_judgebench_pairs_without_keys_have_no_reference(tmp_path: Path, jsonl: Callable[..., Path]) -> None:
    imported = import_data(jsonl(tmp_path / "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl",
                                 JUDGEBENCH_ROWS))
    assert imported.format == "judgebench"
    assert [(r.id, r.label) for r in imported.responses] == [
        ("e302b0a0-28d5-5a3c-b1af-fedcf5543e72-A", True), ("e302b0a0-28d5-5a3c-b1af-fedcf5543e72-B", False),
        ("2d989dfb-7cf0-549e-945c-3dd060d1fad5-A", False), ("2d989dfb-7cf0-549e-945c-3dd060d1fad5-B", True)]
    assert {r.metadata["pair_id"] for r in imported.responses[:2]} == {"e302b0a0-28d5-5a3c-b1af-fedcf5543e72"}
    assert all(item.reference == "" for item in imported.items)
    assert imported.report["notes"] == {"pairs without a reference (no key file joined)": 2}
    assert imported.responses[0].source == "gpt-4o-2024-05-13"


def test_judgebench_keys_join_from_an_mmlu_pro_zip(tmp_path: Path, jsonl: Callable[..., Path],
                                                    cli: Callable[..., tuple[int, str, str]]) -> None:
    pairs = jsonl(tmp_path / "judgebench.jsonl", JUDGEBENCH_ROWS)
    keys = _mmlu_zip(tmp_path / "model_outputs_gemini-1.5-pro-002_5shots.zip", MMLU_PRO_ROWS)
    imported = import_data(Path(f"{pairs}+{keys}"))
    law, math = imported.items
    assert (law.reference, law.answer_type) == ("C", "choice")  # original_id 1420 = MMLU-Pro question_id 1420
    assert (math.reference, math.answer_type) == ("", "text")
    assert imported.report["notes"] == {"pairs without a key in the joined file (no reference)": 1}
    code, _, stderr = cli("verify", "--no-cache", "--data", f"{pairs}+{keys}", "--judges", "choice",
                          "--out", str(tmp_path / "run"))
    assert code == 0, stderr


def test_judgebench_bad_label_names_line_and_field(tmp_path: Path, jsonl: Callable[..., Path]) -> None:
    rows = [JUDGEBENCH_ROWS[0], {**JUDGEBENCH_ROWS[1], "label": "A=B"}]
    with pytest.raises(InputError, match=r"judgebench\.jsonl:2: field 'label': unknown value 'A=B'"):
        import_data(jsonl(tmp_path / "judgebench.jsonl", rows))


def test_mmlu_pro_zip_key_vs_pred_as_automatic_labels(tmp_path: Path) -> None:
    imported = import_data(_mmlu_zip(tmp_path / "model_outputs_gemini-1.5-pro-002_5shots.zip", MMLU_PRO_ROWS))
    assert imported.format == "mmlu-pro"
    assert [r.label for r in imported.responses] == [True, False]
    assert imported.items[0].question.endswith("(A) No\n(B) Maybe\n(C) Yes")
    assert imported.items[0].answer_type == "choice" and imported.items[0].domain == "law"
    assert imported.responses[0].source == "gemini-1.5-pro-002"
    assert imported.responses[0].metadata["label_source"].startswith("automatic")
    assert imported.report["dropped"] == {"pred null (MMLU-Pro's regex found no answer letter)": 1}
    assert imported.report["notes"] == {"labels are automatic (pred == answer), not human": 2}


def test_rewardmath_chosen_correct_rejected_incorrect(tmp_path: Path, json_array: Callable[..., Path]) -> None:
    imported = import_data(json_array(tmp_path / "RewardMATH_direct.json", REWARDMATH_ROWS))
    assert imported.format == "rewardmath" and len(imported.items) == 1
    assert [(r.label, r.source, r.variant) for r in imported.responses] == [
        (True, "human_to_GPT-4", "chosen"), (False, "modified_with_GPT-4", "rejected")]
    assert imported.responses[1].text.endswith("$\\boxed{1602}$.")
    assert imported.items[0].answer_type == "expression"
