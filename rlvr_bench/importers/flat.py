"""One row = one (question, reference, response) layouts: rlvr-bench's flat triples, CompassVerifier's
VerifierBench, VerifyBench / VerifyBench-Hard, xVerify's VAR, and RLVR chat prompts (items only).

Every column a layout does not interpret is kept in the response's metadata, where ``column:NAME``
judges find recorded verdicts (rlvr_bench.judges.recorded).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.importers.fields import (
    Collector,
    aliases,
    answer_type_of,
    boolean,
    optional_text,
    references,
    response_text,
    split_of,
    text,
)
from rlvr_bench.judges.recorded import SOURCE_KEY

#: VerifierBench's three-way labels; "Invalid" (C: truncated, off-task, no final answer) is not a
#: correct answer, so it is False for binary correctness, and counted apart in the import report.
VERIFIERBENCH_LABELS = {"correct": True, "a": True, "incorrect": False, "b": False, "invalid": False, "c": False}

_COMMON = {"id", "item_id", "domain", "subject", "answer_type", "variant", "aliases", "label", "split"}
#: the columns each layout reads; the rest are recorded columns
INTERPRETED: dict[str, set[str]] = {
    "verifierbench": {*_COMMON, "question", "gold_answer", "llm_response", "gold_judgment"},
    "verifybench": {*_COMMON, "question", "answer", "completion", "gold_correct"},
    "xverify": {*_COMMON, "question", "llm_output", "correct_answer", "judgment_result", "human_judgment_result",
                "key_answer_type"},
    "triples": {*_COMMON, "question", "reference", "response"},
}


def _domain(row: Mapping[str, Any], where: str) -> str:
    return optional_text(row, "domain", where) or optional_text(row, "subject", where) or "general"


def add_chat_row(collector: Collector, row: Mapping[str, Any], where: str, join: Mapping[str, list[str]] | None,
                 source: str) -> None:
    """Multi-subject-RLVR / Math-RLVR: ``query`` = chat messages, ``label`` = the reference: an item."""
    collector.item(where, _chat_question(row, where), [text(row, "label", where)], _domain(row, where),
                   answer_type_of(row.get("answer_type"), where), optional_text(row, "id", where),
                   {"format": "rlvr-chat"}, split_of(row))


def _chat_question(row: Mapping[str, Any], where: str) -> str:
    query = row.get("query")
    if isinstance(query, str):
        try:
            query = json.loads(query)
        except json.JSONDecodeError:
            return query
    if not isinstance(query, list) or not query:
        raise InputError(f"{where}: field 'query' must be a list of chat messages")
    users = [m for m in query if isinstance(m, Mapping) and m.get("role") == "user"]
    if not users or not isinstance(users[-1].get("content"), str):
        raise InputError(f"{where}: field 'query' has no user message with text content")
    return str(users[-1]["content"])


def _add(collector: Collector, fmt: str, row: Mapping[str, Any], where: str, source: str, refs: list[str],
         response: str, label: bool | None, meta: Mapping[str, Any] | None = None,
         type_field: str = "answer_type") -> None:
    """The item (refs + the ``aliases`` column) and the response, other columns recorded."""
    item_id = collector.item(where, text(row, "question", where), [*refs, *aliases(row, where)], _domain(row, where),
                             answer_type_of(row.get(type_field), where, type_field),
                             optional_text(row, "item_id", where),
                             {"format": fmt, **({"answer_subtype": row["answer_subtype"]}
                                                if row.get("answer_subtype") else {})}, split_of(row))
    recorded = {key: value for key, value in row.items() if key not in INTERPRETED[fmt] and value is not None}
    collector.response(where, optional_text(row, "id", where), item_id, response, label, source,
                       optional_text(row, "variant", where), {**recorded, **(meta or {}), SOURCE_KEY: where})


def add_verifierbench_row(collector: Collector, row: Mapping[str, Any], where: str,
                          join: Mapping[str, list[str]] | None, source: str) -> None:
    """CompassVerifier's VerifierBench: ``gold_judgment`` A/B/C (C = invalid, counted apart)."""
    judgment = row.get("gold_judgment")
    label = boolean(judgment, where, "gold_judgment", VERIFIERBENCH_LABELS)
    if str(judgment).strip().lower() in ("c", "invalid"):
        collector.report.notes["gold_judgment C (invalid): labelled incorrect"] += 1
    _add(collector, "verifierbench", row, where, source, references(row, "gold_answer", where),
         response_text(row, "llm_response", where), label, {"gold_judgment": judgment})


def add_verifybench_row(collector: Collector, row: Mapping[str, Any], where: str,
                        join: Mapping[str, list[str]] | None, source: str) -> None:
    """VerifyBench / VerifyBench-Hard: ``answer``, ``completion``, ``gold_correct``, ``answer_type``."""
    _add(collector, "verifybench", row, where, source, references(row, "answer", where),
         response_text(row, "completion", where), boolean(row.get("gold_correct"), where, "gold_correct"))


def add_xverify_row(collector: Collector, row: Mapping[str, Any], where: str,
                    join: Mapping[str, list[str]] | None, source: str) -> None:
    """xVerify / VAR: ``human_judgment_result`` is the gold; GPT-4o judgment columns stay recorded."""
    name = next((n for n in ("human_judgment_result", "judgment_result", "label") if row.get(n) not in (None, "")),
                "label")
    _add(collector, "xverify", row, where, source, references(row, "correct_answer", where),
         response_text(row, "llm_output", where), boolean(row.get(name), where, name),
         type_field="key_answer_type" if row.get("key_answer_type") else "answer_type")


def add_triples_row(collector: Collector, row: Mapping[str, Any], where: str,
                    join: Mapping[str, list[str]] | None, source: str) -> None:
    """rlvr-bench's flat layout: question, reference (text or list), response, [label, aliases, ...]."""
    _add(collector, "triples", row, where, source, references(row, "reference", where),
         response_text(row, "response", where), boolean(row.get("label"), where, "label"))
