"""`rlvr-bench eval`: generate with each policy, judge the final steps, report accuracy with CIs.

For every policy (a model to sample from, or responses imported from a file)
and every held-out item, ``n_samples`` responses are generated under the
study's policy instruction; every judge gives a verdict on each response's
final step. The results give, per policy and judge, accuracy, mean@n and
pass@n overall and per domain with clustered-bootstrap CIs (resampling
questions); for each pair of policies the paired difference with a paired
bootstrap CI and McNemar's test on the same items; and with several judges,
their agreement on these responses.

A failed generation is recorded on its response (``metadata.error``) and gets
an unscored verdict from every judge: counted, never "incorrect". Everything
(task, split, policies, judges, files) is checked before the first token is
generated, and the run directory appears only when the run finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlvr_bench.errors import UserError
from rlvr_bench.generation import (
    DEFAULT_SYSTEM_PROMPT,
    GenerationProgress,
    GenerationResult,
    Policy,
    SamplingSettings,
    build_messages,
)
from rlvr_bench.judges.base import Judge
from rlvr_bench.judges.registry import build_judges
from rlvr_bench.judging import ProgressCallback, judge_responses
from rlvr_bench.policies import PolicySpec, build_policy, check_policy, parse_policy_specs, read_policy_responses
from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.rundir import RunWriter, default_run_path
from rlvr_bench.stats.policy_metrics import paired_comparison, policy_accuracy
from rlvr_bench.tasks import SPLITS, load_task

RESULTS_SCHEMA = "rlvr-bench/eval/v1"
DEFAULT_SPLIT = "test"


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation returns: the results.json content, the records behind it and the run directory."""

    results: dict[str, Any]
    items: list[Item]
    responses: list[Response]
    judgments: list[Judgment]
    run_dir: Path | None

    @property
    def policies(self) -> list[str]:
        names: list[str] = self.results["policies"]
        return names

    def accuracy(self, policy: str, judge: str | None = None, domain: str | None = None) -> dict[str, Any]:
        """``{estimate, ci_low, ci_high, n}`` of one policy under one judge (default: the primary judge)."""
        entry = self.results["per_policy"][policy]["by_judge"][judge or self.results["primary_judge"]]
        metric: dict[str, Any] = (entry["by_domain"][domain] if domain else entry)["accuracy"]
        return metric


# ------------------------------------------------------------------ records


def generated_responses(policy: str, items: Sequence[Item], results: Sequence[Sequence[GenerationResult]]
                        ) -> list[Response]:
    """Run responses from a backend's results (one list of samples per item, in item order)."""
    if len(results) != len(items):
        raise RuntimeError(f"policy {policy!r} returned {len(results)} result lists for {len(items)} prompts")
    responses = []
    for item, samples in zip(items, results, strict=True):
        for k, sample in enumerate(samples):
            metadata: dict[str, Any] = {"policy": policy, "sample": k, "domain": item.domain,
                                        "finish_reason": sample.finish_reason, "prompt_tokens": sample.prompt_tokens,
                                        "completion_tokens": sample.completion_tokens,
                                        "latency_s": round(sample.latency_s, 6)}
            if sample.error is not None:
                metadata["error"] = sample.error
            responses.append(Response(id=f"{policy}/{item.id}/{k}", item_id=item.id, text=sample.text,
                                      source=policy, metadata=metadata))
    return responses


def response_policy(response: Response) -> str:
    return str(response.metadata.get("policy", response.source))


def judge_all(judges: Sequence[Judge], items: Sequence[Item], responses: Sequence[Response], batch_size: int = 64,
              on_progress: ProgressCallback | None = None) -> list[Judgment]:
    """Every judge's verdict on every response; a failed generation gets an unscored verdict without a judge call."""
    usable = [r for r in responses if "error" not in r.metadata]
    judgments = judge_responses(judges, items, usable, batch_size=batch_size, on_progress=on_progress)
    for judge in judges:
        judgments.extend(Judgment(judge.name, r.item_id, r.id,
                                  Verdict(passed=None, error=f"generation failed: {r.metadata['error']}"))
                         for r in responses if "error" in r.metadata)
    return judgments


