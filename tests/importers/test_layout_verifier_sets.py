"""VerifyBench / VerifyBench-Hard, CompassVerifier's VerifierBench and xVerify's VAR read as published.

Layouts, from the sources' own files and loaders:
- VerifyBench and VerifyBench-Hard (arXiv 2505.15801; loaders of the released JSON, e.g. the
  ``VerifyBenchSample`` reader that takes question_id, completion_id, question, answer, completion,
  gold_correct (bool), completion_model, source, answer_type, answer_subtype, annotator).
- VerifierBench (open-compass/CompassVerifier README, the ``test_sample`` rows): question, gold_answer
  (text; list-valued answers written as text, "['C']"), llm_response, gold_judgment "A" (correct) /
  "B" (incorrect) / "C" (invalid: truncated, repetitive, refusal).
- VAR (IAAR-Shanghai/xVerify; its ``gpt_4o_annotation.py`` writes ``{model}_judgment_result``): index,
  question, correct_answer, llm_output, human_judgment_result ("Correct"/"Incorrect"),
  GPT_4o_judgment_result, key_answer_type (alphabet_option, math, short_text, categorical_label), dataset.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlvr_bench.importers import import_data

VERIFYBENCH_HARD_ROWS: list[dict[str, Any]] = [
    {"question_id": "vbh-1", "completion_id": 0, "question": "Compute 1/2 + 1/3.", "answer": "5/6",
     "completion": "1/2 + 1/3 = 3/6 + 2/6.\nThe answer is \\boxed{\\frac{5}{6}}.", "gold_correct": True,
     "completion_model": "Qwen2.5-7B-Instruct", "source": "math", "answer_type": "Expression",
     "answer_subtype": "Fraction", "annotator": ["a1", "a2"]},
    {"question_id": "vbh-2", "completion_id": 3, "question": "Molar mass of water in g/mol?", "answer": "18.02",
     "completion": "It is about 16 g/mol.", "gold_correct": False, "completion_model": "Llama-3.1-8B",
     "source": "chemistry", "answer_type": "Numerical", "answer_subtype": "Float", "annotator": ["a1"]},
    {"question_id": "vbh-3", "completion_id": 1, "question": "Which is a noble gas?\nA. N2\nB. Ar\nC. O2",
     "answer": "B", "completion": "Argon. The answer is B.", "gold_correct": True, "completion_model": "m",
     "source": "gpqa", "answer_type": "Multi-choice", "answer_subtype": "Single", "annotator": []},
]
VERIFIERBENCH_ROWS: list[dict[str, Any]] = [
    {"question": "Harold tosses a nickel four times. P(at least as many heads as tails)?",
     "gold_answer": "\\frac{11}{16}", "llm_response": "So the probability is \\boxed{0.6875}",
     "gold_judgment": "A", "answer_type": "numeric"},
    {"question": "Pick the right option.\nA. x\nB. y\nC. z", "gold_answer": "['C']",
     "llm_response": "The answer is C.", "gold_judgment": "A", "answer_type": "multiple_choice"},
    {"question": "Name the enzyme aspirin inhibits.", "gold_answer": ["cyclooxygenase", "COX"],
     "aliases": ["prostaglandin-endoperoxide synthase"], "llm_response": "COX", "gold_judgment": "A",
     "answer_type": "term"},
    {"question": "Name the enzyme aspirin inhibits.", "gold_answer": ["cyclooxygenase", "COX"],
     "aliases": ["prostaglandin-endoperoxide synthase"], "llm_response": "It inhibits it inhibits it inhib",
     "gold_judgment": "C", "answer_type": "term"},
]
VAR_ROWS: list[dict[str, Any]] = [
    {"index": 1, "question": "Identity refers to one's  Answer Choices:  (A) coping  (B) life story  "
     "(C) appearance  (D) Coherent sense of self", "correct_answer": "D",
     "llm_output": "The most accurate answer is a coherent sense of self.", "human_judgment_result": "Correct",
     "GPT_4o_judgment_result": "Correct", "key_answer_type": "alphabet_option", "dataset": "mmlu"},
    {"index": 2, "question": "Sentiment of: 'I hope the real JAK comes back soon.' positive or negative",
     "correct_answer": "negative", "llm_output": "Overall, the sentiment is positive.",
     "human_judgment_result": "Incorrect", "GPT_4o_judgment_result": "Correct",
     "key_answer_type": "categorical_label", "dataset": "amazon"},
]


def test_verifybench_hard_answer_types_mapped_and_subtypes_kept(tmp_path: Path, json_array: Callable[..., Path],
                                                               cli: Callable[..., tuple[int, str, str]]) -> None:
    data = json_array(tmp_path / "VerifyBench-Hard.json", VERIFYBENCH_HARD_ROWS)
    imported = import_data(data)
    assert imported.format == "verifybench"
    assert [i.answer_type for i in imported.items] == ["expression", "number", "choice"]
    assert imported.items[0].metadata["answer_subtype"] == "Fraction"
    assert [r.label for r in imported.responses] == [True, False, True]
    assert imported.responses[0].metadata["completion_model"] == "Qwen2.5-7B-Instruct"
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--judges", "auto",
                          "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    judgments = [json.loads(line) for line in (tmp_path / "run" / "judgments.jsonl").read_text().splitlines()]
    # auto routes by the mapped type: math, numeric, choice (not contains for all)
    assert [j["raw"].split(":")[0] for j in judgments] == ["math", "numeric", "choice"]


def test_verifierbench_lists_aliases_types_and_invalid(tmp_path: Path, jsonl: Callable[..., Path]) -> None:
    imported = import_data(jsonl(tmp_path / "verifierbench.jsonl", VERIFIERBENCH_ROWS))
    assert imported.format == "verifierbench"
    assert [i.answer_type for i in imported.items] == ["number", "choice", "text"]
    assert imported.items[1].references == ("C",)  # "['C']" is a list written as text
    assert imported.items[2].references == ("cyclooxygenase", "COX", "prostaglandin-endoperoxide synthase")
    assert [r.label for r in imported.responses] == [True, True, True, False]
    assert imported.responses[3].metadata["gold_judgment"] == "C"
    assert imported.report["notes"] == {"gold_judgment C (invalid): labelled incorrect": 1}


def test_var_human_gold_and_gpt4o_column_as_a_recorded_judge(tmp_path: Path, jsonl: Callable[..., Path],
                                                             cli: Callable[..., tuple[int, str, str]]) -> None:
    data = jsonl(tmp_path / "VAR_test.jsonl", VAR_ROWS)
    imported = import_data(data)
    assert imported.format == "xverify"
    assert [r.label for r in imported.responses] == [True, False]
    assert [i.answer_type for i in imported.items] == ["choice", "text"]
    assert imported.responses[1].metadata["GPT_4o_judgment_result"] == "Correct"
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--judges", "column:GPT_4o_judgment_result",
                          "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    counts = results["overall"]["column:GPT_4o_judgment_result"]["counts"]
    assert (counts["tp"], counts["fp"]) == (1, 1)  # GPT-4o passed the wrong "positive"
