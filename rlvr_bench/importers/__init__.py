"""Import data users already have: ``--data FILE`` on every command that takes a task.

The layout is chosen from the first row's columns (``--format NAME`` when a file fits several, or
to insist on one); :data:`LAYOUTS` lists them, each with the columns that identify it. Files:
``.jsonl``, ``.json`` (a JSON array, or one object per line), ``.csv``, ``.tsv``, ``.zip`` (its
JSON/JSONL members), a saved Hugging Face ``datasets`` folder, or ``hf:ORG/NAME[:SPLIT]`` for a hub
data set. Two files joined with ``+`` (``A.tsv+B.jsonl``) read the second as the first's golds:
OpenQA-eval's human TSV with its ``model_outputs`` JSONL, or JudgeBench with a file of keys by
``original_id``. Rows that share a question and references share one item. What an importer drops is
counted per reason in :class:`ImportReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import InputError, UserError
from rlvr_bench.importers import flat, mathsets, openqa, pairwise
from rlvr_bench.importers.fields import ALIAS_SEPARATOR, ANSWER_TYPE_ALIASES, Collector, ImportReport
from rlvr_bench.importers.flat import VERIFIERBENCH_LABELS
from rlvr_bench.importers.sources import MAX_CSV_FIELD, iter_rows
from rlvr_bench.records import Item, Response

__all__ = ["ALIAS_SEPARATOR", "ANSWER_TYPE_ALIASES", "FORMATS", "LAYOUTS", "MAX_CSV_FIELD", "VERIFIERBENCH_LABELS",
           "ImportReport", "Imported", "Layout", "detect_format", "import_data", "import_file", "import_summary",
           "iter_rows"]

RowAdder = Callable[[Collector, Mapping[str, Any], str, "Mapping[str, list[str]] | None", str], None]


@dataclass(frozen=True)
class Layout:
    """A published file layout: the columns that identify it and how one row becomes items/responses."""

    name: str
    #: columns every row must have (detection: the first layout whose columns the first row has)
    required: tuple[str, ...]
    add_row: RowAdder
    #: who publishes it, for --help and errors
    description: str
    #: reads the ``+``-joined second file into a join table (None: the layout takes no second file)
    read_join: Callable[[Any], dict[str, list[str]]] | None = None


#: most specific first: detection takes the first layout whose required columns a row has
LAYOUTS: tuple[Layout, ...] = (
    Layout("evouna", ("question", "golden_answer"), openqa.add_evouna_row,
           "EVOUNA (QA-Eval NQ.json/TQ.json): answer_<system>/judge_<system> per question"),
    Layout("openqa-eval", ("Question", "Model answer", "Acceptable?"), openqa.add_openqa_row,
           "OpenQA-eval human TSV (NQ301_human.tsv) + its model_outputs JSONL for golds", openqa.openqa_golds),
    Layout("tinyv", ("question", "ground_truth", "fn_output", "tn_output"), mathsets.add_tinyv_row,
           "TinyV HardVerify-Math: fn_output Correct, tn_output Incorrect"),
    Layout("judgebench", ("pair_id", "question", "response_A", "response_B", "label"), pairwise.add_judgebench_row,
           "JudgeBench pairs (label A>B): two responses each; + a key file gives references by original_id",
           pairwise.reference_keys),
    Layout("rewardmath", ("problem", "answer", "eval_solution", "solution_type"), pairwise.add_rewardmath_row,
           "RewardMATH_direct.json: chosen (correct) vs rejected solutions"),
    Layout("mmlu-pro", ("question_id", "question", "options", "answer", "pred", "model_outputs"),
           mathsets.add_mmlu_pro_row, "MMLU-Pro eval_results zip: key vs the extracted pred (automatic labels)"),
    Layout("verifierbench", ("question", "gold_answer", "llm_response", "gold_judgment"),
           flat.add_verifierbench_row, "CompassVerifier VerifierBench: gold_judgment A/B/C"),
    Layout("verifybench", ("question", "answer", "completion", "gold_correct"), flat.add_verifybench_row,
           "VerifyBench / VerifyBench-Hard: gold_correct, answer_type"),
    Layout("xverify", ("question", "llm_output", "correct_answer"), flat.add_xverify_row,
           "xVerify VAR: human_judgment_result; GPT-4o judgment columns recorded"),
    Layout("rlvr-chat", ("query", "label"), flat.add_chat_row, "Multi-subject-RLVR / Math-RLVR prompts (items only)"),
    Layout("triples", ("question", "reference", "response"), flat.add_triples_row,
           "rlvr-bench flat triples: question, reference, response, [label]"),
)
LAYOUT_BY_NAME = {layout.name: layout for layout in LAYOUTS}
#: layout name -> identifying columns (kept for callers of the single-file importer)
FORMATS: dict[str, tuple[str, ...]] = {layout.name: layout.required for layout in LAYOUTS}


def _evouna_shaped(columns: set[str]) -> bool:
    return any(c.startswith("answer_") for c in columns) and any(c.startswith("judge_") for c in columns)


def detect_format(columns: set[str]) -> str | None:
    """The first layout whose identifying columns ``columns`` holds; None when none fits."""
    for layout in LAYOUTS:
        if set(layout.required) <= columns and (layout.name != "evouna" or _evouna_shaped(columns)):
            return layout.name
    return None


def known_layouts() -> str:
    return "; ".join(f"{layout.name} ({', '.join(layout.required)})" for layout in LAYOUTS)


@dataclass(frozen=True)
class Imported:
    """What one ``--data`` source gave: items, responses, the layout's name, and the import report."""

    items: list[Item]
    responses: list[Response]
    format: str
    report: dict[str, Any]


