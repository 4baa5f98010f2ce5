"""The committed reference reports (``reports/``) are the output of the current code.

Rendering is checked byte for byte (re-render the committed run directories and
compare with the committed HTML). The statistics are checked by re-running the
starter agreement run and comparing its results with the committed ones, leaving
out what legitimately changes between two runs (latency of the judges).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.assets import repo_root
from rlvr_bench.pipelines.reference_reports import COMPARISONS, REFERENCE_RUNS, render_pages

ROOT = repo_root()
REPORTS = ROOT / "reports" if ROOT is not None else None
HINT = "reports/ is stale: run `make reports` and commit the result"

pytestmark = pytest.mark.skipif(REPORTS is None or not (REPORTS / "index.html").is_file(),
                                reason="no committed reports/ (installed package)")


def test_every_reference_run_and_page_is_committed() -> None:
    assert REPORTS is not None
    for run in REFERENCE_RUNS:
        for name in ("config.json", "results.json", "judgments.jsonl", "report.html"):
            assert (REPORTS / run.name / name).is_file(), f"{run.name}/{name} missing; {HINT}"
    for file_name, _, _ in COMPARISONS:
        assert (REPORTS / file_name).is_file(), f"{file_name} missing; {HINT}"


def test_committed_html_is_what_the_current_code_renders(tmp_path: Path) -> None:
    assert REPORTS is not None
    copy = tmp_path / "reports"
    shutil.copytree(REPORTS, copy, ignore=shutil.ignore_patterns("*.html"))
    for written in render_pages(copy):
        committed = REPORTS / written.relative_to(copy)
        assert committed.is_file(), f"{committed} missing; {HINT}"
        assert written.read_bytes() == committed.read_bytes(), f"{committed.relative_to(REPORTS)} differs; {HINT}"


def _without_latency(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_latency(v) for k, v in value.items() if "latency" not in k}
    if isinstance(value, list):
        return [_without_latency(v) for v in value]
    return value


@pytest.mark.slow
def test_committed_starter_agreement_results_are_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert REPORTS is not None
    monkeypatch.setenv("RLVR_BENCH_CACHE", str(tmp_path / "cache"))
    run = next(r for r in REFERENCE_RUNS if r.name == "agreement-starter")
    run.produce(tmp_path / run.name)
    fresh = json.loads((tmp_path / run.name / "results.json").read_text(encoding="utf-8"))
    committed = json.loads((REPORTS / run.name / "results.json").read_text(encoding="utf-8"))
    assert _without_latency(fresh) == _without_latency(committed), HINT


def test_regenerate_refuses_a_dirty_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference run records its git revision: one made from uncommitted code would say "-dirty" forever."""
    from rlvr_bench.pipelines import reference_reports

    monkeypatch.setattr(reference_reports, "git_revision", lambda: "0123abc-dirty")
    with pytest.raises(SystemExit, match="uncommitted changes"):
        reference_reports.regenerate(tmp_path / "reports")
    assert not (tmp_path / "reports").exists()  # nothing ran, nothing written


def test_committed_runs_name_a_clean_revision() -> None:
    assert REPORTS is not None
    for run in REFERENCE_RUNS:
        config = json.loads((REPORTS / run.name / "config.json").read_text(encoding="utf-8"))
        assert not str(config.get("git_revision")).endswith("-dirty"), f"{run.name}: {config.get('git_revision')}"


def test_the_index_has_no_literal_backticks() -> None:
    assert REPORTS is not None
    index = (REPORTS / "index.html").read_text(encoding="utf-8")
    body = index[index.index("<body>"):]
    assert "`" not in body and "<code>make demo</code>" in body
