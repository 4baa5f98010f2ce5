"""`rlvr-bench verify`: how accurate is each judge against gold labels, and how robust?

Every judge gives a verdict on every labelled (question, reference, response)
triple; :mod:`rlvr_bench.stats.verifier_metrics` turns verdicts and labels into
accuracy, F1, false-positive rate and friends with clustered-bootstrap CIs
(resampling whole questions), overall and per domain / answer type / variant,
plus soft-score metrics (AUROC, Brier, calibration) and McNemar's test between
judges. With ``attacks=True`` the robustness suite of :mod:`rlvr_bench.attacks`
is judged too and reported separately (its responses never enter the gold metrics).

The run is planned first (inputs loaded and validated, attack responses built,
judges resolved and checked) and only then judged, so a bad file or an
unavailable judge fails before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rlvr_bench import attacks as attack_suite
from rlvr_bench.errors import UserError
from rlvr_bench.judges.base import Judge
from rlvr_bench.judges.recorded import PREFIX, SOURCE_KEY, RecordedJudge, check_recorded, recorded_spec
from rlvr_bench.judges.registry import offline_presets
from rlvr_bench.judging import (
    DEFAULT_MAX_UNSCORED,
    FailureBudget,
    ProgressCallback,
    cache_option,
    judge_responses,
)
from rlvr_bench.pipelines.agreement import judge_summary, low_mass_warnings, resolve_judges
from rlvr_bench.pipelines.inputs import Inputs, VerdictMatrix, load_inputs, verdict_matrix
from rlvr_bench.records import Item, Judgment, Response, read_responses
from rlvr_bench.rundir import RunWriter, default_run_path
from rlvr_bench.stats.verifier_metrics import (
    BINARY_METRICS,
    DEFAULT_CALIBRATION_BINS,
    MCNEMAR_EXACT_BELOW,
    judge_metrics,
    pairwise_mcnemar,
    soft_metrics,
)
from rlvr_bench.tasks import load_task

RESULTS_SCHEMA = "rlvr-bench/verify/v1"
DEFAULT_TASK = "verifier-gold"
#: response attributes the gold metrics are broken down by
BREAKDOWNS = ("domain", "answer_type", "variant")
#: a breakdown group with fewer questions reports estimates without CIs (a bootstrap over one or
#: two questions only says how those questions' responses vary)
MIN_GROUP_QUESTIONS_FOR_CI = 3
CONFIDENCE = 0.95


@dataclass(frozen=True)
class VerifyPlan:
    """Everything a verify run needs, validated: items, the responses to judge, and built judges."""

    items: list[Item]
    #: labelled responses from the task / data / --responses file (the gold set of this run)
    gold: list[Response]
    #: synthesised master-key and perturbed responses (empty without attacks)
    synthesised: list[Response]
    judges: list[Judge]
    config: dict[str, Any]
    n_unlabelled_skipped: int

    @property
    def responses(self) -> list[Response]:
        return self.gold + self.synthesised

    @property
    def n_verdicts(self) -> int:
        return len(self.responses) * len(self.judges)


@dataclass(frozen=True)
class VerifyResult:
    """What `verify` returns: the results.json content, the verdicts and the run directory it wrote."""

    results: dict[str, Any]
    judgments: list[Judgment]
    run_dir: Path | None


def plan_verify(
    task: str | None = None,
    judges: Sequence[str | Judge] | None = None,
    data: Path | None = None,
    responses_file: Path | None = None,
    split: str | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    attacks: bool = False,
    attack_items: int | None = None,
    calibration_bins: int = DEFAULT_CALIBRATION_BINS,
    gold: str | None = None,
    data_format: str | None = None,
) -> VerifyPlan:
    """Load and validate inputs, build the attack suite and the judges; nothing is judged yet.

    Defaults: the bundled ``verifier-gold`` task and every offline judge preset. ``judges`` may mix
    preset names / files and ready-built judges.
    """
    if n_bootstrap < 0:
        raise UserError("--bootstrap must be >= 0")
    if calibration_bins < 1:
        raise UserError("--bins must be >= 1")
    if attack_items is not None and attack_items < 1:
        raise UserError("--attack-items must be >= 1")
    if attack_items is not None and not attacks:
        raise UserError("--attack-items needs --attacks")
    chosen = list(judges) if judges else offline_presets()
    if not chosen:
        raise UserError("no judges: name some with --judges")
    inputs = _load(task, data, split, responses_file, data_format)
    if gold is not None:
        inputs = replace(inputs, responses=gold_from_column(gold, inputs.responses))
    labelled = [r for r in inputs.responses if r.label is not None]
    if not labelled and not attacks:
        raise UserError(f"{_describe(inputs.source)} has no labelled responses: give --responses FILE "
                        "(rlvr-bench response JSONL with a 'label' field) or run the attack suite with --attacks")
    synthesised = attack_suite.attack_responses(inputs.items, labelled, attack_items, seed) if attacks else []
    built = resolve_judges(chosen)
    check_recorded(built, labelled)
    config = {
        "task": inputs.source, "judges": [judge.spec.to_json() for judge in built], "n_bootstrap": n_bootstrap,
        "seed": seed, "split": split, "responses_file": str(responses_file) if responses_file else None,
        "attacks": {"enabled": attacks, "attack_items": attack_items, "seed": seed},
        "calibration_bins": calibration_bins, "gold": gold or "label",
    }
    return VerifyPlan(inputs.items, labelled, synthesised, built, config,
                      n_unlabelled_skipped=len(inputs.responses) - len(labelled))


def gold_from_column(gold: str, responses: Sequence[Response]) -> list[Response]:
    """The responses with their ``label`` read from a recorded column (``--gold column:NAME``): a human
    label column is then the gold that every judge, recorded or live, is measured against."""
    if not gold.startswith(PREFIX):
        raise UserError(f"--gold must be column:NAME (a column of the data file), got {gold!r}")
    judge = RecordedJudge(recorded_spec(gold))
    check_recorded([judge], responses)
    out = []
    for response in responses:
        verdict = judge.verdict(response.metadata, str(response.metadata.get(SOURCE_KEY, response.id)))
        out.append(replace(response, label=verdict.passed))
    return out


def _load(task: str | None, data: Path | None, split: str | None, responses_file: Path | None,
          data_format: str | None = None) -> Inputs:
    """Items and responses like :func:`load_inputs`, except that a task may come without responses
    (the attack suite needs items only) and a ``--responses`` file replaces the input's own responses."""
    if task and data:
        raise UserError("give either --task or --data, not both")
    if data is not None:
        inputs = load_inputs(None, data, split, data_format)
    else:
        loaded = load_task(task or DEFAULT_TASK)
        items = loaded.items_in(split)
        if not items:
            raise UserError(f"task {loaded.name!r} has no items in split {split!r}")
        keep = {item.id for item in items}
        inputs = Inputs(items, [r for r in loaded.responses if r.item_id in keep],
                        {"task": loaded.name, "path": str(loaded.info.path), "split": split,
                         "description": loaded.info.description})
    if responses_file is None:
        return inputs
    responses = read_responses(Path(responses_file), [item.id for item in inputs.items])
    return replace(inputs, responses=responses, source={**inputs.source, "responses": str(responses_file)})


