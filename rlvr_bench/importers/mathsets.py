"""Sets of model outputs on math and exam questions: TinyV HardVerify-Math, MMLU-Pro ``eval_results``.

TinyV HardVerify-Math (uw-nsl/TinyV, ``benchmarks/HardVerify-Math.json``; arXiv 2505.14625): a JSON
array; per question ``id``, ``source``, ``question``, ``ground_truth``, ``fn_output`` (an equivalent
answer rule verifiers wrongly reject: Correct) and ``tn_output`` (a wrong answer: Incorrect).

MMLU-Pro ``eval_results`` (TIGER-AI-Lab/MMLU-Pro, ``eval_results/model_outputs_*.zip``): a zip holding
one JSON array; per question ``question_id``, ``question``, ``options`` (list), ``answer`` (the key
letter), ``answer_index``, ``cot_content``, ``category``, ``src``, the model's ``model_outputs`` and the
regex-extracted ``pred`` (null when none was found).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.importers.fields import Collector, optional_text, response_text, scalar, split_of, text
from rlvr_bench.judges.recorded import SOURCE_KEY

#: TinyV's two answers per question and their labels
TINYV_OUTPUTS = (("fn_output", True), ("tn_output", False))


def add_tinyv_row(collector: Collector, row: Mapping[str, Any], where: str, join: Mapping[str, list[str]] | None,
                  source: str) -> None:
    """One HardVerify-Math question: its ``fn_output`` (Correct) and ``tn_output`` (Incorrect)."""
    ident = row.get("id")
    item_id = collector.item(where, text(row, "question", where), [text(row, "ground_truth", where)], "math",
                             "expression", None if ident is None else f"tinyv-{scalar(ident, 'id', where)}",
                             {"format": "tinyv", "source": optional_text(row, "source", where)}, split_of(row))
    for column, label in TINYV_OUTPUTS:
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            collector.report.drop(f"{column} empty")
            continue
        collector.response(where, f"{item_id}-{column}", item_id, scalar(value, column, where), label, source,
                           column, {SOURCE_KEY: where})


def _lettered(question: str, options: Any, where: str) -> str:
    """The question with its options as "(A) ..." lines, as MMLU-Pro prompts show them."""
    if not isinstance(options, list) or not options:
        raise InputError(f"{where}: field 'options' must be a non-empty list")
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    lines = [f"({letters[i]}) {scalar(option, 'options', where)}" for i, option in enumerate(options[:26])]
    return question + "\n" + "\n".join(lines)


def _model_name(file_name: str) -> str:
    """The model of an eval_results file: "model_outputs_gemini-1.5-pro-002_5shots.zip" -> "gemini-1.5-pro-002"."""
    match = re.fullmatch(r"model_outputs_(.+?)(?:_\d+shots?)?(?:\.\w+)*", file_name)
    return match.group(1) if match else file_name


def add_mmlu_pro_row(collector: Collector, row: Mapping[str, Any], where: str,
                     join: Mapping[str, list[str]] | None, source: str) -> None:
    """One MMLU-Pro ``eval_results`` question: the model's output, labelled by MMLU-Pro's own regex
    extraction (``pred == answer``): an automatic label, flagged as such; no ``pred`` is dropped."""
    pred = row.get("pred")
    if pred is None or pred == "":
        collector.report.drop("pred null (MMLU-Pro's regex found no answer letter)")
        return
    answer = text(row, "answer", where)
    question_id = scalar(row.get("question_id"), "question_id", where)
    item_id = collector.item(where, _lettered(text(row, "question", where), row.get("options"), where), [answer],
                             optional_text(row, "category", where) or "general", "choice", f"mmlu-pro-{question_id}",
                             {"format": "mmlu-pro", "src": row.get("src")})
    collector.report.notes["labels are automatic (pred == answer), not human"] += 1
    collector.response(where, None, item_id, response_text(row, "model_outputs", where),
                       scalar(pred, "pred", where).strip() == answer.strip(), _model_name(source), None,
                       {"pred": pred, "label_source": "automatic: MMLU-Pro pred == answer", SOURCE_KEY: where})
