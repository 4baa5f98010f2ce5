"""What every layout's importer shares: field readers that name file:line and field, answer-type
mapping, the collector of items and responses, and the report of rows read and dropped."""

from __future__ import annotations

import ast
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rlvr_bench.errors import InputError
from rlvr_bench.records import ANSWER_TYPES, LABEL_FALSE, LABEL_TRUE, SPLITS, Item, Response, reference_list

#: the separator of several acceptable references in one text cell (a CSV ``aliases`` column)
ALIAS_SEPARATOR = "|"

#: answer types the field's data sets write, mapped to the project's (:data:`ANSWER_TYPES`), so that
#: ``auto`` routes them: VerifierBench/CompassVerifier (``numeric``, ``multiple_choice``, ``term``,
#: ``short_text``, ``formula``, ``sequence``...), VerifyBench (``numerical``, ``expression``,
#: ``multiple_choice``, ``string``), xVerify (``alphabet_option``, ``math``, ``short_text``...)
ANSWER_TYPE_ALIASES: dict[str, str] = {
    "numeric": "number", "numerical": "number", "integer": "number", "float": "number", "numbers": "number",
    "multiple_choice": "choice", "multiple-choice": "choice", "multi-choice": "choice", "multi_choice": "choice",
    "multiplechoice": "choice", "mcq": "choice",
    "alphabet_option": "choice", "option": "choice", "multiple choice": "choice", "single_choice": "choice",
    "term": "text", "short_text": "text", "string": "text", "long_text": "text", "free_form": "text",
    "categorical_label": "text", "text_option": "text", "open": "text",
    "formula": "expression", "math": "expression", "math_expression": "expression", "algebraic": "expression",
    "equation": "expression", "interval": "expression", "latex": "expression",
    "sequence": "list", "multi_answer": "list", "multiple_answers": "list",
    "bool": "boolean", "yes_no": "boolean", "true_false": "boolean", "judgment": "boolean",
    "unit": "quantity", "physical_quantity": "quantity", "quantity_with_unit": "quantity",
}


def answer_type_of(value: Any, where: str, name: str = "answer_type") -> str:
    """The project's answer type for a data set's own (``numeric`` -> number); an unknown one is an
    InputError naming the known ones; absent -> ``text``."""
    if value is None or value == "":
        return "text"
    key = str(value).strip().lower()
    if key in ANSWER_TYPES:
        return key
    if key in ANSWER_TYPE_ALIASES:
        return ANSWER_TYPE_ALIASES[key]
    known = ", ".join([*ANSWER_TYPES, *ANSWER_TYPE_ALIASES])
    raise InputError(f"{where}: field '{name}': unknown answer type {value!r} (known: {known})")


def text(row: Mapping[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"{where}: missing field '{name}'")
    return scalar(value, name, where)


def scalar(value: Any, name: str, where: str) -> str:
    """A field that must be text (numbers are read as their text); anything else is an InputError."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where}: field '{name}' must be text, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{where}: field '{name}' must be text, got {value}")
    return str(value)


def response_text(row: Mapping[str, Any], name: str, where: str) -> str:
    """The response: text, possibly empty (a policy may answer nothing), but present and not null."""
    if name not in row:
        raise InputError(f"{where}: missing field '{name}'")
    if row[name] is None:
        raise InputError(f"{where}: field '{name}' is null (an empty answer is \"\")")
    return scalar(row[name], name, where)


def optional_text(row: Mapping[str, Any], name: str, where: str) -> str | None:
    value = row.get(name)
    return None if value is None or value == "" else scalar(value, name, where)


def boolean(value: Any, where: str, name: str, mapping: Mapping[str, bool] | None = None) -> bool | None:
    """A correctness label: bool, or a word of the label vocabulary (or ``mapping``'s); empty is None."""
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


def references(row: Mapping[str, Any], name: str, where: str) -> list[str]:
    """A reference cell: text, a number, a (JSON) list of acceptable references, or such a list written
    as text (VerifierBench writes ``"['C']"``; CSV cells can only hold text)."""
    value = row.get(name)
    if isinstance(value, str) and value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            parsed = None
        if isinstance(parsed, list) and parsed and all(isinstance(v, (str, int, float)) for v in parsed):
            value = parsed
    if isinstance(value, list):
        return reference_list(value, where, name)
    return [text(row, name, where)]


def aliases(row: Mapping[str, Any], where: str) -> list[str]:
    """The optional ``aliases`` field: a list, or text with references separated by ``|``."""
    value = row.get("aliases")
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return reference_list(value, where, "aliases")
    return [part.strip() for part in scalar(value, "aliases", where).split(ALIAS_SEPARATOR) if part.strip()]


def split_of(row: Mapping[str, Any]) -> str:
    """The item's split from a ``split`` column when it names one of :data:`SPLITS` (TinyV writes
    "benchmarks": not a split of ours), else "test"."""
    value = row.get("split")
    return value if isinstance(value, str) and value in SPLITS else "test"


@dataclass
class ImportReport:
    """What an importer read and what it left out, per reason (printed, and kept in config.json)."""

    rows_read: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    #: counts kept apart from the labels (VerifierBench's Invalid, MMLU-Pro's unparsed predictions)
    notes: Counter[str] = field(default_factory=Counter)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def to_json(self, n_items: int, n_responses: int) -> dict[str, Any]:
        return {"rows_read": self.rows_read, "items": n_items, "responses": n_responses,
                "dropped": dict(self.dropped.most_common()), "notes": dict(self.notes.most_common())}


class Collector:
    """Accumulates items (deduplicated by id or by question + references) and responses."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.by_content: dict[tuple[str, tuple[str, ...]], str] = {}
        self.responses: list[Response] = []
        self.response_ids: set[str] = set()
        self.report = ImportReport()

    def item(self, where: str, question: str, refs: list[str] | tuple[str, ...], domain: str = "general",
             answer_type: str = "text", item_id: str | None = None, metadata: Mapping[str, Any] | None = None,
             split: str = "test", allow_no_reference: bool = False) -> str:
        """The id of the item with this question and references (created on first sight). With
        ``allow_no_reference`` an item may have none (reference ""): rule judges abstain on it."""
        refs = tuple(dict.fromkeys(r for r in refs if r.strip()))
        if not refs:
            if not allow_no_reference:
                raise InputError(f"{where}: no reference answer")
            refs = ("",)
        key = (question, refs)
        if item_id is None:
            item_id = self.by_content.get(key) or f"item-{len(self.items) + 1:05d}"
        existing = self.items.get(item_id)
        if existing is not None:
            if (existing.question, existing.references) != key:
                raise InputError(f"{where}: field 'id': id {item_id!r} already used for another question")
            return item_id
        self.items[item_id] = Item(item_id, domain, question, refs[0], answer_type, split, dict(metadata or {}),
                                   refs[1:])
        self.by_content[key] = item_id
        return item_id

    def response(self, where: str, response_id: str | None, item_id: str, response: str, label: bool | None,
                 source: str, variant: str | None = None, metadata: Mapping[str, Any] | None = None) -> None:
        rid = response_id or f"{item_id}-r{len(self.responses) + 1}"
        if rid in self.response_ids:
            raise InputError(f"{where}: field 'id': duplicate response id {rid!r}")
        self.response_ids.add(rid)
        self.responses.append(Response(rid, item_id, response, source, label, variant, dict(metadata or {})))
