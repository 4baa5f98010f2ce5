"""`rlvr-bench train-and-eval`: the study's experiment in one command.

From one SFT start, train a matrix of policies — rewards {rule binary, rule soft,
model binary, model soft} x algorithms — then evaluate every policy (and the SFT
start) with the *same* reference judge on the *same* held-out questions, and
report the study's Table-1 shape (rows = method, columns = domains + average) with
clustered-bootstrap CIs and paired differences against the SFT start.

The model-based reward is, as in the study (Su et al. 2025), a small verifier
distilled from a stronger teacher's YES/NO verdicts collected during RL
exploration: the rule-reward runs go first, their exploration logs hold the
teacher's (= reference judge's) verdicts on every sampled completion, and the
student trained on those becomes the model reward of the remaining runs. Give
``model_judge`` (e.g. ``rm7b``) to skip distillation and use an existing verifier.

Layout of the run directory (each stage is resumable: a finished stage is skipped)::

    OUT/sft/                       the SFT start (policy/ and its info)
    OUT/cells/<reward>-<algo>/     one `rlvr-bench train` run per cell (log, exploration judgments, policy)
    OUT/distill/                   the distilled student (a `rlvr-bench distill` run, judge.yaml)
    OUT/evaluation/<policy>/       held-out responses and verdicts per policy (responses.jsonl, judgments.jsonl)
    OUT/results.json               Table 1, reward-hacking gaps, student-vs-teacher agreement
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlvr_bench.errors import UserError
from rlvr_bench.judges.registry import resolve_preset
from rlvr_bench.pipelines.engine import PolicyEvaluation
from rlvr_bench.records import Item, Judgment, Response
from rlvr_bench.rundir import RESULTS_FILE, RunWriter, write_json
from rlvr_bench.stats.tables import reward_reference_agreement
from rlvr_bench.training.exploration import read_exploration_logs
from rlvr_bench.training.matrix_evaluation import (
    EVALUATION_TIMES,
    SFT_ROW,
    build_judges,
    evaluate_baselines,
    evaluate_policies,
    judge_family_gaps,
    policy_table,
)
from rlvr_bench.training.recipes import ALL_REWARD_KINDS, REWARD_KINDS, Recipe, load_recipe, recipe_paths
from rlvr_bench.training.rewards import RewardChoice

RESULTS_SCHEMA = "rlvr-bench/train-and-eval/v1"
DEFAULT_RULE_JUDGES = {"binary": "contains", "soft": "jaccard"}

Say = Callable[[str], None]


@dataclass(frozen=True)
class MatrixRequest:
    """What `rlvr-bench train-and-eval` runs; see the CLI help for each option."""

    recipe: str
    out: Path
    #: algorithms, one cell per reward kind each (empty: the recipe's ``algorithm.name``)
    algorithms: tuple[str, ...] = ()
    #: reward kinds (None: the recipe's ``matrix.rewards``)
    rewards: tuple[str, ...] | None = None
    #: run the recipe's quick variant (``<recipe>-quick``): a smoke test of the whole pipeline
    quick: bool = False
    #: an existing model judge for the model rewards (skips distillation)
    model_judge: str | None = None
    #: student of the distillation: "minilm-classifier", "tiny" (generative) or a checkpoint (None: the recipe's
    #: ``matrix.student``)
    student: str | None = None
    rule_binary_judge: str = DEFAULT_RULE_JUDGES["binary"]
    rule_soft_judge: str = DEFAULT_RULE_JUDGES["soft"]
    #: RL steps per cell (None: the recipe's ``matrix.steps``, else its ``train.steps``)
    steps: int | None = None
    #: extra procedural questions, judged by the teacher, added to the distillation data (None: the recipe's)
    distill_extra_questions: int | None = None
    #: distil from a seeded sample of at most this many teacher verdicts (None: the recipe's, which may be all)
    distill_max_examples: int | None = None
    #: imported baselines (``rlvr-bench eval --policy`` specs: NAME=PATH, hub id, openai:..., responses:FILE.jsonl),
    #: judged by the reference judge on the same held-out items, as Table 1's extra rows
    baselines: tuple[str, ...] = ()
    #: trl's ``report_to`` for every RL cell (None: the recipe's ``train.report_to``)
    report_to: tuple[str, ...] | None = None
    #: judges of the held-out evaluation, each with its own Table 1 (None: the recipe's
    #: ``matrix.evaluation_judges``, else its reference judge alone)
    evaluation_judges: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # checked here, before the SFT start trains: a cell's recipe would refuse it only after that
        if self.steps is not None and self.steps < 1:
            raise UserError(f"--steps must be at least 1, got {self.steps}")

    def recipe_name(self) -> str:
        if not self.quick:
            return self.recipe
        quick = f"{self.recipe}-quick"
        if quick not in recipe_paths():
            raise UserError(f"recipe {self.recipe!r} has no quick variant (expected training/{quick}.yaml)")
        return quick

    def with_recipe_defaults(self, recipe: Recipe) -> MatrixRequest:
        """The request with every option left unset taken from the recipe's ``matrix`` section."""
        spec = recipe.matrix
        return dataclasses.replace(
            self, student=self.student or spec.student, rewards=self.rewards or spec.rewards,
            algorithms=self.algorithms or (recipe.algorithm.name,),
            steps=self.steps if self.steps is not None else spec.steps,
            distill_extra_questions=(self.distill_extra_questions if self.distill_extra_questions is not None
                                     else spec.distill_extra_questions),
            distill_max_examples=self.distill_max_examples or spec.distill_max_examples,
            model_judge=self.model_judge or spec.model_judge,
            evaluation_judges=self.evaluation_judges or spec.evaluation_judges or None)

    def judges_of_evaluation(self, reference: str) -> tuple[str, ...]:
        """The evaluation judges, the reference judge first (added when not named): its Table 1 is the headline."""
        return tuple(dict.fromkeys((reference, *(self.evaluation_judges or ()))))


