"""How files are read whatever their layout: BOMs, JSON arrays, TSV, answer types, --split, --format,
files that fit no layout, and hub data sets offline. Every refusal is one line naming file:line and
the field, exit 2. The CLI tests go through `rlvr-bench verify` as a user would."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.errors import InputError
from rlvr_bench.importers import import_data, import_file

TRIPLES: list[dict[str, Any]] = [
    {"question": "Capital of France?", "reference": "Paris", "response": "It is Paris.", "label": True,
     "answer_type": "text"},
    {"question": "2+2?", "reference": "4", "response": "5", "label": False, "answer_type": "number"},
]
Cli = Callable[..., tuple[int, str, str]]


def _csv(path: Path, rows: list[dict[str, Any]], delimiter: str = ",", encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_bom_prefixed_jsonl_and_excel_csv_are_read(tmp_path: Path, cli: Cli) -> None:
    jsonl = tmp_path / "bom.jsonl"
    jsonl.write_text("\ufeff" + "".join(json.dumps(r) + "\n" for r in TRIPLES), encoding="utf-8")
    excel = _csv(tmp_path / "excel.csv", TRIPLES, encoding="utf-8-sig")  # Excel's "CSV UTF-8"
    for path in (jsonl, excel):
        code, _, stderr = cli("verify", "--no-cache", "--data", str(path), "--judges", "exact",
                              "--out", str(tmp_path / f"run-{path.suffix[1:]}"))
        assert code == 0, stderr
        items, responses, fmt = import_file(path)
        assert fmt == "triples" and items[0].question == "Capital of France?" and len(responses) == 2


def test_json_array_and_tsv_are_read_like_jsonl_and_csv(tmp_path: Path, json_array: Callable[..., Path]) -> None:
    from_array = import_data(json_array(tmp_path / "triples.json", TRIPLES))
    from_tsv = import_data(_csv(tmp_path / "triples.tsv", TRIPLES, delimiter="\t"))
    for imported in (from_array, from_tsv):
        assert imported.format == "triples"
        assert [r.label for r in imported.responses] == [True, False]
        assert imported.items[1].answer_type == "number"
    # a JSON array saved with a .jsonl suffix, and an error inside one, located by line
    (tmp_path / "array.jsonl").write_text(json.dumps(TRIPLES, indent=2), encoding="utf-8")
    assert import_data(tmp_path / "array.jsonl").format == "triples"
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"question": "q", "reference": "r", "response": "x"},\n  {"question": }\n]')
    with pytest.raises(InputError, match=r"broken\.json:3: malformed JSON"):
        import_data(broken)
    nan = tmp_path / "nan.json"
    nan.write_text('[\n  {"question": "q", "reference": "r", "response": "x"},\n  {"question": "q", "reference": NaN,'
                   ' "response": "x"}\n]')
    with pytest.raises(InputError, match=r"nan\.json:3: NaN is not a JSON number"):
        import_data(nan)


def test_unknown_answer_type_is_refused_with_the_known_ones(tmp_path: Path, jsonl: Callable[..., Path],
                                                            cli: Cli, error_line: Callable[[int, str], str]) -> None:
    data = jsonl(tmp_path / "types.jsonl", [TRIPLES[0], {**TRIPLES[1], "answer_type": "fractional"}])
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--judges", "exact")
    line = error_line(code, stderr)
    assert "types.jsonl:2: field 'answer_type': unknown answer type 'fractional'" in line
    assert "number" in line and "multiple_choice" in line  # the known ones are listed


@pytest.mark.parametrize(("given", "mapped"), [("numeric", "number"), ("multiple_choice", "choice"),
                                               ("term", "text"), ("short_text", "text"), ("formula", "expression"),
                                               ("sequence", "list"), ("Numerical", "number")])
def test_the_field_s_answer_types_map_to_the_project_s(tmp_path: Path, jsonl: Callable[..., Path],
                                                        given: str, mapped: str) -> None:
    imported = import_data(jsonl(tmp_path / "t.jsonl", [{**TRIPLES[0], "answer_type": given}]))
    assert imported.items[0].answer_type == mapped


def test_split_is_honoured_with_data(tmp_path: Path, jsonl: Callable[..., Path], cli: Cli,
                                     error_line: Callable[[int, str], str]) -> None:
    rows = [{**TRIPLES[0], "split": "train"}, {**TRIPLES[1], "split": "test"}]
    data = jsonl(tmp_path / "split.jsonl", rows)
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--split", "train", "--judges", "exact",
                          "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["task"]["split"] == "train"
    responses = (tmp_path / "run" / "responses.jsonl").read_text().splitlines()
    assert len(responses) == 1 and "It is Paris." in responses[0]
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--split", "validation", "--judges", "exact")
    assert "no items in split 'validation'" in error_line(code, stderr)


def test_format_chooses_the_layout_of_an_ambiguous_file(tmp_path: Path, jsonl: Callable[..., Path], cli: Cli,
                                                        error_line: Callable[[int, str], str]) -> None:
    # both VerifierBench's columns and the flat triples' columns: detection takes VerifierBench
    row = {"question": "q?", "gold_answer": "a", "llm_response": "a", "gold_judgment": "B",
           "reference": "b", "response": "b", "label": True}
    data = jsonl(tmp_path / "both.jsonl", [row])
    assert import_data(data).format == "verifierbench"
    forced = import_data(data, "triples")
    assert forced.format == "triples" and forced.items[0].reference == "b" and forced.responses[0].label is True
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--format", "triples", "--judges", "exact",
                          "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["task"]["format"] == "triples"
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--format", "evuna", "--judges", "exact")
    assert "unknown --format 'evuna'" in error_line(code, stderr)


def test_a_file_that_fits_no_layout_gets_one_line_naming_them(tmp_path: Path, jsonl: Callable[..., Path], cli: Cli,
                                                              error_line: Callable[[int, str], str]) -> None:
    data = jsonl(tmp_path / "odd.jsonl", [{"prompt": "q", "reply": "a"}])
    code, _, stderr = cli("verify", "--no-cache", "--data", str(data), "--judges", "exact")
    line = error_line(code, stderr)
    assert "odd.jsonl:1: unrecognised columns ['prompt', 'reply']" in line
    for name in ("evouna", "openqa-eval", "tinyv", "judgebench", "rewardmath", "mmlu-pro", "verifierbench",
                 "verifybench", "xverify", "triples", "--format"):
        assert name in line


def test_the_import_report_is_printed_and_recorded(tmp_path: Path, jsonl: Callable[..., Path], cli: Cli) -> None:
    data = jsonl(tmp_path / "t.jsonl", TRIPLES)
    code, stdout, stderr = cli("agreement", "--no-cache", "--data", str(data), "--judges", "exact,contains",
                               "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    assert "as triples: 2 rows -> 2 items, 2 responses; dropped 0" in stdout
    report = json.loads((tmp_path / "run" / "config.json").read_text())["task"]["import"]
    assert report == {"rows_read": 2, "items": 2, "responses": 2, "dropped": {}, "notes": {}}


def test_hub_data_offline_is_one_line(tmp_path: Path, cli: Cli, error_line: Callable[[int, str], str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing to fall back on
    code, _, stderr = cli("verify", "--no-cache", "--data", "hf:ScalerLab/JudgeBench:gpt", "--judges", "exact")
    assert "hf:ScalerLab/JudgeBench:gpt: cannot load data set" in error_line(code, stderr)


def test_help_and_readme_list_every_layout_with_an_example(cli: Cli) -> None:
    from rlvr_bench.importers import LAYOUTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Data files (`--data`)", 1)[1].split("\n## ", 1)[0]
    for command in ("verify", "agreement"):
        code, stdout, _ = cli(command, "--help")
        assert code == 0
        for layout in LAYOUTS:
            assert f"  {layout.name} " in stdout, (command, layout.name)
    for layout in LAYOUTS:
        row = next(line for line in section.splitlines() if line.startswith(f"| `{layout.name}` |"))
        assert "--data" in row, layout.name