def _describe(source: dict[str, Any]) -> str:
    if "data" in source:
        return f"{source['data']} (format {source.get('format')})"
    return f"task {source.get('task')!r}"


def run_verify(plan: VerifyPlan, out: Path | None = None, write: bool = True, batch_size: int = 64,
               on_progress: ProgressCallback | None = None, use_cache: bool = True,
               max_unscored: float = DEFAULT_MAX_UNSCORED) -> VerifyResult:
    """Judge every planned response with every judge, compute the results and write the run directory.

    A judge that fails on more than ``max_unscored`` of the responses stops the run.
    """
    budget = FailureBudget(max_unscored)
    config = {**plan.config, "max_unscored": max_unscored}
    writer = RunWriter(out or default_run_path("verify"), "verify", config) if write else None
    try:
        judgments = judge_responses(plan.judges, plan.items, plan.responses, batch_size=batch_size,
                                    on_progress=on_progress, cache=cache_option(use_cache), budget=budget)
        results = verify_results(plan, judgments, config["n_bootstrap"], config["seed"], config["calibration_bins"])
        run_dir = (writer.write_judged_run(plan.items, plan.responses, judgments, results)
                   if writer is not None else None)
    except BaseException:
        if writer is not None:
            writer.__exit__(Exception, None, None)
        raise
    if run_dir is not None:
        from rlvr_bench.report import write_run_report

        write_run_report(run_dir)
    return VerifyResult(results, judgments, run_dir)


