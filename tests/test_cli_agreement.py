"""`rlvr-bench agreement` end to end, and every bad-input path: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.rundir import load_run
from rlvr_bench.tasks import resolve_task_folder

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _assert_one_line_error(code: int, stderr: str, fragment: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0], lines[0]


def test_rule_judges_agreement_writes_a_complete_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, stdout, stderr = _run("agreement", "--judges", "exact,contains,numeric", "--bootstrap", "50",
                                "--out", str(out))
    assert code == 0, stderr
    assert "Cohen's kappa" in stdout
    for name in ("config.json", "items.jsonl", "responses.jsonl", "judgments.jsonl", "results.json"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert results["schema"] == "rlvr-bench/agreement/v1"
    assert results["judges"] == ["exact", "contains", "numeric"]
    run = load_run(out)
    assert len(run.judgments) == 3 * len(run.responses)
    frame = run.judgments_frame()
    assert set(frame["judge"]) == {"exact", "contains", "numeric"}
    config = json.loads((out / "config.json").read_text())
    assert "numpy" in config["versions"] and config["seed"] == 0
    assert [j["name"] for j in config["judges"]] == ["exact", "contains", "numeric"]
    assert not list(tmp_path.glob(".run.partial-*"))


def test_same_seed_same_results(tmp_path: Path) -> None:
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        code, _, stderr = _run("agreement", "--judges", "exact,contains", "--bootstrap", "30", "--seed", "7",
                               "--out", str(out))
        assert code == 0, stderr
    first, second = (json.loads((o / "results.json").read_text()) for o in outs)
    assert first["overall"] == second["overall"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--task", "startr"), "unknown task 'startr'; did you mean starter"),
        (("--judges", "exactt,contains"), "unknown judge 'exactt'; did you mean exact"),
        (("--judges", "exact"), "at least two judges"),
        (("--judges", "exact,exact"), "listed twice"),
    ],
)
def test_bad_names_fail_with_one_line(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    out = tmp_path / "run"
    code, _, stderr = _run("agreement", *args, "--out", str(out))
    _assert_one_line_error(code, stderr, fragment)
    assert not out.exists()


def test_model_judges_without_backend_or_key_fail_before_work(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "QWEN72B_BASE_URL", "RM7B_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "run"
    code, _, stderr = _run("agreement", "--judges", "gpt4o,qwen72b,rm7b", "--out", str(out))
    _assert_one_line_error(code, stderr, "gpt4o")
    assert not out.exists()


def _copy_starter(tmp_path: Path) -> Path:
    folder = tmp_path / "starter"
    shutil.copytree(resolve_task_folder("starter"), folder)
    return folder


def test_a_task_folder_whose_name_field_differs_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "my-copy"
    shutil.copytree(resolve_task_folder("starter"), folder)
    code, _, stderr = _run("agreement", "--task", str(folder), "--judges", "exact,contains", "--out",
                           str(tmp_path / "run"))
    _assert_one_line_error(code, stderr, "task.yaml: field 'name': 'starter' differs from the folder's name 'my-copy'")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda rows: rows.__setitem__(1, "{broken"), "items.jsonl:2: malformed JSON"),
        (lambda rows: rows.__setitem__(2, json.dumps({**json.loads(rows[2]), "domain": "astrology"})),
         "items.jsonl:3: field 'domain': unknown domain 'astrology'"),
        (lambda rows: rows.__setitem__(3, rows[0]), "items.jsonl:4: field 'id': duplicate id"),
        (lambda rows: rows.__setitem__(0, json.dumps({k: v for k, v in json.loads(rows[0]).items()
                                                      if k != "reference"})),
         "items.jsonl:1: missing field 'reference'"),
    ],
)
def test_bad_task_files_name_file_line_field(tmp_path: Path, mutate: object, fragment: str) -> None:
    folder = _copy_starter(tmp_path)
    items = folder / "items.jsonl"
    rows = items.read_text().splitlines()
    mutate(rows)  # type: ignore[operator]
    items.write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    code, _, stderr = _run("agreement", "--task", str(folder), "--judges", "exact,contains", "--out", str(out))
    _assert_one_line_error(code, stderr, fragment)
    assert not out.exists()


def test_tasks_and_judges_listings() -> None:
    code, stdout, _ = _run("tasks")
    assert code == 0 and "starter" in stdout
    code, stdout, _ = _run("judges")
    assert code == 0
    for name in ("exact", "contains", "jaccard", "math", "numeric", "embed"):
        assert name in stdout
