"""The held-out evaluation stage of `rlvr-bench train-and-eval`: every policy of the matrix (and each imported
baseline) answers the same held-out questions once, and every evaluation judge judges the same responses.

Each policy's responses and verdicts are cached in ``OUT/evaluation/<policy>/``; a judge added on a later run
judges the cached responses (no new generation). Per judge the stage gives Table 1
(:func:`policy_table`); across judges, :func:`judge_family_gaps` gives each cell's held-out reward-hacking
gap: how much more the evaluation judge of its own reward's family credits its change from the start than
another evaluation judge does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rlvr_bench.judges.base import Judge
from rlvr_bench.judges.registry import judge as build_named_judge
from rlvr_bench.pipelines.engine import PolicyEvaluation, judge_all
from rlvr_bench.prompting import GenerationSettings
from rlvr_bench.records import Item
from rlvr_bench.rundir import write_json

Say = Callable[[str], None]
#: each policy's evaluation wall time, beside the caches (a resumed run still knows what the stage cost)
EVALUATION_TIMES = "wall_times.json"
#: the row of the start every RL cell began from (the baseline of every paired difference)
SFT_ROW = "sft"


def build_judges(names: Sequence[str]) -> list[Judge]:
    return [build_named_judge(name) for name in names]


def evaluate_policies(recipe: Any, policies: dict[str, Path], items: Sequence[Item], judges: Sequence[Judge],
                      folder: Path, say: Say) -> dict[str, PolicyEvaluation]:
    """Every policy's held-out responses, asked as the recipe asks (the settings its checkpoints carry),
    judged by every evaluation judge; cached per policy."""
    from rlvr_bench.training.evaluation import evaluate_checkpoint, recipe_generation

    folder.mkdir(parents=True, exist_ok=True)
    # the recipe's settings, given explicitly: a full-scale recipe's start is a hub id that carries none
    settings = recipe_generation(recipe)
    scored: dict[str, PolicyEvaluation] = {}
    for name, path in policies.items():
        cached = read_cached(folder / name, name, settings, items, judges, say)
        if cached is not None:
            scored[name] = cached
            continue
        evaluation = evaluate_checkpoint(name, path, items, judges, settings, device=recipe.runtime.device)
        rates = []
        for judge in judges:
            passed = [j.verdict.passed for j in evaluation.judgments
                      if j.judge == judge.name and j.verdict.passed is not None]
            rates.append(f"{judge.name} {sum(passed) / max(len(passed), 1):.3f}")
        say(f"evaluation of {name}: {', '.join(rates)} ({evaluation.wall_time_s} s)")
        write_cached(folder / name, evaluation)
        _record_wall_time(folder, name, evaluation.wall_time_s)
        scored[name] = evaluation
    return scored


def _record_wall_time(folder: Path, name: str, seconds: float) -> None:
    path = folder / EVALUATION_TIMES
    times = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    times[name] = round(times.get(name, 0.0) + seconds, 1)
    write_json(path, times)


def evaluate_baselines(specs: Sequence[Any], items: Sequence[Item], judges: Sequence[Judge], max_new_tokens: int,
                       folder: Path, say: Say) -> dict[str, PolicyEvaluation]:
    """Imported baselines through `rlvr-bench eval` (each asked its own way, at most the recipe's
    ``max_new_tokens``), judged by the evaluation judges on the same items; cached per baseline."""
    from rlvr_bench.pipelines.evaluate import evaluate_policies as eval_pipeline
    from rlvr_bench.prompting import GenerationOverrides

    folder.mkdir(parents=True, exist_ok=True)
    scored: dict[str, PolicyEvaluation] = {}
    for spec in specs:
        cached = read_cached(folder / spec.name, spec.name, None, items, judges, say)
        if cached is not None:
            scored[spec.name] = cached
            continue
        overrides = GenerationOverrides(max_new_tokens=max_new_tokens)
        result = eval_pipeline([spec], items, [judge.name for judge in judges], generation=overrides,
                               n_bootstrap=0, write=False)
        generation = result.results["per_policy"][spec.name].get("generation")
        settings = GenerationSettings.from_json(generation, spec.name) if generation else None
        evaluation = PolicyEvaluation(spec.name, result.responses, result.judgments, settings)
        write_cached(folder / spec.name, evaluation)
        scored[spec.name] = evaluation
        say(f"evaluation of baseline {spec.name}: {len(evaluation.responses)} responses judged")
    return scored


def read_cached(folder: Path, name: str, settings: GenerationSettings | None, items: Sequence[Item],
                judges: Sequence[Judge], say: Say) -> PolicyEvaluation | None:
    """A policy's cached evaluation (None when there is none, or only a half-written one). Judges the cache
    does not hold yet judge the cached responses, and the cache is rewritten with their verdicts."""
    from rlvr_bench.records import read_judgments, read_responses

    if not (folder / "judgments.jsonl").is_file():
        return None
    responses = read_responses(folder / "responses.jsonl")
    judgments = read_judgments(folder / "judgments.jsonl")
    present = {j.judge for j in judgments}
    missing = [judge for judge in judges if judge.name not in present]
    if not missing:
        say(f"evaluation of {name}: reused")
        return PolicyEvaluation(name, responses, judgments, settings)
    began = time.perf_counter()
    judgments = [*judgments, *judge_all(missing, items, responses)]
    evaluation = PolicyEvaluation(name, responses, judgments, settings)
    write_cached(folder, evaluation)
    seconds = round(time.perf_counter() - began, 1)
    _record_wall_time(folder.parent, name, seconds)
    say(f"evaluation of {name}: reused its responses, judged by {', '.join(j.name for j in missing)} ({seconds} s)")
    return evaluation


def write_cached(folder: Path, evaluation: PolicyEvaluation) -> None:
    """Responses first, judgments last and moved into place: an interrupted run leaves no complete-looking cache."""
    from rlvr_bench.records import response_to_json, write_jsonl

    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "responses.jsonl", (response_to_json(r) for r in evaluation.responses))
    tmp = folder / "judgments.jsonl.tmp"
    write_jsonl(tmp, (j.to_json() for j in evaluation.judgments))
    tmp.replace(folder / "judgments.jsonl")


def policy_table(scored: dict[str, PolicyEvaluation], items: Sequence[Item], judge: str, n_bootstrap: int,
                 seed: int) -> dict[str, Any]:
    """Table 1 under one judge: accuracy per domain and overall for every policy, and paired differences
    against the start."""
    from rlvr_bench.training.evaluation import accuracy_table, paired_difference

    domains = sorted({item.domain for item in items})
    rows = {name: accuracy_table(evaluation, items, judge, n_bootstrap, seed) for name, evaluation in scored.items()}
    versus_sft = {name: paired_difference(scored[SFT_ROW], evaluation, items, judge, n_bootstrap, seed)
                  for name, evaluation in scored.items() if name != SFT_ROW and SFT_ROW in scored}
    return {"judge": judge, "domains": domains, "columns": [*domains, "all"], "rows": rows, "versus_sft": versus_sft}


def own_evaluation_judge(reward_kind: str, reward_judge: str, evaluation_judges: Sequence[str],
                         model_judge: str | None) -> str | None:
    """The evaluation judge of a cell's own reward family: its reward judge when that also evaluates; else, for a
    model reward, the model judge, and for a rule reward the first evaluation judge that is not the model judge."""
    if reward_judge in evaluation_judges:
        return reward_judge
    if reward_kind.startswith("rule"):
        return next((j for j in evaluation_judges if j != model_judge), None)
    return model_judge if model_judge in evaluation_judges else None


def judge_family_gaps(scored: dict[str, PolicyEvaluation], items: Sequence[Item], cells: dict[str, dict[str, Any]],
                      evaluation_judges: Sequence[str], model_judge: str | None, n_bootstrap: int,
                      seed: int) -> dict[str, Any]:
    """Per cell, against each other evaluation judge: (change from the start under its own family's judge) -
    (change under the other judge), with a paired CI over questions. Positive: the cell pleased its own family
    more than the other judge saw it improve."""
    from rlvr_bench.stats.policy_metrics import judge_gap_change

    if SFT_ROW not in scored or len(evaluation_judges) < 2:
        return {}
    start = scored[SFT_ROW]
    gaps: dict[str, Any] = {}
    for name, info in cells.items():
        if name not in scored:
            continue
        own = own_evaluation_judge(str(info["reward_kind"]), str(info["reward_judge"]), evaluation_judges,
                                   model_judge)
        if own is None:
            continue
        policy = scored[name]
        against = {other: judge_gap_change(policy.matrix(items, own), policy.matrix(items, other),
                                           start.matrix(items, own), start.matrix(items, other),
                                           n_bootstrap, seed).to_json()
                   for other in evaluation_judges if other != own}
        gaps[name] = {"own_judge": own, "versus": against}
    return gaps
