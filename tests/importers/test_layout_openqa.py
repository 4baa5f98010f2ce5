"""EVOUNA and OpenQA-eval read as published.

Layouts, from the sources' own files:
- EVOUNA: wangcunxiang/QA-Eval @ 90007d39, ``EVOUNA/NQ.json`` (arXiv 2305.12421): a JSON array, one
  object per question: ``question``, ``golden_answer`` (alternatives separated by "/"), for each
  system s in fid, gpt35, chatgpt, gpt4, newbing ``answer_s`` and ``judge_s`` (bool or null), and
  ``improper`` (bool). TQ.json writes a missing verdict as the string "nan".
- OpenQA-eval: ehsk/OpenQA-eval @ 8b9317d0, ``data/NQ301_human.tsv`` (columns id, Question, Model
  answer, Acceptable?, annotator1..3; unquoted TSV) and ``data/model_outputs/NQ_FiD.jsonl``
  (question, answer: list of golds, prediction) (arXiv 2305.06984).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.errors import InputError
from rlvr_bench.importers import import_data, import_file
from rlvr_bench.importers.openqa import split_alternatives

EVOUNA_ROWS: list[dict[str, Any]] = [
    {"question": "who got the first nobel prize in physics", "golden_answer": "Wilhelm Conrad Röntgen",
     "answer_fid": "Wilhelm Conrad Röntgen", "judge_fid": True,
     "answer_gpt35": "The first Nobel Prize in Physics was awarded to Albert Einstein.", "judge_gpt35": False,
     "answer_chatgpt": "It went to Wilhelm Conrad Röntgen in 1901.", "judge_chatgpt": True,
     "answer_gpt4": "Wilhelm Conrad Röntgen, for X-rays.", "judge_gpt4": None,
     "answer_newbing": None, "judge_newbing": None, "improper": False},
    {"question": "who owns reading football club", "golden_answer": "Xiu Li Dai/Dai Xiuli/Dai Yongge",
     "answer_fid": "Dai Yongge", "judge_fid": True,
     "answer_gpt35": "Reading is owned by Dai Yongge and Dai Xiuli.", "judge_gpt35": True,
     "answer_chatgpt": "John Madejski owns it.", "judge_chatgpt": False,
     "answer_gpt4": "Dai Yongge.", "judge_gpt4": True,
     "answer_newbing": "Dai Xiuli owns it.", "judge_newbing": "nan", "improper": True},
]

NQ301_TSV = (
    "id\tQuestion\tModel answer\tAcceptable?\tannotator1\tannotator2\tannotator3\n"
    "1\twhere are the washington redskins based out of\twashington metropolitan area\tYes\tYes\tYes\t\n"
    "1\twhere are the washington redskins based out of\tLandover , Maryland\tYes\tYes\tYes\t\n"
    "2\tthe boiling point of water is 100 degrees celsius express this in si units\tkelvin\tNo\tNo\tNo\t\n"
    "2\tthe boiling point of water is 100 degrees celsius express this in si units\t"
    "100°C = 373.15 K, \"SI\"\tYes\tYes\tNo\tYes\n"
)
NQ_FID_ROWS = [
    {"question": "where are the washington redskins based out of",
     "answer": ["FedExField in Landover, Maryland", "the Washington metropolitan area"],
     "prediction": "washington metropolitan area"},
    {"question": "the boiling point of water is 100 degrees celsius express this in si units",
     "answer": ["373.15 K"], "prediction": "373.15 K"},
]


def test_evouna_one_response_per_judged_system(tmp_path: Path, json_array: Callable[..., Path]) -> None:
    imported = import_data(json_array(tmp_path / "NQ.json", EVOUNA_ROWS))
    assert imported.format == "evouna"
    assert len(imported.items) == 2
    by_source = {(r.item_id, r.source): r for r in imported.responses}
    first, second = (item.id for item in imported.items)
    assert by_source[(first, "fid")].label is True and by_source[(first, "gpt35")].label is False
    assert by_source[(second, "chatgpt")].text == "John Madejski owns it."
    assert {s for i, s in by_source if i == first} == {"fid", "gpt35", "chatgpt"}
    assert {s for i, s in by_source if i == second} == {"fid", "gpt35", "chatgpt", "gpt4"}
    assert imported.items[1].references == ("Xiu Li Dai", "Dai Xiuli", "Dai Yongge")
    report = imported.report
    assert report["rows_read"] == 2 and report["responses"] == 7
    assert report["dropped"] == {"judge_gpt4 (human verdict) null": 1, "answer_newbing missing or null": 1,
                                 "judge_newbing (human verdict) is 'nan', not true/false": 1}
    assert report["notes"] == {"questions marked improper (kept)": 1}
    assert imported.responses[0].metadata["source_line"].endswith("NQ.json:2")


@pytest.mark.parametrize(("golden", "alternatives"), [
    ("Olivia/MFSK", ["Olivia", "MFSK"]),
    ("1939/1940", ["1939", "1940"]),
    ("16,801/16,801 students", ["16,801", "16,801 students"]),
    ("Super Bowl LII,/2017", ["Super Bowl LII", "2017"]),
    ("1/2", ["1/2"]),                      # a fraction
    ("9/11 attacks", ["9/11 attacks"]),    # a date
    ("12/25/2019", ["12/25/2019"]),
    ("1979/80/Since 1979/80", ["1979/80", "Since 1979/80"]),  # a season
    ("300 km/h", ["300 km/h"]),            # a unit
    ("AC/DC", ["AC/DC"]),
])
def test_evouna_golden_answer_alternatives(golden: str, alternatives: list[str]) -> None:
    assert split_alternatives(golden) == alternatives


def test_evouna_through_verify_contains(tmp_path: Path, json_array: Callable[..., Path],
                                        cli: Callable[..., tuple[int, str, str]]) -> None:
    data = json_array(tmp_path / "NQ.json", EVOUNA_ROWS)
    code, stdout, stderr = cli("verify", "--no-cache", "--data", str(data), "--judges", "contains",
                               "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["task"]["format"] == "evouna" and config["task"]["import"]["responses"] == 7
    assert "dropped 3" in stdout  # the import line is shown to the user
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    # with the "/" alternatives split, contains is right on all 7 (the 3 correct answers to the
    # second question name one alternative each)
    counts = results["overall"]["contains"]["counts"]
    assert (counts["tp"], counts["tn"], counts["fp"], counts["fn"], counts["unscored"]) == (5, 2, 0, 0, 0)


def test_openqa_eval_joins_golds_by_question(tmp_path: Path, jsonl: Callable[..., Path]) -> None:
    tsv = tmp_path / "NQ301_human.tsv"
    tsv.write_text(NQ301_TSV, encoding="utf-8")
    golds = jsonl(tmp_path / "NQ_FiD.jsonl", NQ_FID_ROWS)
    imported = import_data(Path(f"{tsv}+{golds}"))
    assert imported.format == "openqa-eval"
    assert [r.label for r in imported.responses] == [True, True, False, True]
    assert imported.items[0].references == ("FedExField in Landover, Maryland", "the Washington metropolitan area")
    assert imported.responses[3].text == '100°C = 373.15 K, "SI"'  # unquoted TSV: quotes are text
    assert imported.responses[3].metadata["annotator2"] == "No"
    assert imported.report["rows_read"] == 4 and imported.report["dropped"] == {}


def test_openqa_eval_without_golds_or_with_a_missing_question(tmp_path: Path, jsonl: Callable[..., Path]) -> None:
    tsv = tmp_path / "NQ301_human.tsv"
    tsv.write_text(NQ301_TSV, encoding="utf-8")
    with pytest.raises(InputError, match=r"NQ301_human\.tsv:2: .*no gold answers.*\+NQ_FiD\.jsonl"):
        import_file(tsv)
    golds = jsonl(tmp_path / "NQ_FiD.jsonl", NQ_FID_ROWS[:1])
    imported = import_data(Path(f"{tsv}+{golds}"))
    assert imported.report["dropped"] == {"question not in the gold file": 2}
    assert len(imported.responses) == 2
