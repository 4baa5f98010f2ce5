"""The train-and-eval section (schema ``rlvr-bench/train-and-eval/v1``): Table 1 cells, best-per-column and
significance marks, reward-hacking rows, distillation summary, per-cell training curves, escaping.

The run directory is the hand-written fixture ``write_train_and_eval_run`` (see report_fixtures.py for its
numbers); no training runs here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_fixtures import TAE_MARKUP_REWARD

from rlvr_bench.report import figures, render_html, render_report
from rlvr_bench.report.sections import build_sections, headline_metrics, run_schema
from rlvr_bench.report.sections.comparison import LabelledRun, build_comparison
from rlvr_bench.report.sections.train_and_eval import (
    as_percent,
    best_rows,
    build,
    column_label,
    difference_css,
    hacking_chart,
    hacking_rows,
)
from rlvr_bench.rundir import Run, load_run

SCHEMA = "rlvr-bench/train-and-eval/v1"


class _TableCells(HTMLParser):
    """The body rows of one table (by id) as lists of (css classes, text with whitespace collapsed)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # > 0 while inside the wanted table (nested tables do not occur)
        self.in_body = False
        self.rows: list[list[tuple[str, str]]] = []
        self.cell: list[str] | None = None
        self.cell_class = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == self.table_id:
            self.depth = 1
        elif self.depth and tag == "tbody":
            self.in_body = True
        elif self.depth and self.in_body and tag == "tr":
            self.rows.append([])
        elif self.depth and self.in_body and tag == "td":
            self.cell, self.cell_class = [], attributes.get("class") or ""
        elif self.cell is not None and tag == "br":
            self.cell.append(" ")  # a line break reads as a space

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag == "td" and self.cell is not None:
            self.rows[-1].append((self.cell_class, " ".join("".join(self.cell).split())))
            self.cell = None
        elif self.depth and tag == "tbody":
            self.in_body = False
        elif self.depth and tag == "table":
            self.depth = 0

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_cells(html: str, table_id: str) -> list[list[tuple[str, str]]]:
    parser = _TableCells(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id}"
    return parser.rows