def split_data_spec(path: Path) -> tuple[Path, Path | None]:
    """(main file, joined gold file) of ``A+B`` (when ``A+B`` itself is not a file), else (path, None)."""
    text = str(path)
    if "+" not in text or path.exists() or text.startswith("hf:"):
        return path, None
    main, _, joined = text.rpartition("+")
    return Path(main), Path(joined)


def import_data(path: Path, data_format: str | None = None, split: str | None = None) -> Imported:
    """Items, responses, layout and report for one data source (see the module doc)."""
    if data_format is not None and data_format not in LAYOUT_BY_NAME:
        raise UserError(f"unknown --format {data_format!r} (known: {', '.join(LAYOUT_BY_NAME)})")
    main, joined = split_data_spec(path)
    collector = Collector()
    layout: Layout | None = LAYOUT_BY_NAME.get(data_format or "")
    join: dict[str, list[str]] | None = None
    source = main.name if not str(main).startswith("hf:") else str(main)
    for where, row in iter_rows(main, split):
        if collector.report.rows_read == 0:
            layout = layout or _detect(row, where)
            join = _read_join(layout, joined)
        assert layout is not None
        missing = [c for c in layout.required if c not in row]
        if missing:
            raise InputError(f"{where}: missing field '{missing[0]}' (format {layout.name})")
        collector.report.rows_read += 1
        layout.add_row(collector, row, where, join, source)
    if layout is None:
        raise InputError(f"{main}: no rows")
    items, responses = _in_split(list(collector.items.values()), collector.responses, split, main)
    return Imported(items, responses, layout.name, collector.report.to_json(len(items), len(responses)))


def _detect(row: Mapping[str, Any], where: str) -> Layout:
    name = detect_format(set(row))
    if name is None:
        raise InputError(f"{where}: unrecognised columns {sorted(row)}: no known layout fits "
                         f"(known: {known_layouts()}; or choose one with --format NAME)")
    return LAYOUT_BY_NAME[name]


def _read_join(layout: Layout, joined: Path | None) -> dict[str, list[str]] | None:
    if joined is None:
        return None
    if layout.read_join is None:
        raise UserError(f"{joined}: the {layout.name} layout takes no second file (A+B joins golds only for "
                        f"{', '.join(x.name for x in LAYOUTS if x.read_join is not None)})")
    return layout.read_join(iter_rows(joined))


def _in_split(items: list[Item], responses: list[Response], split: str | None, path: Path
              ) -> tuple[list[Item], list[Response]]:
    """Only the items of ``split`` (and their responses); a split that keeps nothing is an error."""
    if split is None or str(path).startswith("hf:"):
        return items, responses
    kept = [item for item in items if item.split == split]
    if not kept:
        splits = sorted({item.split for item in items})
        raise UserError(f"{path}: no items in split {split!r} (the file's items are in: {', '.join(splits)}; "
                        "items without a 'split' column are 'test')")
    keep = {item.id for item in kept}
    return kept, [r for r in responses if r.item_id in keep]


def import_file(path: Path, data_format: str | None = None, split: str | None = None
                ) -> tuple[list[Item], list[Response], str]:
    """Items, responses and the layout name of one data source (:func:`import_data` without the report)."""
    imported = import_data(path, data_format, split)
    return imported.items, imported.responses, imported.format


def import_summary(source: Mapping[str, Any]) -> str | None:
    """One line for the user about what ``--data`` gave and what was dropped (None for a task)."""
    report = source.get("import")
    if not report:
        return None
    dropped = sum(report["dropped"].values())
    line = (f"read {source['data']} as {source['format']}: {report['rows_read']} rows -> {report['items']} items, "
            f"{report['responses']} responses; dropped {dropped}")
    if dropped:
        line += " (" + ", ".join(f"{reason}: {n}" for reason, n in report["dropped"].items()) + ")"
    if report["notes"]:
        line += "; " + ", ".join(f"{note}: {n}" for note, n in report["notes"].items())
    return line
