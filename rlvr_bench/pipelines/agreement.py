"""`rlvr-bench agreement`: how much do judges agree, overall and per domain?

Every judge gives a verdict on every (question, reference, response) triple;
the statistics module turns the verdict matrix into Cohen's kappa and friends
with clustered-bootstrap confidence intervals (resampling whole questions).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlvr_bench.errors import UserError
from rlvr_bench.judges.base import Judge
from rlvr_bench.judges.recorded import check_recorded
from rlvr_bench.judges.registry import build_judges, offline_presets
from rlvr_bench.judges.verdict_parsing import verdict_mass_from_error
from rlvr_bench.judging import (
    DEFAULT_MAX_UNSCORED,
    FailureBudget,
    ProgressCallback,
    cache_option,
    judge_responses,
)
from rlvr_bench.pipelines.inputs import VerdictMatrix, load_inputs, verdict_matrix
from rlvr_bench.records import Judgment
from rlvr_bench.rundir import RunWriter, default_run_path
from rlvr_bench.stats import agreement_statistics
from rlvr_bench.stats.verifier_metrics import clustered_share

RESULTS_SCHEMA = "rlvr-bench/agreement/v1"
#: a domain needs at least this many questions for its own statistics (fewer gives
#: bootstrap CIs that are mostly noise)
MIN_DOMAIN_QUESTIONS = 3


@dataclass(frozen=True)
class AgreementResult:
    """What `agreement` returns: the results.json content plus the run directory it wrote."""

    results: dict[str, Any]
    judgments: list[Judgment]
    matrix: VerdictMatrix
    run_dir: Path | None

    @property
    def judges(self) -> list[str]:
        return self.matrix.judges

    def kappa_matrix(self) -> list[list[float | None]]:
        """Pairwise Cohen's kappa over all responses (None where undefined)."""
        kappa: list[list[float | None]] = self.results["overall"]["pairwise"]["cohen_kappa"]["estimate"]
        return kappa


def unscored_reason(error: str | None) -> str:
    """A failure reason without its specifics (quoted values, details after a colon), for counting."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", error or "unknown")
    return text.split(":")[0].strip()


def low_verdict_mass(matrix: VerdictMatrix, judgments: Sequence[Judgment], judge: str, n_bootstrap: int,
                     seed: int) -> dict[str, Any] | None:
    """How many of ``judge``'s scored verdicts were flagged for low verdict mass (P(YES) + P(NO) below the
    judge's ``low_verdict_mass``): their share of the scored verdicts with a 95% CI (bootstrap over
    questions) and the median mass of the flagged ones. None when no verdict was flagged (rule judges)."""
    if not any(j.verdict.error for j in judgments if j.judge == judge and j.verdict.passed is not None):
        return None  # nothing flagged (rule judges): no per-response table for a million rows
    mass = {j.response_id: verdict_mass_from_error(j.verdict) for j in judgments
            if j.judge == judge and j.verdict.passed is not None}
    if all(value is None for value in mass.values()):
        return None
    scored = ~np.isnan(matrix.passed[:, matrix.judges.index(judge)])
    flagged = np.array([mass.get(r.id) is not None for r in matrix.responses]) & scored
    share = clustered_share(flagged, scored, matrix.clusters, n_bootstrap, seed)
    flagged_mass = [value for value in mass.values() if value is not None]
    return {"n_flagged": int(flagged.sum()), "share": share.to_json(),
            "median_flagged_mass": float(np.median(flagged_mass))}


def low_mass_warnings(summary: Sequence[dict[str, Any]]) -> list[str]:
    """One line per judge of a :func:`judge_summary` whose scored verdicts were flagged for low verdict mass."""
    lines = []
    for row in summary:
        low = row.get("low_verdict_mass")
        if low:
            share = low["share"]
            ci = "" if share["ci_low"] is None else f" [{share['ci_low']:.2f}, {share['ci_high']:.2f}]"
            lines.append(f"judge {row['judge']!r}: {low['n_flagged']} of {share['n']} scored verdicts have low "
                         f"verdict mass (share {share['estimate']:.2f}{ci}; median mass of those "
                         f"{low['median_flagged_mass']:.3g}): YES and NO hold little of its probability")
    return lines


def judge_summary(matrix: VerdictMatrix, judgments: Sequence[Judgment], n_bootstrap: int,
                  seed: int) -> list[dict[str, Any]]:
    """Per judge: how many verdicts were scored, pass rate, soft-score mean, latency, failure reasons,
    how many scored verdicts carry a warning (e.g. "low verdict mass") with its reasons, and the share of
    low-mass verdicts with its CI (:func:`low_verdict_mass`)."""
    summary = []
    for col, name in enumerate(matrix.judges):
        passed = matrix.passed[:, col]
        scored = ~np.isnan(passed)
        soft = matrix.p_pass[:, col]
        mine = [j.verdict for j in judgments if j.judge == name]
        reasons = Counter(unscored_reason(v.error) for v in mine if v.passed is None)
        # scored verdicts that carry a warning (a model judge's low verdict mass): counted, not hidden
        warnings = Counter(unscored_reason(v.error) for v in mine if v.passed is not None and v.error)
        summary.append({
            "judge": name,
            "n": int(passed.size),
            "n_scored": int(scored.sum()),
            "n_unscored": int((~scored).sum()),
            "pass_rate": float(np.nanmean(passed)) if scored.any() else None,
            "mean_p_pass": float(np.nanmean(soft)) if (~np.isnan(soft)).any() else None,
            "mean_latency_s": float(np.mean([v.latency_s for v in mine])) if mine else None,
            "unscored_reasons": dict(reasons),
            "n_scored_with_warning": sum(warnings.values()),
            "warning_reasons": dict(warnings),
            "low_verdict_mass": low_verdict_mass(matrix, judgments, name, n_bootstrap, seed),
            "prompt_tokens": sum(v.prompt_tokens or 0 for v in mine),
            "completion_tokens": sum(v.completion_tokens or 0 for v in mine),
        })
    return summary


def agreement_results(matrix: VerdictMatrix, judgments: Sequence[Judgment], n_bootstrap: int,
                      seed: int, domains: Sequence[str] | None = None) -> dict[str, Any]:
    """results.json content: statistics overall and per domain, and a per-judge summary.

    ``domains`` holds each response's domain (row order of ``matrix``); by default it is read from the
    responses' ``metadata["domain"]``."""
    has_gold = bool((~np.isnan(matrix.gold)).any())
    gold = matrix.gold if has_gold else None
    overall = agreement_statistics(matrix.passed, matrix.judges, matrix.clusters, gold=gold,
                                   n_bootstrap=n_bootstrap, seed=seed)
    by_domain: dict[str, Any] = {}
    if domains is None:
        domains = [r.metadata.get("domain", "") for r in matrix.responses]
    domain_of = np.array(domains)
    for domain in sorted(set(domain_of.tolist())):
        rows = domain_of == domain
        sub = matrix.subset(rows)
        if len(np.unique(sub.clusters)) < MIN_DOMAIN_QUESTIONS:
            continue
        stats = agreement_statistics(sub.passed, sub.judges, np.unique(sub.clusters, return_inverse=True)[1],
                                     gold=sub.gold if has_gold else None, n_bootstrap=n_bootstrap, seed=seed)
        by_domain[domain] = {"n_responses": int(rows.sum()), "n_questions": len(np.unique(sub.clusters)),
                             **stats.to_json()}
    return {
        "schema": RESULTS_SCHEMA,
        "judges": matrix.judges,
        "n_responses": len(matrix.responses),
        "n_questions": len(np.unique(matrix.clusters)),
        "has_gold": has_gold,
        "bootstrap": {"n_resamples": n_bootstrap, "seed": seed, "unit": "question", "confidence": 0.95},
        "judge_summary": judge_summary(matrix, judgments, n_bootstrap, seed),
        "overall": overall.to_json(),
        "by_domain": by_domain,
    }


