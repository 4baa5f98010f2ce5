"""Open-domain QA evaluation sets with human verdicts: EVOUNA and OpenQA-eval (NQ301).

EVOUNA (wangcunxiang/QA-Eval, ``EVOUNA/NQ.json``, ``TQ.json``; arXiv 2305.12421): a JSON array, one
object per question with ``question``, ``golden_answer`` (alternatives separated by ``/``),
``improper`` and, for each system s of fid, gpt35, chatgpt, gpt4, newbing, the answer ``answer_s``
and the human verdict ``judge_s`` (bool; null or "nan" where nobody judged). One response per system,
the system as its source.

OpenQA-eval (ehsk/OpenQA-eval, ``data/NQ301_human.tsv``; arXiv 2305.06984): a TSV row per (question,
system answer) with ``id``, ``Question``, ``Model answer``, ``Acceptable?`` (Yes/No) and annotator
columns. The TSV has no golds: they join by question text from a ``data/model_outputs/*.jsonl``
file (``question``, ``answer``: the list of acceptable answers), given as a second file:
``--data NQ301_human.tsv+NQ_FiD.jsonl``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.importers.fields import Collector, boolean, response_text, text
from rlvr_bench.judges.recorded import SOURCE_KEY
from rlvr_bench.records import reference_list

EVOUNA_SYSTEMS = ("fid", "gpt35", "chatgpt", "gpt4", "newbing")

#: a 4-digit year and a 2-digit one ("1979/80", a season) or a numeric date ("12/25/2019"): one answer
_KEEP_NUMERIC = re.compile(r"^(\d{4}/\d{2}|\d{1,2}/\d{1,2}(/\d{2,4})?)$")


def split_alternatives(golden: str) -> list[str]:
    """EVOUNA's ``golden_answer`` split at ``/`` into acceptable alternatives.

    A ``/`` separates alternatives ("Olivia/MFSK", "1939/1940", "16,801/16,801 students") except where
    it is part of the answer: between numbers of one or two digits (fractions "1/2", dates "9/11"), in
    a season "1979/80" or a date "12/25/2019", and inside one short token whose sides have at most 3
    characters (units "km/h", names "AC/DC"). Cost of the rule: short numeric alternatives such as
    "14/12" stay one answer.
    """
    parts: list[str] = []
    pieces = golden.split("/")
    current = pieces[0]
    for piece in pieces[1:]:
        if _slash_is_part_of_answer(current, piece):
            current = f"{current}/{piece}"
        else:
            parts.append(current)
            current = piece
    parts.append(current)
    cleaned = [part.strip().rstrip(",;").strip() for part in parts]
    return list(dict.fromkeys(part for part in cleaned if part))


def _slash_is_part_of_answer(left: str, right: str) -> bool:
    if not left.strip() or not right.strip() or left[-1].isspace() or right[0].isspace():
        return False
    before, after = left.split()[-1], right.split()[0]
    if before.isdigit() and after.isdigit() and len(before.split("/")[-1]) <= 2 and len(after) <= 2:
        return True
    if _KEEP_NUMERIC.match(f"{before}/{after}"):
        return True
    return len(right.split()) == 1 and len(before.split("/")[-1]) <= 3 and len(after) <= 3


def add_evouna_row(collector: Collector, row: Mapping[str, Any], where: str, join: Mapping[str, list[str]] | None,
                   source: str) -> None:
    """One EVOUNA question: one response per system that has an answer and a human verdict."""
    systems = [s for s in EVOUNA_SYSTEMS if f"answer_{s}" in row or f"judge_{s}" in row]
    golden = row.get("golden_answer")
    if not isinstance(golden, str) or not golden.strip():
        collector.report.drop("no golden_answer", len(systems))
        return
    question = text(row, "question", where)
    improper = bool(row.get("improper"))
    if improper:
        collector.report.notes["questions marked improper (kept)"] += 1
    item_id = collector.item(where, question, split_alternatives(golden), "open-qa", "text",
                             metadata={"format": "evouna", "golden_answer": golden, "improper": improper})
    for system in systems:
        answer, verdict = row.get(f"answer_{system}"), row.get(f"judge_{system}")
        if not isinstance(answer, str):
            collector.report.drop(f"answer_{system} missing or null")
        elif not isinstance(verdict, bool):
            collector.report.drop(f"judge_{system} (human verdict) null" if verdict is None
                                  else f"judge_{system} (human verdict) is {verdict!r}, not true/false")
        else:
            collector.response(where, None, item_id, answer, verdict, system,
                               metadata={"system": system, "source_file": source, SOURCE_KEY: where})


def openqa_golds(rows: Any) -> dict[str, list[str]]:
    """Question text -> acceptable answers, from an OpenQA-eval ``model_outputs`` JSONL."""
    golds: dict[str, list[str]] = {}
    for where, row in rows:
        if "question" not in row or "answer" not in row:
            raise InputError(f"{where}: an OpenQA-eval gold file needs 'question' and 'answer' fields "
                             f"(data/model_outputs/*.jsonl), got {sorted(row)}")
        golds.setdefault(_question_key(text(row, "question", where)), reference_list(row["answer"], where, "answer"))
    return golds


def _question_key(question: str) -> str:
    return " ".join(question.split()).lower()


def add_openqa_row(collector: Collector, row: Mapping[str, Any], where: str, join: Mapping[str, list[str]] | None,
                   source: str) -> None:
    """One NQ301 row: the answer, its majority verdict ``Acceptable?``, annotators kept as columns."""
    if join is None:
        raise InputError(f"{where}: an OpenQA-eval TSV carries no gold answers; give the model_outputs JSONL "
                         "too: --data NQ301_human.tsv+NQ_FiD.jsonl")
    question = text(row, "Question", where)
    golds = join.get(_question_key(question))
    if golds is None:
        collector.report.drop("question not in the gold file")
        return
    label = boolean(row.get("Acceptable?"), where, "Acceptable?")
    if label is None:
        collector.report.drop("Acceptable? empty")
        return
    item_id = collector.item(where, question, golds, "open-qa", "text",
                             metadata={"format": "openqa-eval", "id": row.get("id")})
    recorded = {k: v for k, v in row.items() if k.startswith("annotator") and v not in (None, "")}
    collector.response(where, None, item_id, response_text(row, "Model answer", where), label, "openqa-eval",
                       metadata={**recorded, SOURCE_KEY: where})
