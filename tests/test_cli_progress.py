"""Piped output: a progress line at least every interval, even while one batch takes longer; no library
notices addressed to developers; and no progress at all with --quiet."""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

import pytest

from rlvr_bench.cli import main


def test_a_piped_run_prints_a_line_every_interval_while_a_batch_is_slow(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from rlvr_bench.cli.progress import judging_progress

    monkeypatch.setenv("RLVR_BENCH_PROGRESS_INTERVAL", "0.1")
    with judging_progress(100) as advance:  # capsys: stderr is not a terminal
        advance("slow-judge", 10)
        time.sleep(0.75)  # one slow batch: no callback for 7 intervals
        advance("slow-judge", 90)
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    beats = [line for line in lines if re.fullmatch(r"judging \[slow-judge\] 10/100 \(10%\); elapsed 0:00:00", line)]
    assert len(beats) >= 4, lines  # at least every interval (7 would be exact; a busy machine delays a few)
    assert lines[-1].startswith("judging [slow-judge] 100/100 (100%); elapsed ")


def test_no_progress_line_before_an_error_found_at_once(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from rlvr_bench.cli.progress import generation_progress, judging_progress

    monkeypatch.setenv("RLVR_BENCH_PROGRESS_INTERVAL", "5")
    for progress in (judging_progress(10), generation_progress(10, 10)):
        with pytest.raises(RuntimeError), progress:
            raise RuntimeError("bad input found before any work")
    assert capsys.readouterr().err == ""


def test_the_default_interval_is_under_30_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from rlvr_bench.cli.progress import heartbeat_interval

    monkeypatch.delenv("RLVR_BENCH_PROGRESS_INTERVAL", raising=False)
    assert heartbeat_interval() <= 30


def test_agreement_piped_prints_its_progress_and_quiet_prints_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["agreement", "--judges", "exact,contains", "--bootstrap", "10", "--no-cache"]
    for quiet in (False, True):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--out", str(tmp_path / f"run-{quiet}"), *(["--quiet"] if quiet else [])])
        assert stop.value.code == 0
        err = capsys.readouterr().err
        if quiet:
            assert err == ""
        else:  # the closing line of a piped run says how much was judged, in how long
            assert re.search(r"^judging \[\w+\] (\d+)/\1 \(100%\); elapsed \d+:\d\d:\d\d$", err, re.M), err


def test_library_notices_to_developers_are_filtered() -> None:
    from rlvr_bench.cli import _prepare_process

    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        _prepare_process()
        warnings.warn_explicit("`past_key_values` is deprecated", FutureWarning, "modeling_llama.py", 1,
                               module="transformers.models.llama.modeling_llama")
        warnings.warn_explicit("a notice of ours", UserWarning, "judging.py", 1, module="rlvr_bench.judging")
    assert [str(w.message) for w in shown] == ["a notice of ours"]  # ours still show