def verify(task: str | None = None, judges: Sequence[str | Judge] | None = None, data: Path | None = None,
           responses_file: Path | None = None, out: Path | None = None, n_bootstrap: int = 1000, seed: int = 0,
           split: str | None = None, attacks: bool = False, attack_items: int | None = None,
           calibration_bins: int = DEFAULT_CALIBRATION_BINS, batch_size: int = 64,
           on_progress: ProgressCallback | None = None, use_cache: bool = True, write: bool = True,
           max_unscored: float = DEFAULT_MAX_UNSCORED, gold: str | None = None) -> VerifyResult:
    """Plan and run in one call (see :func:`plan_verify` and :func:`run_verify`)."""
    plan = plan_verify(task, judges, data, responses_file, split, n_bootstrap, seed, attacks, attack_items,
                       calibration_bins, gold)
    return run_verify(plan, out, write, batch_size, on_progress, use_cache, max_unscored)


# ------------------------------------------------------------------ results.json


def verify_results(plan: VerifyPlan, judgments: Sequence[Judgment], n_bootstrap: int, seed: int,
                   calibration_bins: int) -> dict[str, Any]:
    """results.json content (schema ``rlvr-bench/verify/v1``, documented in docs/results-schema.md)."""
    names = [judge.name for judge in plan.judges]
    by_item = {item.id: item for item in plan.items}
    results: dict[str, Any] = {
        "schema": RESULTS_SCHEMA,
        "judges": names,
        "soft_judges": [],
        "metric_names": list(BINARY_METRICS),
        "breakdown_names": list(BREAKDOWNS),
        "bootstrap": {"n_resamples": n_bootstrap, "seed": seed, "unit": "question", "confidence": CONFIDENCE,
                      "min_group_questions_for_ci": MIN_GROUP_QUESTIONS_FOR_CI},
        "n_responses": len(plan.gold),
        "n_questions": len({r.item_id for r in plan.gold}),
        "n_unlabelled_skipped": plan.n_unlabelled_skipped,
        "label_counts": {"correct": sum(r.label is True for r in plan.gold),
                         "incorrect": sum(r.label is False for r in plan.gold)},
        "judge_summary": [], "overall": None, "breakdowns": None, "soft": {}, "mcnemar": [],
        "mcnemar_rule": f"exact two-sided binomial when a_only_correct + b_only_correct < {MCNEMAR_EXACT_BELOW}, "
                        "else chi-square with continuity correction (1 df)",
        "attacks": None,
        "warnings": [],
    }
    if plan.gold:
        matrix = verdict_matrix(list(judgments), plan.gold, names)
        soft_names = [judge.name for col, judge in enumerate(plan.judges)
                      if judge.soft and bool((~np.isnan(matrix.p_pass[:, col])).any())]
        results.update(gold_results(matrix, judgments, by_item, soft_names, n_bootstrap, seed, calibration_bins))
        results["soft_judges"] = soft_names
        results["warnings"] += _warnings(results)
    else:
        results["warnings"].append("no labelled responses: only the attack suite was measured")
    if plan.synthesised:
        matrix = verdict_matrix(list(judgments), plan.synthesised, names)
        results["attacks"] = attack_results(matrix, judgments, plan.config["attacks"], n_bootstrap, seed)
    return results