@dataclass(frozen=True)
class Cell:
    """One training run of the matrix."""

    reward_kind: str
    algorithm: str

    @property
    def name(self) -> str:
        return f"{self.reward_kind}-{self.algorithm}"

    @property
    def uses_model(self) -> bool:
        return self.reward_kind.startswith("model")


def plan_cells(request: MatrixRequest) -> list[Cell]:
    """The cells in the order they train. Without a given model judge, rule cells first: their exploration logs
    are the distillation data of the model cells. With one, model cells first: a model reward is the likelier to
    fail (a checkpoint, memory), and it should fail in the first minutes, not after the rule cells' hours."""
    rewards = request.rewards or REWARD_KINDS
    unknown = [kind for kind in rewards if kind not in ALL_REWARD_KINDS]
    if unknown:
        raise UserError(f"unknown reward kind {unknown[0]!r}; choose from {', '.join(ALL_REWARD_KINDS)}")
    cells = [Cell(kind, algo) for algo in request.algorithms for kind in dict.fromkeys(rewards)]
    given = request.model_judge is not None
    return sorted(cells, key=lambda cell: cell.uses_model != given)


def _done(folder: Path) -> bool:
    return (folder / RESULTS_FILE).is_file()


def _read(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    return data


# ---------------------------------------------------------------- stages


def run_sft_start(recipe: Recipe, folder: Path, say: Say) -> Path:
    """Build and warm-start the tiny policy once; every cell starts from this checkpoint."""
    policy_dir = folder / "policy"
    if _done(folder):
        say(f"SFT start: reusing {policy_dir}")
        return policy_dir
    if not recipe.policy.is_tiny:
        # other recipes start RL from the checkpoint as given (the study's base model, smollm2's folder)
        from rlvr_bench.checkpoints import resolve_checkpoint

        return Path(resolve_checkpoint(recipe.policy.source))
    import datasets
    import torch

    from rlvr_bench.training.rl import _tiny_policy, load_training_data
    from rlvr_bench.training.tiny_models import save_policy

    datasets.disable_progress_bars()
    if recipe.runtime.threads:
        torch.set_num_threads(recipe.runtime.threads)
    torch.manual_seed(recipe.seed)
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    model, tokenizer, info = _tiny_policy(recipe, load_training_data(recipe), folder, say)
    save_policy(model, tokenizer, policy_dir, recipe.policy.tiny)
    from rlvr_bench.training.evaluation import save_policy_settings

    save_policy_settings(policy_dir, recipe)
    write_json(folder / RESULTS_FILE, {"policy": info, "wall_time_s": round(time.perf_counter() - began, 1)})
    return policy_dir


def cell_recipe(recipe: Recipe, cell: Cell, start: Path, reward: RewardChoice, reference_judge: str,
                steps: int | None) -> Recipe:
    """The recipe of one cell: RL from the SFT start with this reward; evaluation happens once, later."""
    base = dataclasses.replace(
        recipe,
        name=f"{recipe.name}/{cell.name}",
        policy=dataclasses.replace(recipe.policy, source=str(start)),
        sft=None,
        eval=dataclasses.replace(recipe.eval, enabled=False),
        reward=dataclasses.replace(recipe.reward, reference_judge=reference_judge),
    )
    return base.with_overrides(reward=reward, algorithm=cell.algorithm, steps=steps)


def run_cell(recipe: Recipe, folder: Path, say: Say) -> dict[str, Any]:
    if _done(folder):
        say(f"{folder.name}: finished earlier, skipped")
        return _read(folder)
    from rlvr_bench.training.rl import run_training

    say(f"--- {folder.name}: reward {recipe.reward.choice}, {recipe.algorithm.name}, {recipe.train.steps} steps")
    return run_training(recipe, folder, say=lambda line: say(f"  {line}"))


def run_distillation(request: MatrixRequest, teacher: str, sources: Sequence[Path], folder: Path, seed: int,
                     say: Say) -> tuple[str, dict[str, Any]]:
    """Distil the teacher's exploration verdicts into a student judge; returns (preset path, results)."""
    preset = folder / "judge.yaml"
    if _done(folder) and preset.is_file():
        say("distillation: finished earlier, reused")
        return str(preset), _read(folder)
    from rlvr_bench.training.distill import DistillRequest, run_distill
    from rlvr_bench.training.distill_students import default_settings

    assert request.student is not None and request.distill_extra_questions is not None
    say(f"--- distilling a {request.student} student from {teacher}'s verdicts in {len(sources)} exploration logs")
    distill_request = DistillRequest(
        teacher=teacher, student=request.student, out=folder, inputs=tuple(sources),
        generate_questions=request.distill_extra_questions,
        seed=seed, name="distilled-student", n_bootstrap=1000,
        settings=default_settings(request.student, max_train_examples=request.distill_max_examples),
    )
    results = run_distill(distill_request, say=lambda line: say(f"  {line}"))
    return str(preset), results


def stage_wall_times(out: Path) -> dict[str, float]:
    """Wall time of every stage that produced this run directory (SFT start, cells, distillation, evaluations),
    read from the stages' own records: their sum is what the whole experiment cost, however often it resumed."""
    times: dict[str, float] = {}
    for label, path in [("sft", out / "sft" / RESULTS_FILE),
                        *((f"cells/{d.name}", d / RESULTS_FILE) for d in sorted((out / "cells").glob("*"))),
                        ("distillation", out / "distill" / RESULTS_FILE)]:
        if path.is_file():
            value = json.loads(path.read_text(encoding="utf-8")).get("wall_time_s")
            if isinstance(value, int | float):
                times[label] = float(value)
    evaluations = out / "evaluation" / EVALUATION_TIMES
    if evaluations.is_file():
        times["evaluation"] = round(sum(json.loads(evaluations.read_text(encoding="utf-8")).values()), 1)
    return times


def hacking_gap(cell_results: dict[str, Any], cell_folder: Path) -> dict[str, Any]:
    """How far the training reward drifted from the reference judge on the same completions.

    Read from the cell's exploration logs (every rank's): the reward judge's pass rate minus the
    reference judge's (positive = the policy pleases the reward more than the reference; the
    study's "reward hacking") and their agreement, over all steps and over the first and the last
    quarter of training steps (:func:`~rlvr_bench.stats.tables.reward_reference_agreement`).
    """
    by_response: dict[str, dict[str, bool | None]] = {}
    step_of: dict[str, int] = {}
    for row in read_exploration_logs(cell_folder):
        by_response.setdefault(row.judgment.response_id, {})[row.role] = row.judgment.verdict.passed
        step_of[row.judgment.response_id] = row.step
    reward_judge = str(cell_results.get("reward", "")).split(":")[0]
    # a reward judge that is also the reference is logged once (training.rewards.JudgeReward): gap 0 by design
    reference_role = "reward" if reward_judge == cell_results.get("reference_judge") else "reference"
    pairs = [(step_of[rid], v.get("reward"), v.get(reference_role)) for rid, v in by_response.items()]
    steps = sorted({step for step, reward, reference in pairs if reward is not None and reference is not None})
    if not steps:
        return {"n": 0}
    quarter = max(1, len(steps) // 4)

    def summary(chosen: set[int]) -> dict[str, Any]:
        rows = [(reward, reference) for step, reward, reference in pairs if step in chosen]
        metrics = reward_reference_agreement([r for r, _ in rows], [g for _, g in rows])
        if not metrics:
            return {"n": 0}
        return {"n": int(metrics["n"]), **{key: metrics[key] for key in
                                           ("reward_pass_rate", "reference_pass_rate", "gap", "agreement")}}

    return {"all": summary(set(steps)), "first_quarter": summary(set(steps[:quarter])),
            "last_quarter": summary(set(steps[-quarter:]))}


def _evaluation_records(scored: dict[str, PolicyEvaluation]) -> tuple[list[Response], list[Judgment]]:
    responses = [r for evaluation in scored.values() for r in evaluation.responses]
    return responses, [j for evaluation in scored.values() for j in evaluation.judgments]


# ---------------------------------------------------------------- the whole experiment


def _plan(request: MatrixRequest) -> tuple[Recipe, MatrixRequest, list[Cell], tuple[str, ...]]:
    """The recipe (with the request's tracker override), the request with the recipe's defaults filled in, the
    cells in training order and the evaluation judges (the reference judge first)."""
    recipe = load_recipe(request.recipe_name())
    if request.report_to is not None:
        recipe = recipe.with_overrides(report_to=request.report_to)
    request = request.with_recipe_defaults(recipe)
    return recipe, request, plan_cells(request), request.judges_of_evaluation(recipe.reward.evaluation_judge)


def matrix_dry_run(request: MatrixRequest) -> dict[str, Any]:
    """Validate the whole matrix without loading weights: the recipe, every cell's recipe and trl config (as
    `rlvr-bench train --dry-run` checks one run), the evaluation, rule and model judges and the baselines."""
    from rlvr_bench.judges.registry import parameter_problem
    from rlvr_bench.training.rl import dry_run, load_training_data

    recipe, request, cells, judge_names = _plan(request)
    reference = recipe.reward.evaluation_judge
    for name in dict.fromkeys([*judge_names, *([request.model_judge] if request.model_judge else [])]):
        problem = parameter_problem(resolve_preset(name).spec)
        if problem is not None:
            raise UserError(problem)
    report: dict[str, Any] = {"recipe": recipe.name, "evaluation_judges": list(judge_names),
                              "model_judge": request.model_judge or f"distilled ({request.student} student)",
                              "cells": {}}
    for cell in cells:
        kind, mode = cell.reward_kind.split("-")
        judge = {"model": request.model_judge or reference, "teacher": reference}.get(kind) or (
            request.rule_binary_judge if mode == "binary" else request.rule_soft_judge)
        # a cell starts from the SFT stage's output, which does not exist yet: validate it on the recipe's policy
        checked = dataclasses.replace(cell_recipe(recipe, cell, Path("sft"), RewardChoice(judge, mode), reference,
                                                  request.steps), policy=recipe.policy)
        cell_report = dry_run(checked)
        report["cells"][cell.name] = {"reward": f"{judge}:{mode}", "algorithm": cell.algorithm,
                                      "steps": checked.train.steps, "launch": cell_report["launch"]}
    if request.baselines:  # their rows are checked against the held-out items (no data is loaded otherwise)
        items = load_training_data(recipe).evaluation
        report["baselines"] = [spec.to_json() for spec in _checked_baselines(request.baselines, cells, items)]
    return report


def train_and_eval(request: MatrixRequest, say: Say = print) -> dict[str, Any]:
    """Run (or resume) the matrix and write ``results.json``; returns its content."""
    from rlvr_bench.report import write_run_report
    from rlvr_bench.training.rl import load_training_data

    began = time.perf_counter()
    recipe, request, cells, judge_names = _plan(request)
    reference = recipe.reward.evaluation_judge
    for name in {*judge_names, request.rule_binary_judge, request.rule_soft_judge,
                 *([request.model_judge] if request.model_judge else [])}:
        resolve_preset(name)  # every judge name is checked before hours of work
    items = load_training_data(recipe).evaluation
    baselines = _checked_baselines(request.baselines, cells, items)
    out = request.out
    # written in place, so that a re-run with the same --out resumes the finished stages
    writer = RunWriter(out, "train-and-eval", {"request": dataclasses.asdict(request), "recipe": recipe.to_json()},
                       in_place=True)

    start = run_sft_start(recipe, out / "sft", say)
    cell_results, model_judge, distill_results = _run_cells(request, recipe, cells, start, say)
    policies = {SFT_ROW: start, **{name: out / "cells" / name / "policy" for name in cell_results}}
    judges = build_judges(judge_names)
    scored = evaluate_policies(recipe, policies, items, judges, out / "evaluation", say)
    scored.update(evaluate_baselines(baselines, items, judges, recipe.eval.max_new_tokens,
                                     out / "evaluation" / "baselines", say))
    distillation = _distill_summary(distill_results)
    n_bootstrap, seed = recipe.eval.bootstrap_samples, recipe.seed
    by_judge = {}
    for name in judge_names:
        table = policy_table(scored, items, name, n_bootstrap, seed)
        by_judge[name] = {"table": table, "findings": findings_of({p: scored[p] for p in policies}, items, name,
                                                                   table, request.algorithms, distillation, recipe)}
    cells_info = {name: {"reward_kind": res["reward_kind"], "reward_judge": res["reward_judge"]}
                  for name, res in cell_results.items()}
    stages = stage_wall_times(out)
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "recipe": recipe.name,
        "seed": recipe.seed,
        "reference_judge": reference,
        "evaluation_judges": list(judge_names),
        "model_judge": model_judge,
        "rule_judges": {"binary": request.rule_binary_judge, "soft": request.rule_soft_judge},
        "n_eval_items": len(items),
        # the reference judge's Table 1 and findings; every evaluation judge's in "by_judge"
        "table": by_judge[reference]["table"],
        "findings": by_judge[reference]["findings"],
        "by_judge": by_judge,
        "judge_family_gaps": judge_family_gaps(scored, items, cells_info, judge_names, model_judge, n_bootstrap,
                                               seed),
        "cells": {name: {"reward": str(res.get("reward")), "algorithm": res.get("algorithm"),
                         "rl_wall_time_s": res.get("rl_wall_time_s"), "peak_rss_gb": res.get("peak_rss_gb"),
                         "reward_hacking": hacking_gap(res, out / "cells" / name)}
                  for name, res in cell_results.items()},
        "distillation": distillation,
        "baselines": [spec.to_json() for spec in baselines],
        "stage_wall_time_s": stages,
        "compute_wall_time_s": round(sum(stages.values()), 1),
        # this invocation only (a resumed run reuses finished stages)
        "wall_time_s": round(time.perf_counter() - began, 1),
    }
    responses, judgments = _evaluation_records(scored)
    write_run_report(writer.write_judged_run(items, responses, judgments, results))
    return results


def _run_cells(request: MatrixRequest, recipe: Recipe, cells: Sequence[Cell], start: Path,
               say: Say) -> tuple[dict[str, dict[str, Any]], str | None, dict[str, Any] | None]:
    """Train (or reuse) every cell in order, distilling the model reward first when none was given; returns
    each cell's results (with its reward kind and judge), the model judge, and the distillation's results."""
    out, reference = request.out, recipe.reward.evaluation_judge
    cell_results: dict[str, dict[str, Any]] = {}
    model_judge = request.model_judge
    distill_results: dict[str, Any] | None = None
    for cell in cells:
        if cell.uses_model and model_judge is None:
            sources = [out / "cells" / c.name for c in cells if not c.uses_model and (out / "cells" / c.name).is_dir()]
            if not sources:
                raise UserError("model rewards need --model-judge, or a rule reward run whose exploration "
                                "verdicts can be distilled (add rule-binary to --rewards)")
            model_judge, distill_results = run_distillation(request, reference, sources, out / "distill",
                                                            recipe.seed, say)
        kind, mode = cell.reward_kind.split("-")
        judge = {"model": model_judge, "teacher": reference}.get(kind) or (
            request.rule_binary_judge if mode == "binary" else request.rule_soft_judge)
        assert judge is not None
        result = run_cell(cell_recipe(recipe, cell, start, RewardChoice(judge, mode), reference, request.steps),
                          out / "cells" / cell.name, say)
        cell_results[cell.name] = {**result, "reward_kind": cell.reward_kind, "reward_judge": judge}
    # Table 1's rows in the order the recipe names them, whatever order they trained in
    planned = [Cell(kind, algo).name for algo in request.algorithms for kind in dict.fromkeys(request.rewards or ())]
    ordered = {name: cell_results[name] for name in planned if name in cell_results}
    return {**ordered, **cell_results}, model_judge, distill_results


def _checked_baselines(texts: Sequence[str], cells: Sequence[Cell], items: Sequence[Item]) -> list[Any]:
    """Parsed and checked baseline specs (folders, keys, every row of a responses file) before any training;
    names must not clash with the matrix's rows."""
    from rlvr_bench.policies import check_policy, parse_policy_specs, read_policy_responses

    specs = parse_policy_specs(list(texts))
    taken = {SFT_ROW, *(cell.name for cell in cells)}
    for spec in specs:
        if spec.name in taken:
            raise UserError(f"--baseline {spec.raw!r}: the name {spec.name!r} is a row of the matrix; "
                            f"name it with NAME=SPEC")
        check_policy(spec)
        if not spec.generates:
            read_policy_responses(spec, items, " (not a held-out item of this recipe: see the run's items.jsonl)")
    return specs


def findings_of(scored: dict[str, PolicyEvaluation], items: Sequence[Item], judge: str, table: dict[str, Any],
                algorithms: Sequence[str], distillation: dict[str, Any] | None, recipe: Recipe) -> dict[str, Any]:
    """The study's directional findings (:mod:`rlvr_bench.training.findings`) on this matrix's policies."""
    from rlvr_bench.training.evaluation import paired_difference
    from rlvr_bench.training.findings import study_findings

    def compare(a: str, b: str) -> dict[str, Any]:
        result: dict[str, Any] = paired_difference(scored[b], scored[a], items, judge, recipe.eval.bootstrap_samples,
                                                   recipe.seed)["all"]
        return result

    estimates = {name: row["all"]["accuracy"]["estimate"] for name, row in table["rows"].items()}
    return study_findings([name for name in scored if name != SFT_ROW], algorithms, compare, estimates, distillation,
                          start=SFT_ROW if SFT_ROW in scored else None)


def _distill_summary(results: dict[str, Any] | None) -> dict[str, Any] | None:
    """The student-vs-teacher figures of the distillation run, for Table 1's caption."""
    if results is None:
        return None
    return {"teacher": results.get("teacher"), "student": results.get("student"),
            "data": results.get("data"), "student_vs_teacher": results.get("held_out", {}).get("student_vs_teacher"),
            "target_kappa": results.get("target_kappa"), "meets_target": results.get("meets_target"),
            "wall_time_s": results.get("wall_time_s")}
