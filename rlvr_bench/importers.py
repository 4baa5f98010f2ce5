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
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError, UserError
from rlvr_bench.judges.recorded import SOURCE_KEY
from rlvr_bench.records import (
    ANSWER_TYPES,
    LABEL_FALSE,
    LABEL_TRUE,
    Item,
    Response,
    iter_jsonl,
    open_text,
    reference_list,
)

#: the longest CSV field read (bytes); csv's own default is 128 KiB
MAX_CSV_FIELD = 64 * 2**20

#: VerifierBench's three-way labels; "Invalid" (truncated, off-task, no final answer)
#: is not a correct answer, so it is False for binary correctness (kept in metadata).
VERIFIERBENCH_LABELS = {"correct": True, "a": True, "incorrect": False, "b": False, "invalid": False, "c": False}

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
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.suffix.lower() == ".csv":
        yield from _iter_csv(path)
        return
    for line_no, obj in iter_jsonl(path):
        yield f"{path}:{line_no}", obj


def _iter_csv(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a CSV file with a header; ragged rows, bad quoting and invalid UTF-8 name their line."""
    # long answers (a JSONL row may hold any length) must not hit csv's 128 KiB default per field
    csv.field_size_limit(MAX_CSV_FIELD)
    with open_text(path, "CSV file") as handle:
        reader = csv.DictReader(handle)
        try:
            for row in reader:
                # the header is line 1; DictReader counts physical lines read so far
                where = f"{path}:{reader.line_num}"
                if None in row:
                    raise InputError(f"{where}: {len(reader.fieldnames or []) + len(row[None])} fields, but the header "
                                     f"has {len(reader.fieldnames or [])} (another delimiter, or an unquoted comma?)")
                yield where, {key: value for key, value in row.items() if value is not None}
        except UnicodeDecodeError:
            raise InputError(f"{path}:{reader.line_num + 1}: not valid UTF-8; save the file as UTF-8") from None
        except csv.Error as exc:
            raise InputError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None


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
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: missing field '{name}'")
    return _scalar(value, name, where)


def _scalar(value: Any, name: str, where: str) -> str:
    """A field that must be text (numbers are read as their text); anything else is an InputError."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: field '{name}' must be text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: field '{name}' must be text, got {value}")
    return str(value)


def _response_text(row: Mapping[str, Any], name: str, where: str) -> str:
    """The response: text, possibly empty (a policy may answer nothing), but present and not null."""
    if name not in row:
        raise InputError(f"{where}: missing field '{name}'")
    if row[name] is None:
        raise InputError(f"{where}: field '{name}' is null (an empty answer is \"\")")
    return _scalar(row[name], name, where)


def _optional_text(row: Mapping[str, Any], name: str, where: str) -> str | None:
    value = row.get(name)
    return None if value is None or value == "" else _scalar(value, name, where)


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
    if key in LABEL_TRUE:
        return True
    if key in LABEL_FALSE:
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
             item_id: str | None, metadata: Mapping[str, Any], aliases: tuple[str, ...] = ()) -> str:
        key = (question, reference)
        if item_id is None:
            item_id = self.by_content.get(key) or f"item-{len(self.items) + 1:05d}"
        existing = self.items.get(item_id)
        if existing is not None:
            if (existing.question, existing.reference) != key:
                raise InputError(f"{where}: field 'id': id {item_id!r} already used for another question")
            return item_id
        self.items[item_id] = Item(item_id, domain, question, reference, answer_type, "test", dict(metadata), aliases)
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


#: the columns each format reads; every other column is kept in the response's metadata, where
#: ``column:NAME`` judges find recorded verdicts (rlvr_bench.judges.recorded)
_COMMON = {"id", "item_id", "domain", "subject", "answer_type", "variant", "aliases", "label"}
_INTERPRETED: dict[str, set[str]] = {
    "verifierbench": {*_COMMON, "question", "gold_answer", "llm_response", "gold_judgment"},
    "verifybench": {*_COMMON, "question", "answer", "completion", "gold_correct"},
    "xverify": {*_COMMON, "question", "llm_output", "correct_answer", "judgment_result"},
    "rlvr-chat": {*_COMMON, "query"},
    "triples": {*_COMMON, "question", "reference", "response"},
}

#: the separator of several acceptable references in one text cell (a CSV ``aliases`` column)
ALIAS_SEPARATOR = "|"


def _references(row: Mapping[str, Any], name: str, where: str) -> list[str]:
    """A reference cell: text, a number, or (JSON) a list of acceptable references."""
    value = row.get(name)
    if isinstance(value, list):
        return reference_list(value, where, name)
    return [_text(row, name, where)]


def _aliases(row: Mapping[str, Any], where: str) -> list[str]:
    """The optional ``aliases`` field: a list, or text with references separated by ``|``."""
    value = row.get("aliases")
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return reference_list(value, where, "aliases")
    return [part.strip() for part in _scalar(value, "aliases", where).split(ALIAS_SEPARATOR) if part.strip()]


def _add_row(collector: _Collector, fmt: str, row: Mapping[str, Any], where: str, source: str) -> None:
    aliases: tuple[str, ...] = ()
    domain = _optional_text(row, "domain", where) or _optional_text(row, "subject", where) or "general"
    ident = _optional_text(row, "id", where)
    if fmt == "rlvr-chat":
        collector.item(where, _chat_question(row, where), _text(row, "label", where), domain, _answer_type(row),
                       ident, {"format": fmt})
        return
    if fmt == "verifierbench":
        question, reference, text = (_text(row, "question", where), _text(row, "gold_answer", where),
                                     _response_text(row, "llm_response", where))
        label = _bool(row.get("gold_judgment"), where, "gold_judgment", VERIFIERBENCH_LABELS)
        meta = {"gold_judgment": row.get("gold_judgment")}
    elif fmt == "verifybench":
        question, reference, text = (_text(row, "question", where), _text(row, "answer", where),
                                     _response_text(row, "completion", where))
        label = _bool(row.get("gold_correct"), where, "gold_correct")
        meta = {}
    elif fmt == "xverify":
        question, reference, text = (_text(row, "question", where), _text(row, "correct_answer", where),
                                     _response_text(row, "llm_output", where))
        label = _bool(row.get("judgment_result", row.get("label")), where, "label")
        meta = {}
    else:
        question, text = _text(row, "question", where), _response_text(row, "response", where)
        reference, *more = _references(row, "reference", where)
        label = _bool(row.get("label"), where, "label")
        meta = {}
        aliases = (*more, *_aliases(row, where))
    item_id = collector.item(where, question, reference, domain, _answer_type(row),
                             _optional_text(row, "item_id", where), {"format": fmt},
                             tuple(dict.fromkeys(a for a in aliases if a != reference)))
    recorded = {key: value for key, value in row.items() if key not in _INTERPRETED[fmt] and value is not None}
    collector.response(where, ident, item_id, text, label, source, _optional_text(row, "variant", where),
                       {**recorded, **meta, SOURCE_KEY: where})


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
