"""Evaluation bookkeeping: verdict matrices and the paired before/after difference."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from rlvr_bench.cli import app
from rlvr_bench.records import Item, Verdict
from rlvr_bench.training.evaluation import (
    Decoding,
    ScoredCompletion,
    accuracy_table,
    paired_difference,
    verdict_matrix,
)

ITEMS = [Item(id=f"q{i}", domain="a" if i < 2 else "b", question="?", reference="1") for i in range(4)]


def _scored(passed: list[bool | None]) -> list[ScoredCompletion]:
    return [ScoredCompletion(item, 0, "text", Verdict(p)) for item, p in zip(ITEMS, passed, strict=True)]


def test_verdict_matrix_keeps_unscored_as_nan() -> None:
    matrix = verdict_matrix(_scored([True, False, None, True]), ITEMS)
    assert matrix.shape == (4, 1)
    assert matrix[0, 0] == 1.0 and matrix[1, 0] == 0.0 and math.isnan(matrix[2, 0])


def test_accuracy_table_per_domain_leaves_out_unscored() -> None:
    table = accuracy_table(_scored([True, False, None, True]), ITEMS, bootstrap_samples=200)
    # all: 2 correct of 3 scored; domain a: 1 of 2; domain b: 1 of 1 (q2 unscored)
    assert table["all"]["accuracy"]["estimate"] == pytest.approx(2 / 3)
    assert table["a"]["accuracy"]["estimate"] == pytest.approx(1 / 2)
    assert table["b"]["accuracy"]["estimate"] == 1.0 and table["b"]["n_unscored"] == 1


def test_paired_difference_is_after_minus_before() -> None:
    before = _scored([False, False, True, True])
    after = _scored([True, False, True, None])
    # pairs scored on both sides: q0 (0 -> 1), q1 (0 -> 0), q2 (1 -> 1): mean +1/3; q3 is left out
    table = paired_difference(before, after, ITEMS, bootstrap_samples=200)
    assert table["all"]["difference"]["estimate"] == pytest.approx(1 / 3)
    assert table["all"]["difference"]["n"] == 3
    assert table["all"]["mcnemar"]["a_only_correct"] == 1  # "a" is the policy after RL


def test_decoding_validates() -> None:
    assert Decoding("greedy", samples_per_question=4).samples == 1  # greedy has one sample per question
    with pytest.raises(ValueError, match="greedy"):
        Decoding("beam")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--judge", "numerik"], "unknown judge 'numerik'"),
        (["serve", "--judge", "numeric", "--mode", "soft"], "gives no soft score"),
    ],
)
def test_serve_rejects_bad_options_in_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and message in result.output