# ------------------------------------------------------------------ statistics


def verdict_matrices(items: Sequence[Item], responses: Sequence[Response], judgments: Sequence[Judgment],
                     policies: Sequence[str], judges: Sequence[str]) -> dict[tuple[str, str], np.ndarray]:
    """(policy, judge) -> (n_items, n_samples) matrix of 1.0 / 0.0 / nan (unscored or no response)."""
    row_of = {item.id: i for i, item in enumerate(items)}
    position: dict[str, tuple[str, int, int]] = {}
    width: dict[str, int] = dict.fromkeys(policies, 1)
    for response in responses:
        policy, k = response_policy(response), int(response.metadata.get("sample", 0))
        if policy in width and response.item_id in row_of:
            position[response.id] = (policy, row_of[response.item_id], k)
            width[policy] = max(width[policy], k + 1)
    matrices = {(p, j): np.full((len(items), width[p]), np.nan) for p in policies for j in judges}
    for judgment in judgments:
        where = position.get(judgment.response_id)
        if where is None or judgment.judge not in judges or judgment.verdict.passed is None:
            continue
        policy, row, k = where
        matrices[(policy, judgment.judge)][row, k] = float(judgment.verdict.passed)
    return matrices


def eval_results(items: Sequence[Item], responses: Sequence[Response], judgments: Sequence[Judgment],
                 policies: Sequence[str], judges: Sequence[str], n_bootstrap: int, seed: int,
                 policy_info: Mapping[str, Mapping[str, Any]] | None = None,
                 context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """results.json content (schema :data:`RESULTS_SCHEMA`) from the run's records alone.

    ``policy_info`` adds a description per policy (backend, target); ``context`` adds top-level
    fields (task, split, generation settings).
    """
    matrices = verdict_matrices(items, responses, judgments, policies, judges)
    domains = sorted({item.domain for item in items})
    domain_rows = {d: np.array([item.domain == d for item in items], dtype=bool) for d in domains}
    per_policy: dict[str, Any] = {}
    for policy in policies:
        mine = [r for r in responses if response_policy(r) == policy]
        answered = {r.item_id for r in mine}
        by_judge: dict[str, Any] = {}
        for judge in judges:
            matrix = matrices[(policy, judge)]
            entry = policy_accuracy(matrix, n_bootstrap, seed).to_json()
            entry["by_domain"] = {d: policy_accuracy(matrix[rows], n_bootstrap, seed).to_json()
                                  for d, rows in domain_rows.items()}
            by_judge[judge] = entry
        per_policy[policy] = {
            **dict((policy_info or {}).get(policy, {})),
            "n_responses": len(mine),
            "errors": {
                "generation": sum(1 for r in mine if "error" in r.metadata),
                "missing_items": sum(1 for item in items if item.id not in answered),
                "unscored": {judge: int(np.isnan(matrices[(policy, judge)]).sum()) for judge in judges},
            },
            "by_judge": by_judge,
        }
    comparisons = []
    for a_index, policy_a in enumerate(policies):
        for policy_b in policies[a_index + 1 :]:
            for judge in judges:
                paired = paired_comparison(matrices[(policy_a, judge)], matrices[(policy_b, judge)], n_bootstrap, seed)
                comparisons.append({"policy_a": policy_a, "policy_b": policy_b, "judge": judge, **paired.to_json()})
    return {
        "schema": RESULTS_SCHEMA,
        **dict(context or {}),
        "n_items": len(items),
        "domains": domains,
        "policies": list(policies),
        "judges": list(judges),
        "primary_judge": judges[0] if judges else None,
        "bootstrap": {"n_resamples": n_bootstrap, "seed": seed, "unit": "question", "confidence": 0.95},
        "per_policy": per_policy,
        "comparisons": comparisons,
        "judge_agreement": judge_agreement(responses, judgments, judges, n_bootstrap, seed),
    }


def judge_agreement(responses: Sequence[Response], judgments: Sequence[Judgment], judges: Sequence[str],
                    n_bootstrap: int, seed: int) -> dict[str, Any] | None:
    """The agreement statistics of ``rlvr-bench agreement`` over every generated response; None for one judge."""
    if len(judges) < 2:
        return None
    from rlvr_bench.pipelines.agreement import agreement_results
    from rlvr_bench.pipelines.inputs import verdict_matrix

    usable = [r for r in responses if "error" not in r.metadata]
    ids = {r.id for r in usable}
    mine = [j for j in judgments if j.response_id in ids]
    matrix = verdict_matrix(mine, usable, list(judges))
    return agreement_results(matrix, mine, n_bootstrap, seed)


# ------------------------------------------------------------------ the pipeline


@dataclass(frozen=True)
class _Entry:
    name: str
    description: dict[str, Any]
    spec: PolicySpec | None
    backend: Policy | None


def _policy_entries(policies: Sequence[PolicySpec | Policy], batch_size: int, concurrency: int) -> list[_Entry]:
    entries = []
    for policy in policies:
        if isinstance(policy, PolicySpec):
            check_policy(policy)
            backend = build_policy(policy, batch_size, concurrency) if policy.generates else None
            description = {**policy.to_json(), **(backend.describe() if backend else {})}
            entries.append(_Entry(policy.name, description, policy, backend))
        else:
            entries.append(_Entry(policy.name, {"name": policy.name, **policy.describe()}, None, policy))
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UserError(f"policy name {duplicates[0]!r} is used twice; name policies with NAME=SPEC")
    return entries


def evaluate_policies(
    policies: Sequence[PolicySpec | Policy],
    items: Sequence[Item],
    judges: Sequence[str] | Sequence[Judge],
    n_samples: int = 1,
    sampling: SamplingSettings | None = None,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    n_bootstrap: int = 1000,
    seed: int = 0,
    out: Path | None = None,
    write: bool = True,
    batch_size: int = 8,
    concurrency: int = 8,
    judge_batch_size: int = 64,
    task_source: Mapping[str, Any] | None = None,
    split: str | None = DEFAULT_SPLIT,
    on_generate: GenerationProgress | None = None,
    on_judge: ProgressCallback | None = None,
) -> EvalResult:
    """Generate (or import), judge and score every policy on ``items``; see the module docstring.

    ``policies`` are parsed specs (checked here: folders, keys, packages, responses files) or
    ready backends (e.g. ``HFPolicy.from_model`` on a model in memory); ``judges`` preset names
    (or paths) or built judges, the first being the primary judge of summaries. Raises a one-line
    UserError before any generation when something cannot run.
    """
    if not items:
        raise UserError("no items to evaluate" + (f" in split {split!r}" if split else ""))
    if not policies:
        raise UserError("give at least one policy (--policy PATH)")
    if not judges:
        raise UserError("give at least one judge (e.g. --judges contains)")
    if n_samples < 1:
        raise UserError(f"--n-samples must be >= 1, got {n_samples}")
    if n_bootstrap < 0:
        raise UserError("--bootstrap must be >= 0")
    sampling = sampling or SamplingSettings()
    if n_samples > 1 and sampling.greedy:
        raise UserError("several samples per question need --temperature > 0 (greedy samples are identical)")
    built: list[Judge] = (build_judges([str(j) for j in judges]) if all(isinstance(j, str) for j in judges)
                          else [j for j in judges if not isinstance(j, str)])
    if len(built) != len(judges):
        raise UserError("give judges either all as names or all as built judges")
    entries = _policy_entries(policies, batch_size, concurrency)
    where = f" (not in task {task_source.get('task')!r}, split {split!r})" if task_source else ""
    imported = {e.name: read_policy_responses(e.spec, items, where) for e in entries if e.spec and not e.spec.generates}

    config = {"task": dict(task_source or {}), "split": split, "policies": [e.description for e in entries],
              "judges": [judge.spec.to_json() for judge in built], "n_samples": n_samples,
              "sampling": sampling.to_json(), "system_prompt": system_prompt, "n_bootstrap": n_bootstrap, "seed": seed}
    writer = RunWriter(out or default_run_path("eval"), "eval", config) if write else None
    try:
        responses: list[Response] = []
        prompts = [build_messages(item.question, system_prompt) for item in items]
        for entry in entries:
            if entry.name in imported:
                domain_of = {item.id: item.domain for item in items}
                responses.extend(_with_domain(r, domain_of[r.item_id]) for r in imported[entry.name])
                continue
            assert entry.backend is not None
            results = entry.backend.generate(prompts, n_samples, sampling, on_progress=on_generate)
            responses.extend(generated_responses(entry.name, items, results))
            close = getattr(entry.backend, "close", None)
            if entry.spec is not None and callable(close):
                close()  # a model we loaded from a spec is not needed again: free it before loading the next
        judgments = judge_all(built, items, responses, judge_batch_size, on_judge)
        names = [judge.name for judge in built]
        results_json = eval_results(items, responses, judgments, [e.name for e in entries], names, n_bootstrap, seed,
                                    policy_info={e.name: e.description for e in entries},
                                    context=_context(task_source, split, n_samples, sampling, system_prompt))
        run_dir = None
        if writer is not None:
            writer.write_items(items)
            writer.write_responses(responses)
            writer.write_judgments(judgments)
            writer.write_results(results_json)
            run_dir = writer.commit()
    except BaseException:
        if writer is not None:
            writer.__exit__(Exception, None, None)
        raise
    if run_dir is not None:
        from rlvr_bench.report import write_run_report

        write_run_report(run_dir)
    return EvalResult(results_json, list(items), responses, judgments, run_dir)


def _context(task_source: Mapping[str, Any] | None, split: str | None, n_samples: int, sampling: SamplingSettings,
             system_prompt: str | None) -> dict[str, Any]:
    return {"task": dict(task_source or {}), "split": split,
            "generation": {"n_samples": n_samples, "sampling": sampling.to_json(), "system_prompt": system_prompt}}


def _with_domain(response: Response, domain: str) -> Response:
    from dataclasses import replace

    return replace(response, metadata={**response.metadata, "domain": domain})


def load_eval_items(task: str, split: str | None = DEFAULT_SPLIT) -> tuple[list[Item], dict[str, Any]]:
    """Items of one split of a task (held out by default) and the task's description for the run config."""
    if split is not None and split not in SPLITS:
        raise UserError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
    loaded = load_task(task)
    items = loaded.items_in(split)
    if not items:
        raise UserError(f"task {loaded.name!r} has no items in split {split!r}")
    return items, {"task": loaded.name, "path": str(loaded.info.path), "split": split}


def evaluate(
    policies: Sequence[str],
    judges: Sequence[str],
    task: str = "starter",
    split: str | None = DEFAULT_SPLIT,
    api_key_env: str = "OPENAI_API_KEY",
    limit: int | None = None,
    **kwargs: Any,
) -> EvalResult:
    """:func:`evaluate_policies` from command-line values: policy spec strings, judge names, a task name.

    ``limit`` keeps the first ``limit`` items of the split (a quick look, not a result to report).
    Other keyword arguments go to :func:`evaluate_policies`.
    """
    specs = parse_policy_specs(policies, api_key_env)
    items, source = load_eval_items(task, split)
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be >= 1, got {limit}")
        items = items[:limit]
    return evaluate_policies(specs, items, judges, task_source=source, split=split, **kwargs)
