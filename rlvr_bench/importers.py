"""Import data users already have: `--data FILE` on every command that takes a task.

Recognised row shapes (detected from the columns of the first row):

- ``triples`` (rlvr-bench flat): question, reference, response, [label, domain, id,
  item_id, answer_type, variant] -> items + responses
- ``verifierbench`` (VerifierBench / CompassVerifier): question, gold_answer,
  llm_response, gold_judgment, [domain, answer_type] -> items + labelled responses
- ``verifybench`` (VerifyBench): question, answer, completion, gold_correct,
  [answer_type] -> items + labelled responses
- ``xverify`` (xVerify): question, llm_output, correct_answer, [judgment_result or
  label] -> items + responses
- ``rlvr-chat`` (Multi-subject-RLVR / Math-RLVR): query = [system, user] messages,
  label = reference -> items only

Files: ``.jsonl`` / ``.json`` (one object per line), ``.csv`` (header row), a
local Hugging Face ``datasets`` folder (``save_to_disk``), or ``hf:ORG/NAME[:SPLIT]``
for a hub data set (only where the network allows). A file's own ids are kept as
item ids; rows that share a question (and reference) share one item.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError, UserError
from rlvr_bench.records import ANSWER_TYPES, Item, Response, iter_jsonl

#: VerifierBench's three-way labels; "Invalid" (truncated, off-task, no final answer)
#: is not a correct answer, so it is False for binary correctness (kept in metadata).
VERIFIERBENCH_LABELS = {"correct": True, "a": True, "incorrect": False, "b": False, "invalid": False, "c": False}
_TRUE = {"true", "1", "yes", "correct", "y", "t"}
_FALSE = {"false", "0", "no", "incorrect", "n", "f", "invalid"}

FORMATS: dict[str, tuple[str, ...]] = {
    "verifierbench": ("question", "gold_answer", "llm_response", "gold_judgment"),
    "verifybench": ("question", "answer", "completion", "gold_correct"),
    "xverify": ("question", "llm_output", "correct_answer"),
    "rlvr-chat": ("query", "label"),
    "triples": ("question", "reference", "response"),
}


def detect_format(columns: set[str]) -> str | None:
    for name, required in FORMATS.items():
        if set(required) <= columns:
            return name
    return None


def iter_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location "file:line", row) for every row of a JSONL, CSV or datasets source."""
    text = str(path)
    if text.startswith("hf:"):
        yield from _iter_hf(text[3:])
        return
    if path.is_dir():
        yield from _iter_datasets_folder(path)
        return
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                # the header is line 1; DictReader counts physical lines read so far
                yield f"{path}:{reader.line_num}", dict(row)
        return
    for line_no, obj in iter_jsonl(path):
        yield f"{path}:{line_no}", obj


def _iter_datasets_folder(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"{path}: not a saved `datasets` folder ({exc})") from None
    if isinstance(loaded, datasets.DatasetDict):
        split = "test" if "test" in loaded else next(iter(loaded))
        loaded = loaded[split]
    for index, row in enumerate(loaded):
        yield f"{path}:row {index}", dict(row)


