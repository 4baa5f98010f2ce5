"""The plain-line summary `rlvr-bench report` prints (and the train-and-eval section opens with)."""

from __future__ import annotations

import json
from pathlib import Path

from report_fixtures import write_train_and_eval_run
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.report.summary import run_summary

runner = CliRunner()


def test_train_and_eval_summary_names_the_best_row_against_sft_and_every_finding(tmp_path: Path) -> None:
    run = write_train_and_eval_run(tmp_path / "tae")
    lines = run_summary("train-and-eval", json.loads((run / "results.json").read_text()))
    # model-soft-grpo is the fixture's best row: 62% against sft 40%, +22 [12, 32] pp, McNemar p 0.0004
    assert any(line.strip().startswith("best: model-soft-grpo 62.0") and "vs sft 40.0" in line
               and "+22.0 [+12.0, +32.0] pp" in line and "p = 0.0004" in line for line in lines), lines
    assert sum("finding '" in line for line in lines) == 3
    assert any("the rule-based soft reward (Jaccard) gives the worst policy': partly" in line for line in lines)


def test_report_prints_the_summaries_then_the_path(tmp_path: Path) -> None:
    agreement = tmp_path / "agreement"
    assert runner.invoke(app, ["agreement", "--judges", "exact,contains,numeric", "--bootstrap", "50",
                               "--out", str(agreement)]).exit_code == 0
    tae = write_train_and_eval_run(tmp_path / "tae")
    result = runner.invoke(app, ["report", str(agreement), str(tae), "-o", str(tmp_path / "both.html")])
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("agreement of 3 judges on 72 responses (24 questions): Fleiss' kappa ")
    assert lines[-1] == f"report: {tmp_path / 'both.html'}"
    assert any("best: model-soft-grpo" in line for line in lines)
    page = (tmp_path / "both.html").read_text(encoding="utf-8")
    assert "What this experiment showed" in page and "best: model-soft-grpo" in page