def _group_values(responses: Sequence[Response], by_item: dict[str, Item], key: str) -> list[str]:
    if key == "variant":
        return [r.variant or "unspecified" for r in responses]
    return [str(getattr(by_item[r.item_id], key)) for r in responses]


def gold_results(matrix: VerdictMatrix, judgments: Sequence[Judgment], by_item: dict[str, Item],
                 soft_names: Sequence[str], n_bootstrap: int, seed: int, calibration_bins: int) -> dict[str, Any]:
    """Overall and per-group binary metrics, soft metrics and McNemar for the labelled responses."""
    names = matrix.judges
    overall = judge_metrics(matrix.passed, matrix.gold, matrix.clusters, names, n_bootstrap, seed, CONFIDENCE)
    breakdowns: dict[str, Any] = {}
    for key in BREAKDOWNS:
        values = np.array(_group_values(matrix.responses, by_item, key))
        groups: dict[str, Any] = {}
        for value in sorted(set(values.tolist())):
            rows = values == value
            sub = matrix.subset(rows)
            n_questions = int(np.unique(sub.clusters).size)
            resamples = n_bootstrap if n_questions >= MIN_GROUP_QUESTIONS_FOR_CI else 0
            groups[value] = {
                "n_responses": int(rows.sum()), "n_questions": n_questions,
                "n_correct": int((sub.gold == 1.0).sum()), "n_incorrect": int((sub.gold == 0.0).sum()),
                "judges": judge_metrics(sub.passed, sub.gold, sub.clusters, names, resamples, seed, CONFIDENCE),
            }
        breakdowns[key] = groups
    soft = {name: soft_metrics(matrix.p_pass[:, names.index(name)], matrix.gold, matrix.clusters, n_bootstrap,
                               seed, calibration_bins, CONFIDENCE) for name in soft_names}
    judged = {r.id for r in matrix.responses}
    gold_judgments = [j for j in judgments if j.response_id in judged]
    return {
        "judge_summary": judge_summary(matrix, gold_judgments, n_bootstrap, seed),
        "overall": overall,
        "breakdowns": breakdowns,
        "soft": soft,
        "mcnemar": [_no_test_without_pairs(row) for row in pairwise_mcnemar(
            matrix.passed, matrix.gold, matrix.clusters, names, n_bootstrap, seed, CONFIDENCE)],
    }


def _no_test_without_pairs(row: dict[str, Any]) -> dict[str, Any]:
    """A pair of judges with no triple both scored has no McNemar test: p is null, not 1."""
    return row if row.get("n") else {**row, "p_value": None, "method": "none (no triple both judges scored)"}


def _warnings(results: dict[str, Any]) -> list[str]:
    warnings = []
    for name, entry in (results["overall"] or {}).items():
        counts = entry["counts"]
        if counts["tp"] + counts["fp"] + counts["fn"] + counts["tn"] == 0:
            warnings.append(f"judge {name!r} scored no labelled response: its metrics are null")
        elif counts["unscored"]:
            warnings.append(f"judge {name!r} left {counts['unscored']} labelled responses unscored "
                            "(excluded from its metrics)")
    if results["label_counts"]["correct"] == 0 or results["label_counts"]["incorrect"] == 0:
        warnings.append("the gold labels have a single class: recall / false-positive rate and AUROC are undefined")
    return warnings + low_mass_warnings(results["judge_summary"])


def _rows_by(matrix: VerdictMatrix, key: Callable[[Response], str | None]) -> dict[str, np.ndarray]:
    groups: dict[str, list[int]] = {}
    for index, response in enumerate(matrix.responses):
        name = key(response)
        if name is not None:
            groups.setdefault(name, []).append(index)
    out = {}
    for name, rows in groups.items():
        mask = np.zeros(len(matrix.responses), dtype=bool)
        mask[rows] = True
        out[name] = mask
    return out


