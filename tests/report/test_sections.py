"""Section dispatch by results schema, tolerance of missing keys, and the numbers sections compute."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.report.sections import build_sections, headline_metrics, run_schema
from rlvr_bench.report.sections.agreement import pair_rows
from rlvr_bench.report.sections.comparison import LabelledRun, build_comparison
from rlvr_bench.report.sections.disagreements import split_responses
from rlvr_bench.rundir import Run


def make_run(results: dict[str, Any], command: str = "agreement", judgments: list[Judgment] | None = None,
             responses: list[Response] | None = None, items: list[Item] | None = None,
             name: str = "run") -> Run:
    return Run(Path("/nonexistent") / name, {"command": command}, results, items or [], responses or [],
               judgments or [])


def ci(estimate: float | None, low: float | None = None, high: float | None = None) -> dict[str, float | None]:
    return {"estimate": estimate, "ci_low": low, "ci_high": high}


def agreement_results(kappa_ab: float, kappa_low: float, kappa_high: float, judges: list[str]) -> dict[str, Any]:
    """Two-judge agreement results with only the keys the agreement section needs."""
    def matrix(off: float | None) -> list[list[float | None]]:
        return [[1.0, off], [off, 1.0]]

    return {
        "schema": "rlvr-bench/agreement/v1", "judges": judges, "n_responses": 10, "n_questions": 5,
        "overall": {"pairwise": {"n_scored": [[10, 10], [10, 10]],
                                 "cohen_kappa": {"estimate": matrix(kappa_ab), "ci_low": matrix(kappa_low),
                                                 "ci_high": matrix(kappa_high)},
                                 "kappa_paradox": [[False, True], [True, False]]},
                    "multi_rater": {"fleiss_kappa": ci(kappa_ab, kappa_low, kappa_high)}},
    }


@pytest.mark.parametrize(("results", "command", "expected"), [
    ({"schema": "rlvr-bench/agreement/v1"}, "agreement", ["metadata"]),  # nothing to show but the run itself
    ({"schema": "rlvr-bench/someday/v9", "x": 1}, "agreement", ["metadata"]),  # unknown schema: no crash
    ({"recipe": "mini"}, "train", ["metadata", "training"]),  # no schema yet: recognised by its command
    ({}, "verify", ["metadata"]),
])
def test_sections_dispatch_on_schema_and_skip_missing_data(results: dict[str, Any], command: str,
                                                            expected: list[str]) -> None:
    assert [s.key for s in build_sections(make_run(results, command))] == expected


def test_schema_inferred_from_command_only_when_results_exist() -> None:
    assert run_schema(make_run({}, "train")) is None
    assert run_schema(make_run({"recipe": "x"}, "train")) == "rlvr-bench/train/v1"


def test_agreement_section_reads_pairs_and_paradox_flags() -> None:
    results = agreement_results(0.4, 0.1, 0.7, ["a", "b"])
    rows = pair_rows(results["overall"], ["a", "b"])
    assert len(rows) == 1
    assert rows[0]["a"] == "a" and rows[0]["b"] == "b" and rows[0]["n"] == 10 and rows[0]["paradox"] is True
    assert rows[0]["stats"]["cohen_kappa"] == ci(0.4, 0.1, 0.7)
    # a statistic absent from results is an undefined cell, not an error
    assert rows[0]["stats"]["gwet_ac1"] == ci(None)
    sections = build_sections(make_run(results))
    agreement = next(s for s in sections if s.key == "agreement")
    assert agreement.context["paradox_pairs"] == rows
    assert agreement.context["kappa_svg"] is not None and agreement.context["ac1_svg"] is None


def _judgment(judge: str, response: str, passed: bool | None) -> Judgment:
    return Judgment(judge, "q1", response, Verdict(passed=passed))


def test_disagreement_rows_are_the_responses_judges_split_on() -> None:
    item = Item(id="q1", domain="medicine", question="Q?", reference="4")
    responses = [Response(id=f"r{k}", item_id="q1", text=f"Therefore, {k}", label=k == 1) for k in range(1, 5)]
    verdicts = {  # judges a, b, c
        "r1": (True, True, True),    # unanimous: not shown
        "r2": (True, False, None),   # a vs b split; c unscored takes no side
        "r3": (False, True, True),   # a vs b and a vs c split
        "r4": (None, None, True),    # one scored verdict: nothing to split
    }
    judgments = [_judgment(judge, rid, v[k]) for rid, v in verdicts.items() for k, judge in enumerate("abc")]
    judges, rows, total = split_responses(make_run({}, judgments=judgments, responses=responses, items=[item]))
    assert judges == ["a", "b", "c"]
    assert total == 2 and [row["response_id"] for row in rows] == ["r2", "r3"]
    # pairs in combinations order: 0 = a~b, 1 = a~c, 2 = b~c
    assert rows[0]["pairs"] == "0"
    assert rows[1]["pairs"] == "0 1"
    assert rows[1]["verdicts"] == [False, True, True] and rows[1]["domain"] == "medicine"


def test_comparison_lines_up_pairs_and_highlights_non_overlapping_intervals() -> None:
    first = make_run(agreement_results(0.30, 0.20, 0.40, ["a", "b"]), name="before")
    # judges listed in the other order: the same pair must land on the same row
    second = make_run(agreement_results(0.60, 0.50, 0.70, ["b", "a"]), name="after")
    assert set(headline_metrics(first)) == set(headline_metrics(second))
    section = build_comparison([LabelledRun("1. before", first), LabelledRun("2. after", second)])
    assert section is not None
    table = section.context["tables"][0]
    rows = {row["key"]: row for _, group in table["groups"] for row in group}
    kappa = next(row for key, row in rows.items() if key.startswith("agreement.kappa."))
    assert kappa["deltas"][0]["value"] == pytest.approx(0.30)  # 0.60 - 0.30
    assert kappa["deltas"][0]["css"] == "delta-up"  # [0.20, 0.40] and [0.50, 0.70] do not overlap; higher is better
    assert table["n_significant"] == 2  # pairwise kappa and Fleiss' kappa


def test_comparison_needs_two_runs_of_one_schema() -> None:
    agreement = make_run(agreement_results(0.3, 0.2, 0.4, ["a", "b"]))
    other = make_run({"schema": "rlvr-bench/verify/v1", "judges": ["a"], "overall": {}}, "verify")
    assert build_comparison([LabelledRun("1", agreement), LabelledRun("2", other)]) is None


def test_distill_section_and_headlines() -> None:
    results = {
        "schema": "rlvr-bench/distill/v1", "teacher": "qwen72b", "student": {"name": "tiny-distilled"},
        "held_out": {"student_vs_teacher": {"n": 20, "n_questions": 8, "cohen_kappa": ci(0.7, 0.5, 0.9),
                                            "false_positive_rate": ci(0.1, 0.0, 0.2),
                                            "confusion": {"tp": 8, "fp": 1, "fn": 2, "tn": 9}}},
        "target_kappa": 0.8, "meets_target": False,
    }
    run = make_run(results, "distill")
    section = next(s for s in build_sections(run) if s.key == "distill")
    assert [label for label, _ in section.context["metrics"]] == ["Cohen's κ", "FPR"]
    assert section.context["confusion_svg"] is not None and "teacher ✓" in section.context["confusion_svg"]
    assert section.context["agreement"] is None  # no held-out agreement block: that part is left out
    headlines = headline_metrics(run)
    assert headlines["distill.cohen_kappa"].value == ci(0.7, 0.5, 0.9)
    assert headlines["distill.false_positive_rate"].better == "lower"