def _iter_hf(spec: str) -> Iterator[tuple[str, dict[str, Any]]]:
    import datasets

    name, _, split = spec.partition(":")
    try:
        loaded = datasets.load_dataset(name, split=split or "train")
    except Exception as exc:
        raise UserError(f"hf:{spec}: cannot load data set ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    for index, row in enumerate(loaded):
        yield f"hf:{spec}:row {index}", dict(row)


def _text(row: Mapping[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and name != "response"):
        raise InputError(f"{where}: missing field '{name}'")
    if isinstance(value, (list, dict)):
        raise InputError(f"{where}: field '{name}' must be text, got {type(value).__name__}")
    return str(value)


def _bool(value: Any, where: str, name: str, mapping: Mapping[str, bool] | None = None) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    key = str(value).strip().lower()
    if mapping is not None:
        if key in mapping:
            return mapping[key]
        raise InputError(f"{where}: field '{name}': unknown label value {value!r} (expected one of "
                         f"{', '.join(sorted({k.capitalize() for k in mapping if len(k) > 1}))})")
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise InputError(f"{where}: field '{name}': unknown label value {value!r} (expected true/false)")


def _answer_type(row: Mapping[str, Any]) -> str:
    value = str(row.get("answer_type") or "text").lower()
    return value if value in ANSWER_TYPES else "text"


class _Collector:
    """Accumulates items (deduplicated by id or by question + reference) and responses."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.by_content: dict[tuple[str, str], str] = {}
        self.responses: list[Response] = []
        self.response_ids: set[str] = set()

    def item(self, where: str, question: str, reference: str, domain: str, answer_type: str,
             item_id: str | None, metadata: Mapping[str, Any]) -> str:
        key = (question, reference)
        if item_id is None:
            item_id = self.by_content.get(key) or f"item-{len(self.items) + 1:05d}"
        existing = self.items.get(item_id)
        if existing is not None:
            if (existing.question, existing.reference) != key:
                raise InputError(f"{where}: field 'id': id {item_id!r} already used for another question")
            return item_id
        self.items[item_id] = Item(item_id, domain, question, reference, answer_type, "test", dict(metadata))
        self.by_content[key] = item_id
        return item_id

    def response(self, where: str, response_id: str | None, item_id: str, text: str, label: bool | None,
                 source: str, variant: str | None = None, metadata: Mapping[str, Any] | None = None) -> None:
        rid = response_id or f"{item_id}-r{len(self.responses) + 1}"
        if rid in self.response_ids:
            raise InputError(f"{where}: field 'id': duplicate response id {rid!r}")
        self.response_ids.add(rid)
        self.responses.append(Response(rid, item_id, text, source, label, variant, dict(metadata or {})))


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


def _add_row(collector: _Collector, fmt: str, row: Mapping[str, Any], where: str, source: str) -> None:
    domain = str(row.get("domain") or row.get("subject") or "general")
    ident = row.get("id")
    if fmt == "rlvr-chat":
        collector.item(where, _chat_question(row, where), _text(row, "label", where), domain, _answer_type(row),
                       str(ident) if ident is not None else None, {"format": fmt})
        return
    if fmt == "verifierbench":
        question, reference, text = (_text(row, "question", where), _text(row, "gold_answer", where),
                                     str(row.get("llm_response") or ""))
        label = _bool(row.get("gold_judgment"), where, "gold_judgment", VERIFIERBENCH_LABELS)
        meta = {"gold_judgment": row.get("gold_judgment")}
    elif fmt == "verifybench":
        question, reference, text = (_text(row, "question", where), _text(row, "answer", where),
                                     str(row.get("completion") or ""))
        label = _bool(row.get("gold_correct"), where, "gold_correct")
        meta = {}
    elif fmt == "xverify":
        question, reference, text = (_text(row, "question", where), _text(row, "correct_answer", where),
                                     str(row.get("llm_output") or ""))
        label = _bool(row.get("judgment_result", row.get("label")), where, "label")
        meta = {}
    else:
        question, reference, text = (_text(row, "question", where), _text(row, "reference", where),
                                     str(row.get("response") or ""))
        label = _bool(row.get("label"), where, "label")
        meta = {}
    item_ref = row.get("item_id")
    item_id = collector.item(where, question, reference, domain, _answer_type(row),
                             str(item_ref) if item_ref is not None else None, {"format": fmt})
    variant = row.get("variant")
    collector.response(where, str(ident) if ident is not None else None, item_id, text, label, source,
                       str(variant) if variant else None, meta)


def import_file(path: Path) -> tuple[list[Item], list[Response], str]:
    """Items, responses and a description of the detected format for one data source."""
    collector = _Collector()
    fmt: str | None = None
    for where, row in iter_rows(path):
        if fmt is None:
            fmt = detect_format(set(row))
            if fmt is None:
                expected = "; ".join(f"{name}: {', '.join(cols)}" for name, cols in FORMATS.items())
                raise InputError(f"{where}: unrecognised columns {sorted(row)} (expected one of: {expected})")
        missing = [c for c in FORMATS[fmt] if c not in row]
        if missing:
            raise InputError(f"{where}: missing field '{missing[0]}' (format {fmt})")
        _add_row(collector, fmt, row, where, source=path.name if not str(path).startswith("hf:") else str(path))
    if fmt is None:
        raise InputError(f"{path}: no rows")
    return list(collector.items.values()), collector.responses, fmt
