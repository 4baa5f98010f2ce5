"""`rlvr-bench eval` and `rlvr-bench judge` end to end on tiny local chat policies, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlvr_bench import generation
from rlvr_bench.cli import app
from rlvr_bench.tasks import load_task

runner = CliRunner()
ITEMS = load_task("starter").items_in("test")


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _assert_one_line_error(code: int, stderr: str, fragment: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


def _reference_answers(path: Path, items: Any) -> Path:
    path.write_text("".join(json.dumps({"item_id": i.id, "text": f"Therefore, the answer is {i.reference}."}) + "\n"
                            for i in items), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def eval_run(random_policy: Path, memorizing_policy: Path, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("eval")
    big = _reference_answers(folder / "big.jsonl", ITEMS)
    code, stdout, stderr = _run("eval", "--policy", f"mem={memorizing_policy}", "--policy", f"rand={random_policy}",
                                "--policy", f"responses:{big}:big", "--task", "starter", "--judges", "contains",
                                "--max-new-tokens", "16", "--bootstrap", "200", "--out", str(folder / "run"))
    assert code == 0, stderr
    return folder / "run", stdout


def test_eval_prints_per_domain_table_and_paired_comparison(eval_run: tuple[Path, str]) -> None:
    run_dir, stdout = eval_run
    assert "Accuracy judged by contains" in stdout and "Paired differences" in stdout
    for domain in ("medicine", "chemistry", "mathematics"):
        assert domain in stdout
    results = json.loads((run_dir / "results.json").read_text())
    assert results["schema"] == "rlvr-bench/eval/v1" and results["split"] == "test"
    assert results["policies"] == ["mem", "rand", "big"] and results["n_items"] == len(ITEMS) == 24
    accuracy = {p: results["per_policy"][p]["by_judge"]["contains"]["accuracy"] for p in results["policies"]}
    # the memorizing policy was trained on the answers of 12 of the 24 items; the imported row
    # states every reference, and the contains rule accepts it
    assert accuracy["big"]["estimate"] == 1.0
    assert 0.3 <= accuracy["mem"]["estimate"] <= 0.7
    assert accuracy["mem"]["estimate"] > accuracy["rand"]["estimate"]
    for metric in accuracy.values():
        assert metric["ci_low"] <= metric["estimate"] <= metric["ci_high"] and metric["n"] == 24
    by_domain = results["per_policy"]["mem"]["by_judge"]["contains"]["by_domain"]
    assert sorted(by_domain) == sorted(load_task("starter").info.domains)
    assert sum(d["accuracy"]["n"] for d in by_domain.values()) == 24
    pair = next(c for c in results["comparisons"] if (c["policy_a"], c["policy_b"]) == ("mem", "rand"))
    assert pair["difference"]["estimate"] == pytest.approx(accuracy["mem"]["estimate"] - accuracy["rand"]["estimate"])
    assert pair["mcnemar"]["a_only_correct"] > pair["mcnemar"]["b_only_correct"]
    config = json.loads((run_dir / "config.json").read_text())
    assert [p["name"] for p in config["policies"]] == ["mem", "rand", "big"]
    # the tiny chat policies carry no settings of their own: the study's chat prompt, the flag's token budget
    assert "Therefore, the answer is" in config["generation"]["prompt"]["system_prompt"]
    assert config["generation"]["sampling"]["max_new_tokens"] == 16
    assert results["per_policy"]["mem"]["generation"] == config["generation"]


def test_judge_adds_a_judge_and_a_row_without_generating(eval_run: tuple[Path, str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = shutil.copytree(eval_run[0], tmp_path / "run")
    calls: list[str] = []
    for backend in (generation.HFPolicy, generation.OpenAIPolicy, generation.VLLMPolicy):
        original = backend.generate

        def counting(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(self.name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(backend, "generate", counting)
    before = [json.loads(line) for line in (run_dir / "responses.jsonl").read_text().splitlines()]
    other = _reference_answers(tmp_path / "other.jsonl", ITEMS[:6])
    code, stdout, stderr = _run("judge", str(run_dir), "--judges", "exact", "--policy", f"responses:{other}:other")
    assert code == 0, stderr
    assert calls == []  # generate once, judge many
    results = json.loads((run_dir / "results.json").read_text())
    assert results["judges"] == ["contains", "exact"] and results["policies"] == ["mem", "rand", "big", "other"]
    assert results["judge_agreement"]["judges"] == ["contains", "exact"]
    assert results["per_policy"]["other"]["errors"]["missing_items"] == 18
    after = [json.loads(line) for line in (run_dir / "responses.jsonl").read_text().splitlines()]
    assert after[: len(before)] == before and len(after) == len(before) + 6
    assert "Accuracy judged by exact" in stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, random_policy: Path) -> None:
    code, _, stderr = _run("eval", "--policy", str(tmp_path / "no-such-checkpoint"), "--judges", "contains")
    _assert_one_line_error(code, stderr, "model folder not found")
    code, _, stderr = _run("eval", "--policy", str(random_policy), "--task", "no-such-task", "--judges", "contains")
    _assert_one_line_error(code, stderr, "unknown task 'no-such-task'")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"item_id": ITEMS[0].id, "text": "x"}) + "\n"
                   + json.dumps({"item_id": "not-in-starter", "text": "y"}) + "\n")
    code, _, stderr = _run("eval", "--policy", f"responses:{bad}", "--judges", "contains")
    _assert_one_line_error(code, stderr, f"{bad}:2: field 'item_id': unknown item 'not-in-starter'")
    code, _, stderr = _run("eval", "--policy", str(random_policy))
    _assert_one_line_error(code, stderr, "give at least one judge")
    code, _, stderr = _run("eval", "--policy", str(random_policy), "--judges", "contains", "--split", "dev")
    _assert_one_line_error(code, stderr, "unknown split 'dev'")
    code, _, stderr = _run("judge", str(tmp_path), "--judges", "exact")
    _assert_one_line_error(code, stderr, "not a run directory")
    assert not list(tmp_path.glob("runs"))


def test_eval_takes_a_data_file_instead_of_a_task(tmp_path: Path, memorizing_policy: Path) -> None:
    # a triples file (the format `agreement --data` reads): its items are evaluated, its responses not used
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i}", "item_id": item.id, "question": item.question,
                                        "reference": item.reference, "response": "ignored", "domain": item.domain})
                            + "\n" for i, item in enumerate(ITEMS[:6])), encoding="utf-8")
    answers = _reference_answers(tmp_path / "answers.jsonl", ITEMS[:3])
    code, _, stderr = _run("eval", "--policy", f"mem={memorizing_policy}", "--policy", f"responses:{answers}:ref",
                                "--data", str(data), "--judges", "contains", "--max-new-tokens", "16",
                                "--bootstrap", "50", "--out", str(tmp_path / "run"))
    assert code == 0, stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["n_items"] == 6 and results["task"] == {"data": str(data), "format": "triples"}
    assert results["per_policy"]["ref"]["by_judge"]["contains"]["accuracy"]["estimate"] == 1.0
    assert results["per_policy"]["ref"]["errors"]["missing_items"] == 3
    responses = [json.loads(line) for line in (tmp_path / "run" / "responses.jsonl").read_text().splitlines()]
    assert {r["item_id"] for r in responses if r["source"] == "mem"} == {item.id for item in ITEMS[:6]}
    assert all(r["text"] != "ignored" for r in responses)

    code, _, stderr = _run("eval", "--policy", f"mem={memorizing_policy}", "--data", str(data), "--task", "starter",
                           "--judges", "contains")
    _assert_one_line_error(code, stderr, "give either --task or --data, not both")
    unknown = _reference_answers(tmp_path / "elsewhere.jsonl", ITEMS[6:7])
    code, _, stderr = _run("eval", "--policy", f"responses:{unknown}", "--data", str(data), "--judges", "contains")
    _assert_one_line_error(code, stderr, f"unknown item {ITEMS[6].id!r} (not in {data})")
