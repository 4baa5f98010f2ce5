"""Records and JSONL readers: every bad-input case names file:line and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlvr_bench.errors import InputError
from rlvr_bench.records import (
    Judgment,
    Verdict,
    final_step,
    read_items,
    read_judgments,
    read_responses,
    write_jsonl,
)

GOOD_ITEM = {"id": "q1", "domain": "medicine", "question": "Q?", "reference": "5 mg", "answer_type": "quantity"}


def _write(tmp_path: Path, rows: list[object], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Step 1\nStep 2\nTherefore, the answer is 5.", "Therefore, the answer is 5."),
        ("answer\n\n   \n", "answer"),
        ("  single line  ", "single line"),
        ("", ""),
        ("\n\n", ""),
    ],
)
def test_final_step_is_last_non_empty_line(text: str, expected: str) -> None:
    assert final_step(text) == expected


def test_read_items_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD_ITEM, {**GOOD_ITEM, "id": 2, "reference": 3.5}])
    items = read_items(path, ["medicine"])
    assert [i.id for i in items] == ["q1", "2"]  # integer ids become strings
    assert items[1].reference == "3.5"
    assert items[0].split == "test"


@pytest.mark.parametrize(
    ("rows", "line", "fragment"),
    [
        ([GOOD_ITEM, "{not json"], 2, "malformed JSON"),
        ([GOOD_ITEM, {k: v for k, v in GOOD_ITEM.items() if k != "question"} | {"id": "q2"}], 2, "field 'question'"),
        ([GOOD_ITEM, GOOD_ITEM], 2, "field 'id': duplicate id 'q1' (first on line 1)"),
        ([{**GOOD_ITEM, "domain": "astrology"}], 1, "field 'domain': unknown domain 'astrology'"),
        ([{**GOOD_ITEM, "answer_type": "essay"}], 1, "field 'answer_type'"),
        ([[1, 2]], 1, "expected a JSON object"),
        ([{**GOOD_ITEM, "question": 7}], 1, "field 'question' must be str"),
    ],
)
def test_bad_items_name_file_line_and_field(tmp_path: Path, rows: list[object], line: int, fragment: str) -> None:
    path = _write(tmp_path, rows)
    with pytest.raises(InputError) as excinfo:
        read_items(path, ["medicine"])
    message = str(excinfo.value)
    assert message.startswith(f"{path}:{line}: ")
    assert fragment in message
    assert "\n" not in message


def test_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps(GOOD_ITEM) + "\n\n" + json.dumps(GOOD_ITEM) + "\n")
    with pytest.raises(InputError, match=r"x\.jsonl:3: field 'id': duplicate"):
        read_items(path)


def test_responses_reject_unknown_item_and_bad_label(tmp_path: Path) -> None:
    good = {"id": "r1", "item_id": "q1", "text": "5 mg", "label": True}
    path = _write(tmp_path, [good, {**good, "id": "r2", "item_id": "q9"}])
    with pytest.raises(InputError, match=r":2: field 'item_id': unknown item 'q9'"):
        read_responses(path, ["q1"])
    path = _write(tmp_path, [{**good, "label": "yes"}])
    with pytest.raises(InputError, match=r":1: field 'label' must be true, false or null"):
        read_responses(path)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_items(tmp_path / "nope.jsonl")


def test_judgments_round_trip_including_unscored(tmp_path: Path) -> None:
    judgments = [
        Judgment("a", "q1", "r1", Verdict(passed=True, p_pass=0.9, raw="YES", latency_s=0.01)),
        Judgment("a", "q1", "r2", Verdict(passed=None, error="timeout after 3 retries")),
    ]
    path = tmp_path / "judgments.jsonl"
    write_jsonl(path, (j.to_json() for j in judgments))
    assert read_judgments(path) == judgments


def test_verdict_rejects_out_of_range_probability(tmp_path: Path) -> None:
    path = _write(tmp_path, [{"judge": "a", "item_id": "q", "response_id": "r", "passed": True, "p_pass": 1.5}])
    with pytest.raises(InputError, match=r":1: field 'p_pass'"):
        read_judgments(path)
