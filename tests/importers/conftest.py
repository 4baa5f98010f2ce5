"""Fixtures shared by the layout tests: write fixtures in a published layout, run the CLI on them."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app

Rows = Sequence[dict[str, Any]]


@pytest.fixture
def json_array() -> Callable[[Path, Rows], Path]:
    """Writes a JSON array pretty-printed as the published files are (one object spans several lines)."""
    def write(path: Path, rows: Rows) -> Path:
        path.write_text(json.dumps(list(rows), ensure_ascii=False, indent=4), encoding="utf-8")
        return path
    return write


@pytest.fixture
def jsonl() -> Callable[[Path, Rows], Path]:
    def write(path: Path, rows: Rows) -> Path:
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        return path
    return write


@pytest.fixture
def cli() -> Callable[..., tuple[int, str, str]]:
    """Runs ``rlvr-bench ARGS`` in-process: (exit code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.stdout, result.stderr
    return run


def one_line_error(code: int, stderr: str) -> str:
    """The error line of a run that must exit 2 with exactly one line on stderr."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, stderr)
    return lines[0]


@pytest.fixture
def error_line() -> Callable[[int, str], str]:
    return one_line_error
