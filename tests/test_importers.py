"""Importers for the formats users already have; bad rows name file:line and the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from rlvr_bench.errors import InputError
from rlvr_bench.importers import import_file


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


VERIFIERBENCH_ROWS = [
    {"question": "Molar mass of water?", "gold_answer": "18.02 g/mol", "llm_response": "It is 18.02 g/mol.",
     "gold_judgment": "Correct", "domain": "chemistry", "answer_type": "quantity"},
    {"question": "Molar mass of water?", "gold_answer": "18.02 g/mol", "llm_response": "About 20 g/mol",
     "gold_judgment": "Incorrect", "domain": "chemistry"},
    {"question": "First-line drug for anaphylaxis?", "gold_answer": "epinephrine", "llm_response": "I think",
     "gold_judgment": "Invalid", "domain": "medicine"},
]


def test_verifierbench_rows_become_labelled_responses_sharing_items(tmp_path: Path) -> None:
    items, responses, fmt = import_file(_jsonl(tmp_path / "vb.jsonl", VERIFIERBENCH_ROWS))
    assert fmt == "verifierbench"
    assert len(items) == 2  # the two water rows share one question and reference
    assert [r.label for r in responses] == [True, False, False]  # Invalid is not a correct answer
    assert responses[2].metadata["gold_judgment"] == "Invalid"
    assert responses[0].item_id == responses[1].item_id != responses[2].item_id
    assert items[0].domain == "chemistry" and items[0].answer_type == "quantity"


def test_rlvr_chat_rows_become_items_keeping_ids(tmp_path: Path) -> None:
    rows = [
        {"id": "ms-17", "query": [{"role": "system", "content": "You are a helpful assistant."},
                                  {"role": "user", "content": "Which enzyme does aspirin inhibit?"}],
         "label": "cyclooxygenase", "subject": "medicine"},
        {"id": "ms-18", "query": json.dumps([{"role": "user", "content": "pH of 0.01 M HCl?"}]), "label": "2"},
    ]
    items, responses, fmt = import_file(_jsonl(tmp_path / "ms.jsonl", rows))
    assert fmt == "rlvr-chat" and responses == []
    assert [i.id for i in items] == ["ms-17", "ms-18"]
    assert items[0].question == "Which enzyme does aspirin inhibit?" and items[0].reference == "cyclooxygenase"
    assert items[0].domain == "medicine" and items[1].domain == "general"


def test_csv_and_verifybench(tmp_path: Path) -> None:
    path = tmp_path / "vb.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["question", "answer", "completion", "gold_correct"])
        writer.writeheader()
        writer.writerow({"question": "2+2?", "answer": "4", "completion": "The answer is 4", "gold_correct": "True"})
        writer.writerow({"question": "3+3?", "answer": "6", "completion": "5", "gold_correct": "false"})
    items, responses, fmt = import_file(path)
    assert fmt == "verifybench" and len(items) == 2
    assert [r.label for r in responses] == [True, False]


def test_saved_datasets_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "ds"
    datasets.Dataset.from_list(VERIFIERBENCH_ROWS).save_to_disk(str(folder))
    items, responses, fmt = import_file(folder)
    assert fmt == "verifierbench" and len(responses) == 3 and len(items) == 2


@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([VERIFIERBENCH_ROWS[0], {**VERIFIERBENCH_ROWS[1], "gold_judgment": "Maybe"}],
         "vb.jsonl:2: field 'gold_judgment': unknown label value 'Maybe'"),
        ([VERIFIERBENCH_ROWS[0], {k: v for k, v in VERIFIERBENCH_ROWS[1].items() if k != "gold_answer"}],
         "vb.jsonl:2: missing field 'gold_answer'"),
        ([{"prompt": "x", "completion": "y"}], "vb.jsonl:1: unrecognised columns"),
        ([{"question": "q", "reference": "r", "response": "x", "label": "perhaps"}],
         "vb.jsonl:1: field 'label': unknown label value 'perhaps'"),
    ],
)
def test_bad_rows_name_file_line_field(tmp_path: Path, rows: list[dict[str, object]], fragment: str) -> None:
    with pytest.raises(InputError) as excinfo:
        import_file(_jsonl(tmp_path / "vb.jsonl", rows))
    assert fragment in str(excinfo.value)


def test_csv_error_line_numbers_count_the_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("question,reference,response,label\nq1,r1,x,true\nq2,r2,y,sometimes\n")
    with pytest.raises(InputError, match=r"t\.csv:3: field 'label'"):
        import_file(path)
