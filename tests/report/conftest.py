"""Session fixture: the report tests' run directories (see report_fixtures.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_fixtures import write_fixture_runs

from rlvr_bench.report import render_report


@pytest.fixture(scope="session")
def fixture_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Run directories keyed by command: agreement, verify, eval, train, train-and-eval."""
    root = tmp_path_factory.mktemp("report-runs")
    previous = os.environ.get("RLVR_BENCH_CACHE")
    os.environ["RLVR_BENCH_CACHE"] = str(root / "cache")  # never touch the developer's judgment cache
    try:
        yield write_fixture_runs(root)
    finally:
        if previous is None:
            os.environ.pop("RLVR_BENCH_CACHE", None)
        else:
            os.environ["RLVR_BENCH_CACHE"] = previous


@pytest.fixture(scope="session")
def all_runs_html(fixture_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report of every fixture run, rendered once (a space in the file name on purpose: URLs must cope)."""
    return render_report(list(fixture_runs.values()), tmp_path_factory.mktemp("all-runs") / "all runs.html")
