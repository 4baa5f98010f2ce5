"""The real-policy matrix (`smol-matrix`): SmolLM2 trained with rule and `smol-verifier` rewards, every policy judged by
`auto` and `smol-verifier`. Fast tests check the plan, the dry run and the evaluation stage's statistics; a slow one
runs the recipe's quick variant (2 steps per cell), kills it after its first cell and resumes it there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_run import run_main
from scipy import stats as scipy_stats

from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.stats.policy_metrics import judge_gap_change
from rlvr_bench.training.matrix import MatrixRequest, plan_cells
from rlvr_bench.training.matrix_evaluation import own_evaluation_judge, read_cached, write_cached
from rlvr_bench.training.recipes import load_recipe


def _request(recipe: str = "smol-matrix", **options: object) -> MatrixRequest:
    return MatrixRequest(recipe=recipe, out=Path("x"), **options).with_recipe_defaults(load_recipe(recipe))  # type: ignore[arg-type]


def test_a_given_model_judge_trains_the_model_cells_first_under_the_recipes_algorithm() -> None:
    request = _request()
    assert request.algorithms == ("dr_grpo",)  # the recipe's algorithm, not a fixed default
    assert [cell.reward_kind for cell in plan_cells(request)] == ["model-binary", "model-soft", "rule-binary",
                                                                 "rule-soft"]
    # without one, the rule cells' exploration logs are the distillation data: rule cells first
    distilled = MatrixRequest(recipe="mini", out=Path("x"), algorithms=("grpo",))
    assert plan_cells(distilled)[0].reward_kind.startswith("rule")


def test_the_reference_judge_is_the_first_evaluation_judge() -> None:
    assert _request().judges_of_evaluation("auto") == ("auto", "smol-verifier")
    assert _request(evaluation_judges=("smol-verifier", "auto")).judges_of_evaluation("auto") == ("auto",
                                                                                                  "smol-verifier")
    assert MatrixRequest(recipe="mini", out=Path("x")).judges_of_evaluation("numeric") == ("numeric",)
    # a judge named twice on the command line is judged once
    assert _request(evaluation_judges=("auto", "contains", "contains")).judges_of_evaluation("auto") == ("auto",
                                                                                                      "contains")


def test_dry_run_validates_every_cell_without_loading_weights(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["train-and-eval", "--recipe", "smol-matrix", "--dry-run"], capsys)
    assert code == 0, err
    assert "4 cells valid, evaluated by auto, smol-verifier" in out
    for cell in ("rule-binary", "rule-soft", "model-binary", "model-soft"):
        assert f'"{cell}-dr_grpo"' in out
    assert '"reward": "smol-verifier:soft"' in out and '"reward": "jaccard:soft"' in out


def test_a_judge_named_twice_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "twice.yaml"
    text = Path("training/smol-matrix-quick.yaml").read_text(encoding="utf-8")
    recipe.write_text(text.replace("evaluation_judges: [auto, smol-verifier]", "evaluation_judges: [auto, auto]"))
    code, _, err = run_main(["train-and-eval", "--recipe", str(recipe), "--dry-run"], capsys)
    assert code == 2
    assert "evaluation_judges names a judge twice" in err and len(err.strip().splitlines()) == 1


def test_own_family_judge() -> None:
    judges = ("auto", "smol-verifier")
    assert own_evaluation_judge("model-soft", "smol-verifier", judges, "smol-verifier") == "smol-verifier"
    assert own_evaluation_judge("rule-binary", "contains", judges, "smol-verifier") == "auto"
    assert own_evaluation_judge("rule-binary", "auto", ("smol-verifier", "auto"), "smol-verifier") == "auto"
    assert own_evaluation_judge("model-binary", "rm7b", judges, "rm7b") is None  # its family does not evaluate


def test_judge_gap_change_is_the_difference_in_differences_with_a_paired_ci() -> None:
    rng = np.random.default_rng(3)
    n = 300
    before_own, before_other = rng.integers(0, 2, n), rng.integers(0, 2, n)
    # the own judge sees many more improvements than the other
    after_own = np.maximum(before_own, rng.random(n) < 0.3).astype(float)
    after_other = np.maximum(before_other, rng.random(n) < 0.05).astype(float)
    after_own[7] = np.nan  # an unscored verdict leaves its question out of every term
    matrices = [m.reshape(-1, 1).astype(float) for m in (after_own, after_other, before_own, before_other)]
    gap = judge_gap_change(*matrices, n_bootstrap=2000, seed=0)
    keep = ~np.isnan(after_own)
    per_item = (after_own - before_own - (after_other - before_other))[keep]
    assert gap.n == n - 1
    assert gap.estimate == pytest.approx(per_item.mean())
    reference = scipy_stats.bootstrap((per_item,), np.mean, n_resamples=2000, method="percentile",
                                      random_state=np.random.default_rng(0)).confidence_interval
    assert gap.ci_low == pytest.approx(reference.low, abs=0.015)
    assert gap.ci_high == pytest.approx(reference.high, abs=0.015)
    assert gap.ci_low > 0  # the data hold the signal: the interval says so


def _items() -> list[Item]:
    return [Item(id=f"q{i}", question=f"2 + {i}?", reference=str(2 + i), domain="math", answer_type="numeric")
            for i in range(4)]


def test_a_judge_added_later_judges_the_cached_responses(tmp_path: Path) -> None:
    from rlvr_bench.judges.registry import judge as build_judge
    from rlvr_bench.pipelines.engine import PolicyEvaluation

    items = _items()
    responses = [Response(item_id=item.id, text=f"The answer is {item.reference}.", source="sft",
                          id=f"sft-{item.id}") for item in items]
    judgments = [Judgment("numeric", r.item_id, r.id, Verdict(True)) for r in responses]
    write_cached(tmp_path / "sft", PolicyEvaluation("sft", responses, judgments, None))
    said: list[str] = []
    judges = [build_judge("numeric"), build_judge("contains")]
    cached = read_cached(tmp_path / "sft", "sft", None, items, judges, said.append)
    assert cached is not None
    assert {j.judge for j in cached.judgments} == {"numeric", "contains"}
    assert "judged by contains" in said[-1]
    # the cache now holds both, so a third read judges nothing
    again = read_cached(tmp_path / "sft", "sft", None, items, judges, said.append)
    assert again is not None and said[-1] == "evaluation of sft: reused"
    assert json.loads((tmp_path / "wall_times.json").read_text())["sft"] >= 0


@pytest.mark.slow
def test_quick_matrix_runs_and_resumes_at_the_cell_it_was_killed_in(tmp_path: Path) -> None:
    out = tmp_path / "matrix"
    command = [str(Path(sys.executable).parent / "rlvr-bench"), "train-and-eval", "--recipe", "smol-matrix", "--quick",
               "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = out / "cells" / "model-binary-dr_grpo" / "results.json"
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 900
    while not first.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert first.is_file(), process.stderr.read() if process.stderr else ""
    process.send_signal(signal.SIGKILL)  # as a session's end kills it: no handler runs
    process.wait()
    stamp = first.stat().st_mtime_ns
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "model-binary-dr_grpo: finished earlier, skipped" in resumed.stderr
    assert first.stat().st_mtime_ns == stamp
    results = json.loads((out / "results.json").read_text())
    assert results["evaluation_judges"] == ["auto", "smol-verifier"]
    for judge in ("auto", "smol-verifier"):
        table = results["by_judge"][judge]["table"]
        assert list(table["rows"]) == ["sft", "rule-binary-dr_grpo", "rule-soft-dr_grpo", "model-binary-dr_grpo",
                                       "model-soft-dr_grpo"]
        assert all(row["all"]["accuracy"]["n"] == 8 for row in table["rows"].values())
    gaps = results["judge_family_gaps"]
    assert gaps["model-soft-dr_grpo"]["own_judge"] == "smol-verifier"
    assert gaps["rule-binary-dr_grpo"]["own_judge"] == "auto"
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "judged by <code>smol-verifier</code>" in report and 'id="train-and-eval-family-table"' in report