def agreement(
    task: str | None = None,
    judges: Sequence[str | Judge] | None = None,
    data: Path | None = None,
    out: Path | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    split: str | None = None,
    batch_size: int = 64,
    on_progress: ProgressCallback | None = None,
    use_cache: bool = True,
    write: bool = True,
    max_unscored: float = DEFAULT_MAX_UNSCORED,
    data_format: str | None = None,
    report: bool = True,
) -> AgreementResult:
    """Judge every response of a task with every judge and measure their agreement.

    With no arguments: the bundled ``starter`` task and every offline judge.
    Everything is validated (inputs, judge availability) before any judging
    starts, and the run directory appears only when the run finished (with its ``report.html`` unless
    ``report`` is false). A judge that
    fails on more than ``max_unscored`` of the responses stops the run
    (:class:`~rlvr_bench.judging.FailureBudget`).
    """
    budget = FailureBudget(max_unscored)
    chosen = list(judges) if judges else offline_presets()
    if len(chosen) < 2:
        raise UserError("agreement needs at least two judges (e.g. --judges exact,contains)")
    if n_bootstrap < 0:
        raise UserError("--bootstrap must be >= 0")
    inputs = load_inputs(task, data, split, data_format)
    built = resolve_judges(chosen)
    check_recorded(built, inputs.responses)
    names = [judge.name for judge in built]
    by_item = {item.id: item for item in inputs.items}
    responses = inputs.responses
    # one string per row, shared with its item (a copy of every response with the domain in its metadata
    # would double the memory of a million-row file)
    domains = [by_item[r.item_id].domain for r in responses]

    config = {"task": inputs.source, "judges": [judge.spec.to_json() for judge in built],
              "n_bootstrap": n_bootstrap, "seed": seed, "split": split, "max_unscored": max_unscored}
    writer = RunWriter(out or default_run_path("agreement"), "agreement", config) if write else None
    try:
        judgments = judge_responses(built, inputs.items, responses, batch_size=batch_size,
                                    on_progress=on_progress, cache=cache_option(use_cache), budget=budget)
        matrix = verdict_matrix(judgments, responses, names)
        results = agreement_results(matrix, judgments, n_bootstrap, seed, domains)
        run_dir = (writer.write_judged_run(inputs.items, inputs.responses, judgments, results)
                   if writer is not None else None)
    except BaseException:
        if writer is not None:
            writer.__exit__(Exception, None, None)
        raise
    if run_dir is not None and report:  # report=False: the caller renders it once it has let go of the records
        from rlvr_bench.report import write_run_report

        write_run_report(run_dir)
    return AgreementResult(results, judgments, matrix, run_dir)


def resolve_judges(judges: Sequence[str | Judge]) -> list[Judge]:
    """Judges from preset names/paths or ready-built judges; every name is checked before any is built."""
    names = [j for j in judges if isinstance(j, str)]
    built = iter(build_judges(names)) if names else iter(())
    resolved = [next(built) if isinstance(j, str) else j for j in judges]
    seen: set[str] = set()
    for judge in resolved:
        if judge.name in seen:
            raise UserError(f"judge {judge.name!r} is listed twice")
        seen.add(judge.name)
    return resolved

