"""The speed benchmark runs end to end on a tiny input and reproduces the libraries' numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "agreement_speed.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("agreement_speed", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_main_on_tiny_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    numbers = load_benchmark().main(["--items", "240", "--judges", "3", "--bootstrap", "30",
                                     "--library-resamples", "2"])
    assert numbers["max_difference"] < 1e-9
    assert numbers["max_resample_difference"] < 1e-9
    # 3 pairs in both orders x (kappa, agreement) + 3 judges x 5 gold metrics + alpha + Fleiss, all defined
    assert numbers["n_compared"] == 3 * 2 * 2 + 3 * 5 + 2
    assert numbers["ours_seconds"] > 0 and numbers["library_seconds"] > 0
    printed = capsys.readouterr().out
    assert "speed ratio" in printed and "extrapolated linearly to 30" in printed


def test_synthetic_verdicts_look_like_judged_responses() -> None:
    verdicts, clusters, gold = load_benchmark().synthetic_verdicts(3000, 4, seed=1)
    assert verdicts.shape == (3000, 4) and clusters.shape == (3000,) and gold.shape == (3000,)
    unscored = float((verdicts != verdicts).mean())
    assert 0.005 < unscored < 0.02
    assert 2.5 < 3000 / len(set(clusters.tolist())) < 3.5  # ~3 responses per question


def test_the_million_item_run_skips_only_the_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    """`--items 1000000` skips the library baseline (hours at that size); ours is the same call, with wall
    time, CPU time and peak memory printed. (Its formulas are held to the libraries' by the test above and
    to chunking by tests/stats/test_agreement_bootstrap.py: 1M items is the same code with more chunks.)"""
    benchmark = load_benchmark()
    numbers = benchmark.main(["--items", "300", "--judges", "3", "--bootstrap", "20", "--no-baseline"])
    printed = capsys.readouterr().out
    assert "s CPU, peak memory" in printed and "speed ratio" not in printed
    assert numbers["peak_gb"] > 0 and numbers["ours_cpu_seconds"] > 0 and "library_seconds" not in numbers