@pytest.fixture(scope="module")
def page(fixture_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("tae") / "report.html"
    return render_report([fixture_runs["train-and-eval"]], out).read_text(encoding="utf-8")


def test_page_has_the_section_and_its_subsections(page: str) -> None:
    assert re.findall(r'<section class="section" id="([^"]+)"', page) == ["metadata", "train-and-eval"]
    for anchor in ("table", "findings", "hacking", "distillation", "curves"):
        assert f'href="#train-and-eval-{anchor}"' in page and f'id="train-and-eval-{anchor}"' in page


def test_table_one_cells_best_marks_and_differences(page: str) -> None:
    rows = {cells[0][1].split(" ")[0]: cells for cells in table_cells(page, "train-and-eval-table1")}
    # SFT first, then the cells in the order results.json lists them
    assert list(rows) == ["sft", "rule-binary-grpo", "rule-soft-grpo", "model-binary-grpo", "model-soft-grpo"]
    # columns: method, chemistry, medicine, all items, Δ vs SFT, McNemar p (no unscored column: none unscored)
    assert all(len(cells) == 6 for cells in rows.values())
    # model-soft-grpo all items: 0.62 ± 0.10 -> "62.0 [52.0, 72.0]", the best of the column
    assert rows["model-soft-grpo"][3] == ("n best", "62.0 [52.0, 72.0]")
    assert [name for name, cells in rows.items() if "best" in cells[3][0]] == ["model-soft-grpo"]
    # chemistry: model-binary and model-soft tie at 60.0 -> both bold
    assert [name for name, cells in rows.items() if "best" in cells[1][0]] == ["model-binary-grpo", "model-soft-grpo"]
    assert rows["sft"][1][1] == "30.0 [15.0, 45.0]"
    # Δ vs SFT in percentage points, signed; coloured only where the CI excludes 0
    assert rows["sft"][4][1] == "—" and rows["sft"][5][1] == ""
    assert rows["rule-binary-grpo"][4] == ("n delta-up", "+15.0 [5.0, 25.0]")
    assert rows["rule-soft-grpo"][4] == ("n delta-down", "-5.0 [-9.0, -1.0]")
    assert rows["model-binary-grpo"][4] == ("n ", "+20.0 [-2.0, 40.0]")  # [-2, 40] holds 0: not marked
    assert rows["model-soft-grpo"][4][0] == "n delta-up"
    assert [cells[5][1] for cells in rows.values()] == ["", "0.020", "0.040", "0.060", "<0.001"]
    # the reward under each trained method, its preset path shown relative to the run directory
    assert rows["model-binary-grpo"][0][1] == "model-binary-grpo distill/judge.yaml:binary"


def test_findings_show_status_and_the_comparisons_behind_it(page: str) -> None:
    rows = table_cells(page, "train-and-eval-findings-table")
    texts = [[text for _, text in row] for row in rows]
    assert texts[0] == ["Model-based ≥ rule-based rewards", "reproduced", "model-soft-grpo − rule-soft-grpo",
                        "+27.0 [15.0, 39.0]", "better", "0.001"]
    assert rows[0][1][0].split()[0] == "pass" and rows[0][3][0].endswith("delta-up")
    assert texts[1][:5] == ["Rule-based soft reward is the worst", "partly", "rule-soft-grpo − rule-binary-grpo",
                            "-20.0 [-45.0, 5.0]", "inconclusive"]
    assert texts[2][:4] == ["Distilled verifier ≈ its teacher", "not reproduced",
                            "student vs teacher verdicts, Cohen's κ", "0.790 [0.400, 1.000]"]
    assert rows[2][1][0].split()[0] == "fail"
    assert len(rows) == 3  # the distillation finding has no policy comparison: no empty row after the kappa


def test_cost_of_the_experiment_survives_a_resume(page: str) -> None:
    # the stages' summed wall time, not the (short) last invocation, is what the experiment cost
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Whole experiment: 316 s of stage wall time (this invocation: 30.0 s;" in text


def test_reward_hacking_rows(page: str) -> None:
    rows = table_cells(page, "train-and-eval-hacking-table")
    assert len(rows) == 4 * 3  # four cells x (all, first quarter, last quarter)
    # rule-soft-grpo, last quarter: reward passes 0.70, reference 0.40 -> gap +0.300, agreement 0.700
    last = rows[5]
    assert [text for _, text in last] == ["last quarter", "16", "0.700", "0.400", "+0.300", "0.700"]


def test_distillation_and_curves(fixture_runs: dict[str, Path], page: str) -> None:
    assert "distilled-student" in page and "not met" in page
    assert [text for _, text in table_cells(page, "train-and-eval-distillation-data")[0]] == ["train", "40", "10",
                                                                                            "0.300"]
    section = build(load_run(fixture_runs["train-and-eval"]))
    assert section is not None
    context = section.context
    assert [label for label, _ in context["distillation"]["metrics"]] == ["Cohen's κ", "accuracy", "FPR"]
    # only the two cells with a log.jsonl get curves, overlaid: one chart per quantity their logs hold (reward,
    # accuracy, KL, length, hacking gap), each with both cells as lines
    curves = context["curves"]
    assert [(c["cell"], c["n_steps"], c["last_step"]) for c in curves["cells"]] == [
        ("rule-binary-grpo", 4, 4), ("rule-soft-grpo", 4, 4)]
    titles = [re.search(r'aria-label="([^"]+)"', svg).group(1) for svg in curves["charts"]]  # type: ignore[union-attr]
    assert titles == ["Reward", "Accuracy (reference judge)", "KL to the reference policy", "Completion length",
                      "Reward-hacking gap"]
    for svg in curves["charts"]:
        assert "rule-binary-grpo" in svg and "rule-soft-grpo" in svg  # both cells in the legend of every chart
    assert context["model_judge"] == "distill/judge.yaml"


def test_markup_in_results_is_escaped(page: str) -> None:
    assert TAE_MARKUP_REWARD not in page
    assert "&lt;i&gt;judge&lt;/i&gt;:soft" in page


def test_column_label_breaks_after_underscores_and_escapes() -> None:
    assert str(column_label("unit_conversion")) == "unit_<wbr>conversion"
    assert str(column_label("a<b>_c")) == "a&lt;b&gt;_<wbr>c"
    assert str(column_label("all")) == "all items"


@pytest.mark.parametrize(("values", "expected"), [
    ({"a": 0.5, "b": 0.7, "c": 0.7}, {"b", "c"}),  # ties all win
    ({"a": 0.5, "b": None}, set()),  # a single defined row: nothing to compare
    ({"a": 0.0, "b": 0.0, "c": 0.0}, set()),  # everyone ties: bold everywhere would say nothing
    ({"a": -0.1, "b": -0.2}, {"a"}),
])
def test_best_rows(values: dict[str, float | None], expected: set[str]) -> None:
    assert best_rows(values) == expected


@pytest.mark.parametrize(("block", "expected"), [
    ({"estimate": 0.1, "ci_low": 0.02, "ci_high": 0.2}, "delta-up"),
    ({"estimate": -0.1, "ci_low": -0.2, "ci_high": -0.01}, "delta-down"),
    ({"estimate": 0.1, "ci_low": 0.0, "ci_high": 0.2}, ""),  # touches 0: not significant
    ({"estimate": 0.1, "ci_low": None, "ci_high": None}, ""),
    (None, ""),
])
def test_difference_css(block: dict[str, Any] | None, expected: str) -> None:
    assert difference_css(block) == expected


def test_as_percent() -> None:
    assert as_percent({"estimate": 0.458, "ci_low": 0.375, "ci_high": None}) == pytest.approx(
        {"estimate": 45.8, "ci_low": 37.5, "ci_high": None})
    assert as_percent({"estimate": None}) is None


def _run(results: dict[str, Any], command: str = "train-and-eval") -> Run:
    return Run(Path("/nonexistent/tae"), {"command": command}, results, [], [], [])


def test_missing_parts_are_left_out() -> None:
    # schema only: nothing to show beyond the metadata
    assert build(_run({"schema": SCHEMA})) is None
    # a cell whose exploration log had no verdict pair ({"n": 0}), no distillation, no table
    run = _run({"schema": SCHEMA, "cells": {"rule-binary-grpo": {"reward": "contains:binary",
                                                                 "reward_hacking": {"n": 0}}},
                "distillation": None})
    section = build(run)
    assert section is not None
    assert section.context["table"] is None and section.context["distillation"] is None
    assert section.context["hacking"][0]["empty"] is True
    assert hacking_chart(section.context["hacking"]) is None  # no gap to draw
    assert [suffix for suffix, _ in section.subsections] == ["table", "hacking"]
    assert "no exploration step with both verdicts" in render_html([run])


def test_schema_dispatch_and_command_fallback() -> None:
    assert [s.key for s in build_sections(_run({"schema": SCHEMA, "cells": {"x": {}}}))] == ["metadata",
                                                                                             "train-and-eval"]
    # results written without a schema are recognised by the command that wrote them
    assert run_schema(_run({"recipe": "mini"})) == SCHEMA
    assert run_schema(_run({"recipe": "mini"}, command="train")) == "rlvr-bench/train/v1"


def test_headlines_and_comparison_of_two_runs(fixture_runs: dict[str, Path], page: str) -> None:
    run = load_run(fixture_runs["train-and-eval"])
    metrics = headline_metrics(run)
    assert metrics["train-and-eval.accuracy.model-soft-grpo"].value["estimate"] == 0.62
    assert metrics["train-and-eval.versus_sft.rule-soft-grpo"].value["estimate"] == -0.05
    assert metrics["train-and-eval.gap.rule-soft-grpo"].value == 0.30
    # the same run twice: one comparison table, every difference exactly 0
    comparison = build_comparison([LabelledRun("1", run), LabelledRun("2", run)])
    assert comparison is not None
    table = comparison.context["tables"][0]
    assert table["schema"] == SCHEMA and table["n_significant"] == 0
    deltas = [d["value"] for _, rows in table["groups"] for row in rows for d in row["deltas"] if d]
    assert len(deltas) == len(metrics) and all(d == 0 for d in deltas)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_hacking_rows_keep_every_field() -> None:
    rows = hacking_rows({"cells": {"c": {"reward": "r", "reward_hacking": {"first_quarter": {"n": 4, "gap": 0.5}}}}},
                        _run({}))
    windows = dict(rows[0]["windows"])
    assert windows["first quarter"] == {"n": 4, "reward_pass_rate": None, "reference_pass_rate": None, "gap": 0.5,
                                        "agreement": None}
    assert windows["all steps"]["gap"] is None and rows[0]["empty"] is False


def test_shift_chart_draws_labels_and_is_deterministic() -> None:
    rows = [("rule-soft-grpo", 0.05, 0.30), ("model-soft-grpo", None, 0.1)]
    figures.reset_figure_ids()
    svg = figures.shift_chart(rows, "gap", "reward − reference", start_label="first", end_label="last")
    figures.reset_figure_ids()
    assert figures.shift_chart(rows, "gap", "reward − reference", start_label="first", end_label="last") == svg
    assert svg.startswith("<svg") and "rule-soft-grpo" in svg and "model-soft-grpo" in svg and "<image" not in svg
