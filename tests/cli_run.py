"""Runs ``rlvr-bench ARGV`` in-process as a user's shell would see it: (exit code, stdout, stderr)."""

from __future__ import annotations

import pytest

from rlvr_bench.cli import main


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        # SystemExit("message") is exit status 1, as the interpreter reports it
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
