"""Layouts that pair a right and a wrong answer: JudgeBench and RewardMATH.

JudgeBench (ScalerLab/JudgeBench, ``data/dataset=judgebench,response_model=*.jsonl``; arXiv 2410.12784):
one JSONL row per pair with ``pair_id``, ``original_id``, ``source`` (mmlu-pro-law, livebench-math,
livecodebench, ...), ``question``, ``response_model``, ``response_A``, ``response_B`` and ``label``
("A>B" or "B>A"). Each pair becomes two responses, the preferred one labelled correct, both keeping
``pair_id`` so that pairwise accuracy can be computed. The file has no reference answers: a second
file joined with ``+`` gives them by ``original_id`` (an MMLU-Pro ``eval_results`` zip or any rows
with ``question_id`` + ``answer``, or ``original_id`` + ``reference``); without it the references are
empty and only reference-free judges score (rule judges abstain).

RewardMATH (kimsh0507/RewardMATH_official, ``dataset/benchmark/RewardMATH_direct.json``; arXiv
2410.01729): a JSON array, one object per solution: ``problem``, ``answer``, ``eval_solution`` (the
solution's steps, a list), ``solution_type`` ("chosen": correct, "rejected": incorrect),
``solution_reference`` (who wrote it), ``subject``, ``level``, ``problem_id``, ``id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.importers.fields import Collector, answer_type_of, optional_text, response_text, scalar, text
from rlvr_bench.judges.recorded import SOURCE_KEY

#: JudgeBench's label -> which response is the correct one
JUDGEBENCH_LABELS = {"A>B": "A", "B>A": "B"}
#: RewardMATH's solution types -> correctness
REWARDMATH_LABELS = {"chosen": True, "rejected": False}


def reference_keys(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, list[str]]:
    """id -> reference, from an MMLU-Pro file (``question_id``, ``answer``) or rows with ``original_id`` and
    ``reference`` (or ``answer``)."""
    keys: dict[str, list[str]] = {}
    for where, row in rows:
        ident = row.get("original_id", row.get("question_id"))
        answer = row.get("reference", row.get("answer"))
        if ident is None or answer is None:
            raise InputError(f"{where}: a key file needs 'question_id' (or 'original_id') and 'answer' (or "
                             f"'reference'), got {sorted(row)}")
        keys[scalar(ident, "question_id", where)] = [scalar(answer, "answer", where)]
    return keys


def _judgebench_answer_type(source: str, has_reference: bool) -> str:
    """MMLU-Pro questions are lettered choices; the rest (livebench math/reasoning, code) is text."""
    return "choice" if has_reference and source.startswith("mmlu-pro") else "text"


def add_judgebench_row(collector: Collector, row: Mapping[str, Any], where: str,
                       join: Mapping[str, list[str]] | None, source: str) -> None:
    """One JudgeBench pair: two responses, the preferred one correct, ``pair_id`` kept on both."""
    label = str(row.get("label", "")).strip()
    if label not in JUDGEBENCH_LABELS:
        raise InputError(f"{where}: field 'label': unknown value {row.get('label')!r} (expected A>B or B>A)")
    origin = optional_text(row, "source", where) or "judgebench"
    original_id = optional_text(row, "original_id", where)
    refs = (join or {}).get(original_id or "", [])
    if join is not None and not refs:
        collector.report.notes["pairs without a key in the joined file (no reference)"] += 1
    elif join is None:
        collector.report.notes["pairs without a reference (no key file joined)"] += 1
    item_id = collector.item(where, text(row, "question", where), refs, origin,
                             _judgebench_answer_type(origin, bool(refs)),
                             metadata={"format": "judgebench", "original_id": original_id},
                             allow_no_reference=True)
    pair_id = text(row, "pair_id", where)
    model = optional_text(row, "response_model", where) or source
    for side in ("A", "B"):
        collector.response(where, f"{pair_id}-{side}", item_id, response_text(row, f"response_{side}", where),
                           JUDGEBENCH_LABELS[label] == side, model, None,
                           {"pair_id": pair_id, "pair_side": side, "pair_label": label, SOURCE_KEY: where})


def add_rewardmath_row(collector: Collector, row: Mapping[str, Any], where: str,
                       join: Mapping[str, list[str]] | None, source: str) -> None:
    """One RewardMATH solution: its steps joined by newlines, chosen = correct, rejected = incorrect."""
    kind = str(row.get("solution_type", "")).strip().lower()
    if kind not in REWARDMATH_LABELS:
        raise InputError(f"{where}: field 'solution_type': unknown value {row.get('solution_type')!r} "
                         "(expected chosen or rejected)")
    steps = row.get("eval_solution")
    if isinstance(steps, list):
        solution = "\n".join(scalar(step, "eval_solution", where) for step in steps)
    else:
        solution = response_text(row, "eval_solution", where)
    problem_id = row.get("problem_id")
    item_id = collector.item(where, text(row, "problem", where), [text(row, "answer", where)], "math",
                             answer_type_of(row.get("answer_type"), where) if row.get("answer_type") else "expression",
                             None if problem_id is None else f"rewardmath-{scalar(problem_id, 'problem_id', where)}",
                             {"format": "rewardmath", "subject": row.get("subject"), "level": row.get("level")})
    ident = row.get("id")
    collector.response(where, None if ident is None else f"rewardmath-r{scalar(ident, 'id', where)}", item_id,
                       solution, REWARDMATH_LABELS[kind],
                       optional_text(row, "solution_reference", where) or source, kind, {SOURCE_KEY: where})
