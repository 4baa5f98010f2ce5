"""A corrupt judgment cache is one line and exit 2, found before any judging (not after the judges
before the model judge have run)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from cli_run import run_main


def one_error_line(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_cache_file_that_is_not_a_database_is_found_before_judging(
        llm_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import rlvr_bench.judging as judging

    (llm_env / "judgments.sqlite").write_bytes(b"this is not an SQLite database\n" * 200)
    monkeypatch.setattr(judging, "_shared", None)  # a fresh process
    judged: list[str] = []
    real = judging.judge_triples
    monkeypatch.setattr(judging, "judge_triples", lambda judge, *a, **k: judged.append(judge.name) or real(
        judge, *a, **k))
    out = tmp_path / "run"
    line = one_error_line(*run_main(["agreement", "--judges", "exact,tiny", "--bootstrap", "10", "--out", str(out)],
                                    capsys)[::2])
    assert str(llm_env / "judgments.sqlite") in line and "pass --no-cache" in line
    assert judged == []  # not even the rule judge ran
    assert not out.exists()


def test_a_corrupted_cache_row_is_one_line(llm_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    import rlvr_bench.judging as judging

    monkeypatch.setattr(judging, "_shared", None)
    argv = ["agreement", "--judges", "exact,tiny", "--bootstrap", "10"]
    code, _, err = run_main([*argv, "--out", str(tmp_path / "first")], capsys)
    assert code == 0, err
    judging.shared_cache().close()
    monkeypatch.setattr(judging, "_shared", None)
    with sqlite3.connect(llm_env / "judgments.sqlite") as db:  # one row damaged, the others intact
        (key,) = db.execute("SELECT key FROM judgments LIMIT 1").fetchone()
        db.execute("UPDATE judgments SET verdict = ? WHERE key = ?", ('{"passed": tr', key))
        db.execute("UPDATE judgments SET verdict = ? WHERE key = (SELECT key FROM judgments WHERE key != ? LIMIT 1)",
                   (json.dumps({"passed": "maybe"}), key))
    line = one_error_line(*run_main([*argv, "--out", str(tmp_path / "second")], capsys)[::2])
    assert "the judgment cache is corrupt" in line and "is not valid" in line
    assert not (tmp_path / "second").exists()
