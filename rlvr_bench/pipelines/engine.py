"""The one evaluation engine: (policy, items, generation settings) -> responses -> verdicts -> statistics.

``rlvr-bench eval``, the before/after numbers of ``rlvr-bench train`` and every
row of ``train-and-eval``'s Table 1 go through these functions, so a policy is
asked the same prompt with the same settings, and its responses are judged the
same way, whichever command measures it:

- :func:`generate_and_judge`: prompts from a :class:`~rlvr_bench.prompting.PromptFormat`,
  one backend ``generate`` call, run responses, then :func:`judge_all` (full
  response text, through :func:`rlvr_bench.judging.judge_responses`);
- :func:`policy_matrices` / :func:`eval_results`: statistics from the records
  alone, through the one verdict table (:func:`rlvr_bench.pipelines.inputs.verdict_matrix`).

A failed generation is recorded on its response (``metadata.error``) and gets
an unscored verdict from every judge: counted, never "incorrect".
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlvr_bench.generation import GenerationProgress, GenerationResult, Policy
from rlvr_bench.judges.base import Judge
from rlvr_bench.judging import FailureBudget, ProgressCallback, judge_responses
from rlvr_bench.pipelines.inputs import verdict_matrix
from rlvr_bench.prompting import GenerationSettings
from rlvr_bench.records import Item, Judgment, Response, Verdict
from rlvr_bench.stats.policy_metrics import paired_comparison, policy_accuracy

RESULTS_SCHEMA = "rlvr-bench/eval/v1"


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


def generate_responses(policy: Policy, items: Sequence[Item], settings: GenerationSettings,
                       on_progress: GenerationProgress | None = None) -> list[Response]:
    """``settings.n_samples`` responses per item from ``policy``, asked ``settings.prompt``."""
    prompts = [settings.prompt.prompt(item) for item in items]
    results = policy.generate(prompts, settings.n_samples, settings.sampling, on_progress=on_progress)
    return generated_responses(policy.name, items, results)


def judge_all(judges: Sequence[Judge], items: Sequence[Item], responses: Sequence[Response], batch_size: int = 64,
              on_progress: ProgressCallback | None = None, budget: FailureBudget | None = None) -> list[Judgment]:
    """Every judge's verdict on every response; a failed generation gets an unscored verdict without a judge call
    (a failure of the policy, not of the judge: it does not spend the judges' ``budget``)."""
    usable = [r for r in responses if "error" not in r.metadata]
    judgments = judge_responses(judges, items, usable, batch_size=batch_size, on_progress=on_progress, budget=budget)
    for judge in judges:
        judgments.extend(Judgment(judge.name, r.item_id, r.id,
                                  Verdict(passed=None, error=f"generation failed: {r.metadata['error']}"))
                         for r in responses if "error" in r.metadata)
    return judgments


@dataclass(frozen=True)
class PolicyEvaluation:
    """One policy's responses on some items and the judges' verdicts on them."""

    policy: str
    responses: list[Response]
    judgments: list[Judgment]
    #: how the responses were generated (None: imported, or not recorded)
    settings: GenerationSettings | None = None
    #: generation plus judging (seconds)
    wall_time_s: float = 0.0

    def matrix(self, items: Sequence[Item], judge: str) -> np.ndarray:
        """(n_items, n_samples) of ``judge``'s verdicts (see :meth:`VerdictMatrix.by_item`)."""
        return verdict_matrix(self.judgments, self.responses, [judge]).by_item(items, judge)


def generate_and_judge(policy: Policy, items: Sequence[Item], judges: Sequence[Judge], settings: GenerationSettings,
                       judge_batch_size: int = 64, on_generate: GenerationProgress | None = None,
                       on_judge: ProgressCallback | None = None) -> PolicyEvaluation:
    """Generate with ``policy`` on ``items`` under ``settings``, then judge every response with every judge."""
    began = time.perf_counter()
    responses = generate_responses(policy, items, settings, on_generate)
    judgments = judge_all(judges, items, responses, judge_batch_size, on_judge)
    return PolicyEvaluation(policy.name, responses, judgments, settings, round(time.perf_counter() - began, 1))


# ------------------------------------------------------------------ statistics


def policy_matrices(items: Sequence[Item], responses: Sequence[Response], judgments: Sequence[Judgment],
                    policies: Sequence[str], judges: Sequence[str]) -> dict[tuple[str, str], np.ndarray]:
    """(policy, judge) -> (n_items, n_samples) matrix of 1.0 / 0.0 / nan (unscored or no response)."""
    table = verdict_matrix(judgments, responses, judges)
    owner = np.array([response_policy(r) for r in table.responses], dtype=object)
    return {(policy, judge): table.subset(owner == policy).by_item(items, judge)
            for policy in policies for judge in judges}


def eval_results(items: Sequence[Item], responses: Sequence[Response], judgments: Sequence[Judgment],
                 policies: Sequence[str], judges: Sequence[str], n_bootstrap: int, seed: int,
                 policy_info: Mapping[str, Mapping[str, Any]] | None = None,
                 context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """results.json content (schema :data:`RESULTS_SCHEMA`) from the run's records alone.

    ``policy_info`` adds a description per policy (backend, target, generation settings); ``context``
    adds top-level fields (task, split, generation settings).
    """
    matrices = policy_matrices(items, responses, judgments, policies, judges)
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

    usable = [r for r in responses if "error" not in r.metadata]
    ids = {r.id for r in usable}
    mine = [j for j in judgments if j.response_id in ids]
    return agreement_results(verdict_matrix(mine, usable, judges), mine, n_bootstrap, seed)
