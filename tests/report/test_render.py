"""Rendering real run directories: every section present, user text escaped, self-contained, deterministic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_fixtures import BOLD_TEXT, SCRIPT_TEXT
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.report import render_report, write_run_report

runner = CliRunner()

#: section anchors each command's report must have (single-run reports have no prefix)
EXPECTED_SECTIONS = {
    "agreement": ["metadata", "agreement", "disagreements"],
    "verify": ["metadata", "accuracy", "calibration", "attacks", "disagreements"],
    "eval": ["metadata", "policy", "judge-agreement", "disagreements"],
    "train": ["metadata", "training", "before-after"],
}


@pytest.mark.parametrize("command", sorted(EXPECTED_SECTIONS))
def test_each_command_report_has_its_sections(fixture_runs: dict[str, Path], command: str, tmp_path: Path) -> None:
    html = render_report([fixture_runs[command]], tmp_path / "report.html").read_text(encoding="utf-8")
    anchors = re.findall(r'<section class="section" id="([^"]+)"', html)
    assert anchors == EXPECTED_SECTIONS[command]


def test_response_markup_is_escaped(fixture_runs: dict[str, Path], tmp_path: Path) -> None:
    html = render_report([fixture_runs["agreement"]], tmp_path / "report.html").read_text(encoding="utf-8")
    assert SCRIPT_TEXT not in html
    assert BOLD_TEXT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold claim&lt;/b&gt;" in html
    # the page's own single inline script is the only <script> element
    assert html.count("<script>") == 1


def test_page_is_self_contained(all_runs_html: Path) -> None:
    html = all_runs_html.read_text(encoding="utf-8")
    # no attribute may load anything: only in-page anchors and SVG namespace declarations mention a URL
    loads = re.findall(r'\s(?:src|href|xlink:href|action|poster|data)="([^"]*)"', html)
    # ... except the figures' own download links, whose file is in the link itself (a data: URI, loaded on click)
    downloads = re.findall(r'<a download="[^"]+" href="(data:image/(?:svg\+xml|png);base64,[A-Za-z0-9+/=]+)"', html)
    assert downloads, "no figure download link"
    assert all(target.startswith("#") or target in downloads for target in loads), \
        [t[:60] for t in loads if not t.startswith("#") and t not in downloads]
    assert "@import" not in html and "url(http" not in html and "<link" not in html and "<img" not in html
    assert "default-src 'none'" in html  # the CSP turns any slip into a visible console error


def test_rendering_is_deterministic(fixture_runs: dict[str, Path], tmp_path: Path) -> None:
    runs = [fixture_runs["agreement"], fixture_runs["train"]]
    first = render_report(runs, tmp_path / "a.html").read_bytes()
    second = render_report(runs, tmp_path / "a2.html").read_bytes()
    assert first == second


def test_several_runs_get_a_comparison_and_unique_anchors(fixture_runs: dict[str, Path], tmp_path: Path) -> None:
    runs = [fixture_runs["agreement"], fixture_runs["eval"], fixture_runs["agreement"]]
    html = render_report(runs, tmp_path / "cmp.html").read_text(encoding="utf-8")
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    assert 'id="comparison"' in html  # the two agreement runs compare
    assert "r1-agreement" in html and "r3-agreement" in html
    # the same run twice: every difference is exactly zero
    deltas = re.findall(r'<td class="n delta(?: [^"]*)?" data-sort="([^"]+)">', html)
    assert deltas and all(float(d) == 0.0 for d in deltas)


def test_write_run_report_writes_report_html(fixture_runs: dict[str, Path]) -> None:
    path = write_run_report(fixture_runs["train"])
    assert path == fixture_runs["train"] / "report.html"
    assert "Policy before and after RL" in path.read_text(encoding="utf-8")


def test_cli_report(fixture_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "nested" / "cmp.html"
    result = runner.invoke(app, ["report", str(fixture_runs["agreement"]), str(fixture_runs["verify"]), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and str(out) in result.stdout


@pytest.mark.parametrize(("args", "fragment"), [
    (["{missing}"], "not a run directory"),
    (["{run}", "-o", "{folder}"], "is a folder"),
])
def test_cli_report_errors_are_one_line(fixture_runs: dict[str, Path], tmp_path: Path, args: list[str],
                                        fragment: str) -> None:
    values = {"missing": str(tmp_path / "nope"), "run": str(fixture_runs["agreement"]), "folder": str(tmp_path)}
    result = runner.invoke(app, ["report", *(a.format(**values) for a in args)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0]