def _rate_table(matrix: VerdictMatrix, groups: dict[str, np.ndarray], rate: str, order: Sequence[str],
                n_bootstrap: int, seed: int) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for name in [o for o in order if o in groups]:
        sub = matrix.subset(groups[name])
        metrics = judge_metrics(sub.passed, sub.gold, sub.clusters, matrix.judges, n_bootstrap, seed, CONFIDENCE)
        table[name] = {"n_responses": int(groups[name].sum()),
                       "judges": {judge: {rate: m[rate], "unscored_rate": m["unscored_rate"], "counts": m["counts"]}
                                  for judge, m in metrics.items()}}
    return table


def attack_results(matrix: VerdictMatrix, judgments: Sequence[Judgment], settings: dict[str, Any],
                   n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The robustness tables: false-positive rate per master key, false-negative rate per perturbation."""

    def kind_of(wanted: str) -> Callable[[Response], str | None]:
        def key(response: Response) -> str | None:
            kind = attack_suite.attack_kind(response)
            return kind[1] if kind is not None and kind[0] == wanted else None
        return key

    key_order = [key.name for key in attack_suite.MASTER_KEYS]
    kind_order = list(attack_suite.PERTURBATIONS)
    keys = _rows_by(matrix, kind_of("attack"))
    kinds = _rows_by(matrix, kind_of("perturb"))
    attack_rows = np.any(np.stack(list(keys.values())), axis=0) if keys else np.zeros(len(matrix.responses), bool)
    perturb_rows = np.any(np.stack(list(kinds.values())), axis=0) if kinds else np.zeros(len(matrix.responses), bool)
    pooled = {"master_key": _rate_table(matrix, {"all": attack_rows}, "false_positive_rate", ["all"], n_bootstrap,
                                        seed).get("all"),
              "perturbation": _rate_table(matrix, {"all": perturb_rows}, "false_negative_rate", ["all"],
                                          n_bootstrap, seed).get("all")}
    used = {r.id for r in matrix.responses}
    return {
        "n_items": int(np.unique(matrix.clusters).size),
        "item_sample": {"requested": settings.get("attack_items"), "seed": settings.get("seed")},
        "master_keys": [{"name": k.name, "text": k.text, "kind": k.kind} for k in attack_suite.MASTER_KEYS],
        "perturbations": kind_order,
        "judge_summary": judge_summary(matrix, [j for j in judgments if j.response_id in used], n_bootstrap,
                                       seed),
        "master_key": _rate_table(matrix, keys, "false_positive_rate", key_order, n_bootstrap, seed),
        "master_key_any": _any_key_passes(matrix, attack_rows, n_bootstrap, seed),
        "perturbation": _rate_table(matrix, kinds, "false_negative_rate", kind_order, n_bootstrap, seed),
        "pooled": pooled,
    }


def _any_key_passes(matrix: VerdictMatrix, attack_rows: np.ndarray, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """Per judge: the share of items where at least one master key passed (a policy needs only one)."""
    if not attack_rows.any():
        return {}
    sub = matrix.subset(attack_rows)
    items, index = np.unique(sub.clusters, return_inverse=True)
    passed_any = np.full((items.size, len(matrix.judges)), np.nan)
    for col in range(len(matrix.judges)):
        column = sub.passed[:, col]
        scored = ~np.isnan(column)
        any_scored = np.bincount(index[scored], minlength=items.size) > 0
        any_passed = np.bincount(index[scored], weights=column[scored], minlength=items.size) > 0
        passed_any[any_scored, col] = any_passed[any_scored].astype(np.float64)
    metrics = judge_metrics(passed_any, np.zeros(items.size), items, matrix.judges, n_bootstrap, seed, CONFIDENCE)
    return {judge: {"items_with_a_passing_key": m["false_positive_rate"]} for judge, m in metrics.items()}

